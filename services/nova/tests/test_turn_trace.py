"""The turn observer (voice_nova/turn_trace.py) on a real ledger, without a bus: one trace per turn
linked to the session's, the engine's stages and tool calls under it, the outcome of each turn,
the turn's trace context for its messages, and the turn's id in the logs of what runs for it."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Sequence

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from voice_nova.engine import EngineEvent, SpeechMarks
from voice_nova.turn_trace import TurnTrace
from voice_nova.turns import Turns
from voice_proto import messages as m
from voice_proto.telemetry_names import Span
from voice_proto.tracecontext import context_from

USER, ASSISTANT = m.Role.USER, m.Role.ASSISTANT

if not isinstance(trace.get_tracer_provider(), TracerProvider):
    trace.set_tracer_provider(TracerProvider())
_exporter = InMemorySpanExporter()
provider = trace.get_tracer_provider()
assert isinstance(provider, TracerProvider)
provider.add_span_processor(SimpleSpanProcessor(_exporter))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _exporter.clear()
    return _exporter


class Session:
    """What the worker does: the ledger's events and the engine's go through ``publish``."""

    def __init__(self, model: str = "") -> None:
        self.span = trace.get_tracer("test").start_span("nova.session")
        self.marks = SpeechMarks()
        self.trace = TurnTrace(
            session_id="sid", engine="test", session_span=self.span, marks=self.marks, model=model
        )
        self.turns = Turns(emit=self.publish)
        self.turns.observe(self.trace.on_turn)
        self.published: list[tuple[EngineEvent, dict[str, str] | None]] = []

    def publish(self, event: EngineEvent) -> None:
        if isinstance(event, m.AudioOut) and not self.turns.admit(event):
            return
        self.trace.observe(event)
        self.published.append((event, self.trace.headers(event)))


def by_name(exported: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in exported if s.name == name]


def test_a_typed_turn_is_a_trace_of_its_own_with_its_stages_and_tool(spans: InMemorySpanExporter) -> None:
    s = Session()
    greeting = s.turns.open(ASSISTANT)
    s.publish(m.AudioOut(turn_id=greeting, pcm=b"\0\0"))
    s.turns.end(greeting, ASSISTANT)

    s.trace.text_arrived()
    turn = s.turns.open(USER)
    s.publish(m.Transcript(turn_id=turn, role=USER, text="what time is it", stage=m.Stage.FINAL))
    s.turns.end(turn, USER)
    s.turns.assistant_speaks(turn)
    s.publish(m.ToolCall(turn_id=turn, call_id="c1", name="clock"))
    s.publish(m.ToolCall(turn_id=turn, call_id="c1", name="clock", status=m.ToolCallStatus.COMPLETED))
    time.sleep(0.01)
    s.publish(m.AudioOut(turn_id=turn, pcm=b"\0\0"))
    s.turns.end(turn, ASSISTANT)

    exported = spans.get_finished_spans()
    roots = by_name(exported, Span.TURN)
    assert [r.attributes["turn.id"] for r in roots if r.attributes] == [greeting, turn]
    session = s.span.get_span_context()
    for root in roots:
        assert root.context.trace_id != session.trace_id
        assert [link.context for link in root.links] == [session]
    greeted, answered = roots
    assert greeted.attributes is not None
    assert answered.attributes is not None
    assert "turn.first_audio_ms" not in greeted.attributes  # a greeting answers nobody
    assert float(str(answered.attributes["turn.first_audio_ms"])) >= 10
    assert (answered.attributes["turn.outcome"], answered.attributes["turn.interrupted"]) == (
        "answered",
        False,
    )
    in_turn = [x for x in exported if x.context.trace_id == answered.context.trace_id]
    assert {x.name for x in in_turn} == {Span.TURN, Span.RESPONDER, Span.SYNTHESIS, Span.TOOL}
    assert all(x.parent is not None and x.parent.span_id == answered.context.span_id for x in in_turn[:-1])
    (tool,) = by_name(in_turn, Span.TOOL)
    assert tool.attributes is not None
    assert tool.attributes["tool.ok"] is True
    # The turn's messages carry its trace; what belongs to no turn carries none of it.
    headers = [h for e, h in s.published if getattr(e, "turn_id", None) == turn]
    assert headers
    assert all(
        trace.get_current_span(context_from(h)).get_span_context().trace_id == answered.context.trace_id
        for h in headers
        if h is not None
    )
    assert s.trace.headers(m.Usage()) is None


def test_outcomes_interrupted_empty_and_failed(spans: InMemorySpanExporter) -> None:
    s = Session()
    cut = s.turns.open(USER)
    s.turns.end(cut, USER)
    s.turns.assistant_speaks(cut)
    s.publish(m.AudioOut(turn_id=cut, pcm=b"\0\0"))
    s.turns.cut(cut, "half")
    s.publish(m.AudioOut(turn_id=cut, pcm=b"\0\0"))  # late audio: dropped, not a second first audio

    empty = s.turns.open(USER)
    s.turns.end(empty, USER, m.TurnEndReason.EMPTY)
    failed = s.turns.open(USER)  # the empty turn ends where the next one opens
    s.turns.end(failed, USER)
    s.publish(m.ErrorEvent(code="x", message="boom", fatal=True))

    outcomes = {
        r.attributes["turn.id"]: (r.attributes["turn.outcome"], r.status.status_code.name)
        for r in by_name(spans.get_finished_spans(), Span.TURN)
        if r.attributes
    }
    assert outcomes == {
        cut: ("interrupted", "UNSET"),
        empty: ("empty", "UNSET"),
        failed: ("failed", "ERROR"),
    }


def test_a_model_turn_has_the_gen_ai_span_with_the_usage_reported_after_it(
    spans: InMemorySpanExporter,
) -> None:
    s = Session(model="amazon.nova-2-sonic-v1:0")
    s.marks.speech_ended(time.monotonic())
    turn = s.turns.open(USER)  # announced once heard: the turn starts at the end of speech
    s.turns.assistant_speaks(turn)
    s.publish(m.AudioOut(turn_id=turn, pcm=b"\0\0"))
    s.turns.end(turn, ASSISTANT)
    s.publish(m.Usage(input_tokens=40, output_tokens=15))
    s.trace.close()

    exported = spans.get_finished_spans()
    (root,) = by_name(exported, Span.TURN)
    (model,) = by_name(exported, Span.MODEL_STREAM)
    assert model.parent is not None
    assert model.parent.span_id == root.context.span_id
    assert model.start_time is not None
    assert root.start_time is not None
    assert model.start_time >= root.start_time
    assert model.attributes == {
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.operation.name": "realtime",
        "gen_ai.request.model": "amazon.nova-2-sonic-v1:0",
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 15,
        "turn.id": turn,
    }


def test_what_runs_for_a_turn_logs_its_id() -> None:
    def opened_here() -> object:
        s = Session()
        s.turns.open(USER)
        return contextvars.copy_context().run(structlog.contextvars.get_contextvars).get("turn_id")

    assert contextvars.copy_context().run(opened_here) == 1
