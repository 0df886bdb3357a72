"""NOVA_ENGINE=bedrock through the whole stack: edge, worker and auth as processes, NATS, and the
Nova Sonic emulator reached by the unmodified SDK over HTTP/2 + TLS.

Every test ends with the emulator's verdict on what the worker sent: well formed, in a legal order.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from voice_nova.engines.bedrock.audio import is_voiced
from voice_proto import channels
from voice_proto import messages as m
from voice_proto.telemetry_names import Span
from voice_testkit.client import VoiceClient
from voice_testkit.conversation import Conversation
from voice_testkit.nats import NatsServer
from voice_testkit.nova_emulator import EmulatorThread, StreamPlan, StreamRecord
from voice_testkit.nova_emulator.speech import VOCABULARY, read_tag, say
from voice_testkit.nova_emulator.talk import answer_chunks, speak, until
from voice_testkit.otlp import OtlpReceiver
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

RULES = Path(__file__).resolve().parents[1] / "helm" / "voice" / "files" / "prometheus-rules.yaml"

GREETING = -1  # the answer key of the greeting (no vocabulary word)

#: Fast recovery, so that the failure tests stay short.
WORKER_ENV = {
    "NOVA_BEDROCK_RETRY_BASE_DELAY": "0.1",
    "NOVA_BEDROCK_RETRY_MAX_DELAY": "0.5",
    "NOVA_BEDROCK_MAX_RETRIES": "3",
    "NOVA_BEDROCK_CONNECT_TIMEOUT": "3",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
}


class Nova:
    """The stack, the emulator behind it, and what the emulator saw."""

    def __init__(self, stack: Stack, emulator: EmulatorThread, receiver: OtlpReceiver) -> None:
        self.stack = stack
        self.emulator = emulator
        self.receiver = receiver

    @property
    def records(self) -> list[StreamRecord]:
        return self.emulator.server.records

    def records_since(self, count: int) -> list[StreamRecord]:
        return self.records[count:]

    def plan(self, *plans: StreamPlan) -> None:
        self.emulator.server.plan(*plans)

    async def client(self) -> VoiceClient:
        return await VoiceClient.open(self.stack.ws_url(), key=API_KEYS["alice"])


@pytest.fixture(scope="module")
def nova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nova]:
    work: Path = tmp_path_factory.mktemp("nova")
    nats = NatsServer(work).start()
    with EmulatorThread(work) as emulator, OtlpReceiver() as receiver:
        env = {**emulator.env(), **WORKER_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        stack = Stack(nats.endpoint, work, **env)
        try:
            yield Nova(stack.start_spine(), emulator, receiver)
        finally:
            stack.stop_all()
            nats.stop()


@pytest.fixture(autouse=True)
async def protocol_checked(nova: Nova) -> AsyncIterator[None]:
    """After each test: every stream it opened was used by the book (and said goodbye properly)."""
    before = len(nova.records)
    yield
    new = nova.records[before:]
    await until(lambda: all(r.ended or r.validator.phase == "closed" or r.validator.failed for r in new), 10)
    violations = [v for record in new for v in record.validator.violations]
    assert not violations, violations


def key(word: str) -> int:
    return VOCABULARY.index(word)


def events(client: VoiceClient, name: str, **fields: Any) -> list[dict[str, Any]]:
    return [e for e in client.events if e["event"] == name and all(e.get(k) == v for k, v in fields.items())]


async def greeted(client: VoiceClient) -> None:
    await client.expect("turn", role="assistant", state="ended", timeout=10)


async def test_a_conversation_with_transcripts_and_audio(nova: Nova) -> None:
    client = await nova.client()
    # Nova 2 Sonic (the default model) takes typed text and calls tools; it ends turns itself.
    assert client.session["capabilities"] == ["text_input", "tools"]
    assert client.session["outputRate"] == 24_000
    await greeted(client)
    assert answer_chunks(client, GREETING) == list(range(10))

    await speak(client, "hello", "there")
    user = await client.expect("transcript", role="user", timeout=10)
    assert user["text"] == "hello there"
    assert user["stage"] == "final"
    speculative = await client.expect("transcript", role="assistant", stage="speculative")
    final = await client.expect("transcript", role="assistant", stage="final")
    assert speculative["text"] == final["text"] == "You said hello there."
    assert final["interrupted"] is False
    await client.expect("turn", role="assistant", state="ended", reason="end_turn")
    assert answer_chunks(client, key("hello")) == list(range(10))
    assert user["turnId"] == final["turnId"]
    assert events(client, "usage"), "usage events reach the client"

    await client.send_text("alpha bravo")
    typed = await client.expect("transcript", role="user", timeout=10)
    assert typed["text"] == "alpha bravo"
    reply = await client.expect("transcript", role="assistant", stage="final", timeout=10)
    assert reply["text"] == "You said alpha bravo."
    assert reply["turnId"] == typed["turnId"] > user["turnId"]
    await client.end()
    await client.closed()

    (record,) = [r for r in nova.records if "hello there" in r.user_transcripts]
    await until(lambda: record.validator.phase == "closed")
    assert record.model_id == "amazon.nova-2-sonic-v1:0"
    assert record.validator.voice == "matthew"
    assert [t["name"] for t in record.validator.tools] == ["get_date_and_time"]
    assert record.validator.interactive_texts[1:] == ["alpha bravo"]
    assert not [e for e in client.events if e["event"] == "error"]


async def test_a_tool_round_trip_keeps_audio_flowing(nova: Nova) -> None:
    client = await nova.client()
    await greeted(client)
    await speak(client, "what", "time", "is", "it")
    started = await client.expect("tool", status="started", timeout=10)
    assert started["name"] == "get_date_and_time"
    assert json.loads(started["arguments"]) == {"timezone": "Europe/Paris"}
    completed = await client.expect("tool", status="completed", callId=started["callId"])
    result = json.loads(completed["result"])
    assert result["timezone"] == "Europe/Paris"
    final = await client.expect("transcript", role="assistant", stage="final", timeout=10)
    assert final["text"] == f"The time is {result['time']}."

    # A call the registry cannot serve still gets an answer: a JSON error the model reads.
    await speak(client, "bad", "tool")
    failed = await client.expect("tool", status="failed", timeout=10)
    assert json.loads(failed["result"]) == {"error": "unknown tool 'launch_rocket'"}
    final = await client.expect("transcript", role="assistant", stage="final", timeout=10)
    assert final["text"] == "That failed: unknown tool 'launch_rocket'."
    await client.end()

    (record,) = [r for r in nova.records if "bad tool" in r.user_transcripts]
    assert [c["result"] for c in record.tool_calls] == [result, {"error": "unknown tool 'launch_rocket'"}]
    assert record.validator.max_audio_gap < 1.0, "audio must keep flowing while a tool runs"


async def test_barge_in_reaches_the_client_as_stop(nova: Nova) -> None:
    client = await nova.client()
    await greeted(client)
    await speak(client, "tell", "me", "a", "story")
    for _ in range(10):
        await client.expect("media", timeout=10)
    await speak(client, "thanks")
    stop = await client.expect("stop", timeout=10)
    stop_at = len(client.events)
    final = await client.expect("transcript", role="assistant", stage="final", turnId=stop["turnId"])
    assert final["interrupted"] is True
    await client.expect("turn", turnId=stop["turnId"], state="ended", reason="interrupted")
    await client.expect("transcript", role="assistant", stage="final", text="You said thanks.", timeout=10)
    story = answer_chunks(client, key("tell"))
    assert 10 <= len(story) < 150
    assert story == list(range(len(story))), "no gap and no repeat in what was played"
    after_stop = [read_tag(e["pcm"]) for e in client.events[stop_at:] if e["event"] == "media"]
    assert all(tag is not None and tag.answer != key("tell") for tag in after_stop), "story audio after stop"
    await client.end()


#: Failures that a new stream gets past: the client keeps its session and hears its answer.
RETRYABLE = {
    "throttled": StreamPlan(fault="throttlingException"),
    "model_stream_error": StreamPlan(fault="modelStreamErrorException"),
    "internal": StreamPlan(fault="internalServerException"),
    "unavailable": StreamPlan(fault="serviceUnavailableException"),
    "model_timeout": StreamPlan(fault="modelTimeoutException"),
    "system_instability": StreamPlan(
        fault="validationException", fault_message="System instability detected. Please retry your request."
    ),
    "stream_reset": StreamPlan(fault="reset"),
    "stream_ended": StreamPlan(fault="end"),
}


@pytest.mark.parametrize("case", sorted(RETRYABLE))
async def test_a_transient_failure_reopens_the_stream_with_the_history(nova: Nova, case: str) -> None:
    plan = RETRYABLE[case]
    nova.plan(StreamPlan(fault=plan.fault, fault_message=plan.fault_message, skip_utterances=1))
    before = len(nova.records)
    client = await nova.client()
    await greeted(client)
    await speak(client, "hello", "there")
    await client.expect(
        "transcript", role="assistant", stage="final", text="You said hello there.", timeout=10
    )
    await speak(client, "alpha", "bravo")  # the stream fails after hearing this
    reply = await client.expect("transcript", role="assistant", stage="final", timeout=15)
    assert reply["text"] == "You said alpha bravo."
    assert not events(client, "error")
    await client.end()

    failed, reopened = nova.records_since(before)
    assert failed.fault_sent == plan.fault
    assert reopened.validator.history == [("USER", "hello there"), ("ASSISTANT", "You said hello there.")]
    # The words that got no answer are asked again, as typed text, not left in the history.
    assert reopened.validator.interactive_texts == ["alpha bravo"]


async def test_a_dead_endpoint_is_given_up_on_and_retried(nova: Nova) -> None:
    nova.plan(StreamPlan(hold_headers=True))
    client = await nova.client()
    await greeted(client)  # on the second stream, after the first one timed out
    assert not events(client, "error")
    await client.end()


async def test_throttling_at_connect_is_retried(nova: Nova) -> None:
    nova.plan(StreamPlan(http_status=429, error_type="ThrottlingException", message="Too many requests"))
    client = await nova.client()
    await greeted(client)
    assert not events(client, "error")
    await client.end()


FATAL = {
    "access_denied": StreamPlan(
        http_status=403, error_type="AccessDeniedException", message="The security token is invalid."
    ),
    "model_not_found": StreamPlan(
        http_status=404, error_type="ResourceNotFoundException", message="The model does not exist."
    ),
    "invalid_input": StreamPlan(fault="validationException", fault_on="start"),
    "model_unavailable": StreamPlan(
        http_status=503, error_type="ServiceUnavailableException", message="busy"
    ),
}


@pytest.mark.parametrize("code", sorted(FATAL))
async def test_a_failure_no_retry_fixes_ends_the_session_clearly(nova: Nova, code: str) -> None:
    # Retries exhausted: the first stream and all three reopenings fail.
    nova.plan(*([FATAL[code]] * (4 if code == "model_unavailable" else 1)))
    bus = await nova.stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await nova.client()
    error = await client.expect("error", timeout=15)
    assert error["code"] == code
    assert error["message"]
    assert (await client.closed()).code == 1011
    ended = await lifecycle.wait_for(
        m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED, session_id=client.session_id, timeout=10
    )
    assert ended.reason == "engine_error"
    await bus.drain()


async def test_a_spoken_turn_is_a_trace_of_its_own_with_the_model_span(nova: Nova) -> None:
    """The turn's trace holds the model's answer (gen_ai conventions), the tool call and the edge's
    part; the worker's first-audio figure agrees with the client's; the engine's stream metrics,
    which the shipped alert rules and dashboard use, are in the worker's scrape."""
    # The first stream is throttled at connect and retried: a stream failure to count.
    nova.plan(StreamPlan(http_status=429, error_type="ThrottlingException", message="Too many requests"))
    talk = Conversation(await nova.client())
    await talk.wait_turn_end("assistant", timeout=15)
    loop = asyncio.get_running_loop()
    after = len(talk.events)
    pcm = say("what", "time", "is", "it")
    voiced_end = loop.time()
    for start in range(0, len(pcm), 640):
        frame = pcm[start : start + 640]
        await talk.client.send_audio(frame)
        if is_voiced(frame):
            voiced_end = loop.time()
        await asyncio.sleep(0.02)
    heard = await talk.wait_for(lambda e: e.get("event") == "transcript" and e["role"] == "user", after=after)
    exchange = await talk.answer_to(talk.events[heard][1], voiced_end, after=after, timeout=15)
    sid = talk.client.session_id
    await talk.close()

    session = nova.receiver.wait_for(Span.NOVA_SESSION, {"session.id": sid})
    edge = nova.receiver.wait_for(Span.EDGE_SESSION, {"session.id": sid})
    assert session.trace_id == edge.trace_id
    await until(lambda: Span.NOVA_STREAM_SETUP in {s.name for s in nova.receiver.in_trace(session.trace_id)})

    turn = nova.receiver.wait_for(Span.TURN, {"session.id": sid, "turn.id": exchange.turn_id}, timeout=15)
    wanted = {Span.MODEL_STREAM, Span.TOOL, Span.EDGE_TURN_INPUT, Span.EDGE_TURN_OUTPUT}
    try:
        await until(lambda: wanted <= {s.name for s in nova.receiver.in_trace(turn.trace_id)}, 15)
    finally:
        print(nova.receiver.tree(turn.trace_id))  # shown with -s
    spans = nova.receiver.in_trace(turn.trace_id)
    assert (session.trace_id, session.span_id) in turn.links
    assert turn.attributes["engine.name"] == "bedrock"
    assert turn.attributes["turn.outcome"] == "answered"
    (model,) = [s for s in spans if s.name == Span.MODEL_STREAM]
    assert model.parent_span_id == turn.span_id
    assert model.attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert model.attributes["gen_ai.request.model"] == "amazon.nova-2-sonic-v1:0"
    # The emulator reports the turn's usage after its last content: it still lands on the turn.
    assert model.attributes["gen_ai.usage.input_tokens"] > 0
    assert model.attributes["gen_ai.usage.output_tokens"] > 0
    (tool,) = [s for s in spans if s.name == Span.TOOL]
    assert tool.parent_span_id == turn.span_id
    assert (tool.attributes["tool.name"], tool.attributes["tool.ok"]) == ("get_date_and_time", True)
    assert exchange.first_audio_at is not None
    client_ms = (exchange.first_audio_at - voiced_end) * 1000
    assert abs(turn.attributes["turn.first_audio_ms"] - client_ms) <= 50, (turn.attributes, client_ms)

    async with httpx.AsyncClient() as http:
        scraped = (await http.get(nova.stack.metrics_url("nova"))).text
    assert re.search(r'^voice_nova_bedrock_streams_total\{[^}]*reason="retry"', scraped, re.M)
    (failure,) = re.findall(r"^voice_nova_bedrock_stream_failures_total\{([^}]*)\}", scraped, re.M)[:1]
    assert re.search(r'retried="(?i:true)"', failure), failure  # what the rule's (?i)false matches
    assert re.search(r'^voice_turn_first_audio_seconds_count\{[^}]*engine="bedrock"', scraped, re.M)
    rules = yaml.safe_load(RULES.read_text())
    named = {
        n
        for group in rules["groups"]
        for r in group["rules"]
        for n in re.findall(r"voice_nova_\w+", r["expr"])
    }
    assert named
    assert all(re.search(rf"^{name}\{{", scraped, re.M) for name in named), named
