"""One session, one trace: the edge's span and the worker's span share it (exported over OTLP)."""

from __future__ import annotations

import json

import pytest
from voice_testkit.client import VoiceClient
from voice_testkit.otlp import OtlpReceiver
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack


async def test_edge_and_worker_spans_of_a_session_are_one_trace(fresh_stack: Stack) -> None:
    with OtlpReceiver() as receiver:
        fresh_stack.start_spine(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
        client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
        sid = client.session_id
        await client.send_audio(b"\x00\x01" * 160)
        await client.expect("media")
        await client.end()
        await client.closed()

        edge = receiver.wait_for("edge.session", {"session.id": sid})
        worker = receiver.wait_for("nova.session", {"session.id": sid})
        assert edge.service == "voice-edge"
        assert worker.service == "voice-nova"
        assert worker.trace_id == edge.trace_id
        assert worker.parent_span_id == edge.span_id
        assert worker.attributes["session.end_reason"] == "hangup"
        fresh_stack.stop_all()  # while the receiver still listens: they flush their last spans on the way out

    # The worker's logs of that session carry the same trace id.
    lines = [
        json.loads(line)
        for line in fresh_stack.processes["nova"].log_text().splitlines()
        if line.startswith("{")
    ]
    opened = next(
        line for line in lines if line.get("event") == "session opened" and line.get("session_id") == sid
    )
    assert opened["trace_id"] == edge.trace_id
