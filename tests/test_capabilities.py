"""The ``session`` event says what the session's engine can do and the rate of its speech, on a
new connection and on a resumed one (the loopback engine's text input and 16 kHz echo are checked
in test_session_flow.py, the offline engine's in test_local_engine.py, Nova Sonic's in
test_nova_bedrock.py)."""

from __future__ import annotations

import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.client import VoiceClient
from voice_testkit.recorder import Recorder
from voice_testkit.scripted_conversation import SCRIPTED_ENGINE
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack


async def test_a_resumed_connection_is_told_the_engine_and_its_rate_again(fresh_stack: Stack) -> None:
    fresh_stack.start_spine(NOVA_ENGINE=SCRIPTED_ENGINE)
    bus = await fresh_stack.nats.connect()
    try:
        client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
        assert client.session["capabilities"] == [m.Capability.TEXT_INPUT]  # typed text only
        assert client.session["outputRate"] == m.OUTPUT_RATE  # it speaks at 24 kHz
        lifecycle = await Recorder().listen(bus, channels.LIFECYCLE, client.session_id)
        await client.close()
        await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.SUSPENDED)

        again = await VoiceClient.open(
            fresh_stack.ws_url(query=f"session={client.session_id}"),
            key=API_KEYS["alice"],
            resume_token=client.resume_token,
        )
        assert again.session_id == client.session_id
        assert again.session["capabilities"] == [m.Capability.TEXT_INPUT]
        assert again.session["outputRate"] == m.OUTPUT_RATE
        await again.end()
    finally:
        await bus.drain()
