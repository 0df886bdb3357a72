"""Barge-in: after ``stop`` the client hears nothing more of the interrupted turn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from voice_testkit.client import BINARY_PROTOCOL, JSON_PROTOCOL, VoiceClient
from voice_testkit.engines import chunk_is_late, chunk_turn
from voice_testkit.nats import NatsServer
from voice_testkit.scripted_conversation import SCRIPTED_ENGINE
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("scripted")
    nats = NatsServer(work).start()
    stack = Stack(nats.endpoint, work, NOVA_ENGINE=SCRIPTED_ENGINE)
    try:
        yield stack.start_spine()
    finally:
        stack.stop_all()
        nats.stop()


def media_turns(client: VoiceClient, after: int = 0) -> list[int]:
    return [chunk_turn(e["pcm"]) for e in client.events[after:] if e["event"] == "media"]


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, BINARY_PROTOCOL])
async def test_no_audio_of_the_interrupted_turn_after_stop(scripted: Stack, protocol: str) -> None:
    client = await VoiceClient.open(scripted.ws_url(), key=API_KEYS["alice"], protocol=protocol)
    await client.send_text("speak 300")
    await client.expect("turn", turnId=1, state="started")
    for _ in range(10):
        await client.expect("media")
    await client.send_text("interrupt")
    await client.expect("stop", turnId=1)
    stop_at = len(client.events)
    # The engine still emits three chunks of turn 1 after it reported the interruption (as a model
    # whose audio was on its way does): the worker's turn ledger drops them before they are
    # published, and the one subscription delivers in publishing order, so none follows the stop.

    final = await client.expect("transcript", stage="final", turnId=1)
    assert final["interrupted"] is True
    await client.expect("turn", turnId=1, state="ended", reason="interrupted")
    await client.send_text("speak 5")
    await client.expect("turn", turnId=2, state="ended")

    assert all(turn == 2 for turn in media_turns(client, stop_at)), "audio of turn 1 arrived after stop"
    assert media_turns(client, stop_at).count(2) == 5
    assert not [e for e in client.events if e["event"] == "media" and chunk_is_late(e["pcm"])]
    await client.end()


async def test_user_audio_while_the_assistant_speaks_interrupts_it(scripted: Stack) -> None:
    client = await VoiceClient.open(scripted.ws_url(), key=API_KEYS["bob"], protocol=BINARY_PROTOCOL)
    await client.send_text("speak 300")
    await client.expect("media")
    await client.send_audio(b"\x00\x10" * 320)
    await client.expect("stop", turnId=1)
    assert media_turns(client).count(1) < 300
    await client.end()


async def test_transcripts_and_turns_reach_the_client(scripted: Stack) -> None:
    client = await VoiceClient.open(scripted.ws_url(), key=API_KEYS["alice"])
    await client.send_text("speak 3")
    speculative = await client.expect("transcript", stage="speculative")
    final = await client.expect("transcript", stage="final")
    assert speculative["role"] == final["role"] == "assistant"
    assert final["text"] == "turn 1 with 3 chunks"
    assert final["interrupted"] is False
    await client.expect("turn", state="ended", reason="end_turn")
    assert media_turns(client) == [1, 1, 1]
    await client.end()


async def test_a_fatal_engine_error_reaches_the_client_and_closes(scripted: Stack) -> None:
    client = await VoiceClient.open(scripted.ws_url(), key=API_KEYS["alice"])
    await client.send_text("fail")
    error = await client.expect("error")
    assert error["code"] == "scripted_failure"
    assert (await client.closed()).code == 1011
