"""Turn timing and per-turn traces: an observer of the session's turn ledger, whatever the engine.

:class:`TurnTrace` hears the ledger's moments (``on_turn``: a turn opened, the assistant speaks, its
first audio, an interruption, a side ended), the engine events the worker publishes (``observe``:
the user's FINAL transcript, tool calls, token usage, a fatal error) and the input the worker hands
the engine (``text_arrived``, ``utterance_ended``). Per turn it makes one trace of its own, linked
to the session's: a ``turn`` span (``session.id``, ``turn.id``, ``turn.interrupted``,
``turn.outcome``, ``turn.first_audio_ms``) with the engine's stages below it (a pipeline's
endpointing, speech-to-text, responder and synthesis; a speech-to-speech model's ``nova.model`` span
with the gen_ai conventions) and the tool calls. Messages of the turn carry its trace context
(``headers``), so the edge's spans and ``transcripts.store`` of the turn's records join the same
trace. It records ``voice_turn_first_audio_seconds`` once per user turn whose answer began to play
and ``voice_turns_total`` once per turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from voice_proto import messages as m
from voice_proto.telemetry import counter, histogram
from voice_proto.telemetry_names import (
    FIRST_AUDIO_BUCKETS,
    GEN_AI_PROVIDER_BEDROCK,
    Attr,
    Metrics,
    Span,
    TurnOutcome,
)
from voice_proto.tracecontext import headers_for

from .engine import EngineEvent, SpeechMarks
from .turns import TurnEvent, TurnMoment

log = structlog.get_logger("voice_nova.turns")
tracer = trace.get_tracer("voice_nova.turns")
_meter = metrics.get_meter("voice_nova")
_first_audio = histogram(_meter, Metrics.FIRST_AUDIO, FIRST_AUDIO_BUCKETS)
_turns = counter(_meter, Metrics.TURNS)


def _wall_offset_ns() -> int:
    """Wall-clock nanoseconds minus monotonic ones, now (spans are stamped in wall-clock time)."""
    return time.time_ns() - time.monotonic_ns()


@dataclass
class _Turn:
    id: int
    span: trace.Span
    context: Context
    headers: dict[str, str] | None
    opened_by: m.Role
    opened_at: float
    typed: bool = False
    #: Input marks at or before this moment belong to earlier turns.
    since: float = 0.0
    #: When the user's input ended (end of speech, typed text), once known.
    input_end: float = 0.0
    user_final_at: float = 0.0
    user_end_reason: str = ""
    assistant_at: float = 0.0
    first_audio_at: float = 0.0
    interrupted: bool = False
    failed: bool = False
    tools: dict[str, trace.Span] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0


class TurnTrace:
    def __init__(
        self,
        *,
        session_id: str,
        engine: str,
        session_span: trace.Span,
        marks: SpeechMarks,
        model: str = "",
    ) -> None:
        self._session_id = session_id
        self._engine = engine
        self._model = model
        self._session = session_span.get_span_context()
        self._marks = marks
        #: Read once: two moments keep their order when stamped (a span never starts before its parent).
        self._offset_ns = _wall_offset_ns()
        self._turns: dict[int, _Turn] = {}
        self._latest: _Turn | None = None
        #: The latest turn's model span, its end time, its turn: still taking token usage.
        self._model_span: tuple[trace.Span, int, _Turn] | None = None
        #: Input the worker handed the engine, not yet claimed by a turn.
        self._text_at = 0.0
        self._utterance_end = 0.0
        #: When the latest answer began to play (input before it belongs to an earlier turn).
        self._answered_at = 0.0

    # --- input ------------------------------------------------------------------------------------

    def text_arrived(self) -> None:
        self._text_at = time.monotonic()

    def utterance_ended(self) -> None:
        """The client said the user finished speaking."""
        self._utterance_end = time.monotonic()

    # --- events -----------------------------------------------------------------------------------

    def headers(self, event: EngineEvent) -> dict[str, str] | None:
        """Trace headers for ``event``: its turn's, or None for the session's."""
        turn_id = getattr(event, "turn_id", None)
        turn = self._turns.get(turn_id) if turn_id is not None else None
        return turn.headers if turn is not None else None

    def on_turn(self, event: TurnEvent) -> None:
        """A moment of the ledger (see voice_nova.turns); the turn's span opens and closes here."""
        at = event.at
        if event.moment is TurnMoment.OPENED:
            self._open(event.turn_id, event.role, at)
            return
        turn = self._turns.get(event.turn_id)
        if turn is None:
            return
        match event.moment:
            case TurnMoment.ASSISTANT_SPEAKING:
                turn.assistant_at = turn.assistant_at or at
            case TurnMoment.FIRST_AUDIO:
                turn.first_audio_at = self._answered_at = at
                self._first_audio(turn)
            case TurnMoment.INTERRUPTED:
                turn.interrupted = True
            case TurnMoment.ENDED if event.role is m.Role.USER:
                turn.user_end_reason = event.reason
                # The ledger's clock: its moments come as the engine decides, the events it queues
                # (the user's FINAL among them) only as the worker publishes them.
                turn.user_final_at = at
                turn.input_end = turn.input_end or self._input_end(turn)
                turn.failed |= event.reason == m.TurnEndReason.ERROR
            case TurnMoment.ENDED:
                turn.interrupted |= event.reason == m.TurnEndReason.INTERRUPTED
                turn.failed |= event.reason == m.TurnEndReason.ERROR
                self._close(turn, at)

    def observe(self, event: EngineEvent) -> None:
        """An engine event the worker is about to publish."""
        match event:
            case m.Usage():
                turn = self._latest or (self._model_span[2] if self._model_span else None)
                if turn is not None:
                    turn.input_tokens += event.input_tokens
                    turn.output_tokens += event.output_tokens
                if self._model_span is not None and turn is self._model_span[2]:
                    self._model_span[0].set_attributes(
                        {
                            Attr.GEN_AI_INPUT_TOKENS: turn.input_tokens,
                            Attr.GEN_AI_OUTPUT_TOKENS: turn.output_tokens,
                        }
                    )
            case m.ErrorEvent(fatal=True):
                self.close(failed=True)
            case m.Transcript(role=m.Role.USER, stage=m.Stage.FINAL) if event.turn_id in self._turns:
                turn = self._turns[event.turn_id]
                turn.user_final_at = turn.user_final_at or time.monotonic()
                turn.input_end = turn.input_end or self._input_end(turn)
            case m.ToolCall() if event.turn_id in self._turns:
                self._tool(self._turns[event.turn_id], event)

    def close(self, *, failed: bool = False) -> None:
        """The session stops here: turns still open end now."""
        now = time.monotonic()
        for turn in list(self._turns.values()):
            turn.failed |= failed
            self._close(turn, now)
        self._end_model_span()

    def _epoch_ns(self, monotonic: float) -> int:
        """A ``time.monotonic()`` reading as the wall-clock nanoseconds spans are stamped with."""
        return int(monotonic * 1e9) + self._offset_ns

    # --- turns ------------------------------------------------------------------------------------

    def _end_model_span(self) -> None:
        if self._model_span is not None:
            span, end_ns, _turn = self._model_span
            self._model_span = None
            span.end(end_ns)

    def _open(self, turn_id: int, role: m.Role, now: float) -> _Turn:
        # A turn still open (its answer never came) ends where the next one begins.
        for earlier in list(self._turns.values()):
            self._close(earlier, now)
        self._end_model_span()
        link = trace.Link(self._session, {Attr.SESSION_ID: self._session_id})
        # An engine that announces the user's turn only once it has heard it all (Nova Sonic) has
        # marked the speech already: the turn starts there, so that its stages fit inside it.
        start = now
        if role is m.Role.USER:
            marks = [t for t in (self._text_at, self._marks.speech_ended_at) if t > self._answered_at]
            start = min([now, *marks])
        span = tracer.start_span(
            Span.TURN,
            context=Context(),  # a trace of its own, linked to the session's
            kind=trace.SpanKind.INTERNAL,
            start_time=self._epoch_ns(start),
            links=[link],
            attributes={
                Attr.SESSION_ID: self._session_id,
                Attr.TURN_ID: turn_id,
                Attr.TURN_OPENED_BY: role.value,
                Attr.ENGINE: self._engine,
            },
        )
        context = trace.set_span_in_context(span)
        turn = _Turn(turn_id, span, context, headers_for(context), role, start, since=self._answered_at)
        if role is m.Role.USER and self._text_at:
            turn.typed = True
            turn.input_end = self._text_at
        self._text_at = 0.0
        self._turns[turn_id] = turn
        self._latest = turn
        # Logs of the turn carry its id: this runs where the engine opened it, and the tasks it
        # starts for the turn from here on (an answer, a tool call) inherit the binding.
        structlog.contextvars.bind_contextvars(turn_id=turn_id)
        return turn

    def _input_end(self, turn: _Turn) -> float:
        """When the user stopped speaking: the engine's mark or the client's end of utterance,
        whichever is later, if it belongs to this turn."""
        end = max(self._marks.speech_ended_at, self._utterance_end)
        return end if end > turn.since else 0.0

    def _first_audio(self, turn: _Turn) -> None:
        if turn.opened_by is not m.Role.USER:
            return  # a greeting answers nobody
        if not turn.input_end:
            turn.input_end = self._input_end(turn)
        if not turn.input_end:
            return
        latency = turn.first_audio_at - turn.input_end
        _first_audio.record(latency, {"engine": self._engine})
        turn.span.set_attribute(Attr.TURN_FIRST_AUDIO_MS, round(latency * 1000, 1))
        if turn.user_final_at:
            model_latency = turn.first_audio_at - turn.user_final_at
            turn.span.set_attribute(Attr.TURN_MODEL_LATENCY_MS, round(model_latency * 1000, 1))

    def _tool(self, turn: _Turn, call: m.ToolCall) -> None:
        if call.status == m.ToolCallStatus.STARTED:
            turn.tools[call.call_id] = tracer.start_span(
                Span.TOOL,
                context=turn.context,
                attributes={
                    Attr.TOOL_NAME: call.name,
                    Attr.TOOL_CALL_ID: call.call_id,
                    Attr.TURN_ID: turn.id,
                },
            )
            return
        span = turn.tools.pop(call.call_id, None)
        if span is not None:
            ok = call.status == m.ToolCallStatus.COMPLETED
            span.set_attribute(Attr.TOOL_OK, ok)
            if not ok:
                span.set_status(trace.StatusCode.ERROR, "tool failed")
            span.end()

    def _outcome(self, turn: _Turn) -> TurnOutcome:
        if turn.failed:
            return TurnOutcome.FAILED
        if turn.interrupted:
            return TurnOutcome.INTERRUPTED
        if turn.user_end_reason == m.TurnEndReason.EMPTY or not turn.first_audio_at:
            return TurnOutcome.EMPTY
        return TurnOutcome.ANSWERED

    def _close(self, turn: _Turn, now: float) -> None:
        if self._turns.pop(turn.id, None) is None:
            return
        if self._latest is turn:
            self._latest = None
        for span in turn.tools.values():
            span.end()
        self._stages(turn, now)
        outcome = self._outcome(turn)
        _turns.add(1, {"engine": self._engine, "outcome": outcome.value})
        turn.span.set_attributes({Attr.TURN_OUTCOME: outcome.value, Attr.TURN_INTERRUPTED: turn.interrupted})
        if outcome is TurnOutcome.FAILED:
            turn.span.set_status(trace.StatusCode.ERROR, "turn failed")
        turn.span.end(self._epoch_ns(now))
        log.info(
            "turn ended",
            session_id=self._session_id,
            turn_id=turn.id,
            outcome=outcome.value,
            first_audio_ms=round((turn.first_audio_at - turn.input_end) * 1000, 1)
            if turn.first_audio_at and turn.input_end and turn.opened_by is m.Role.USER
            else None,
            trace_id=format(turn.span.get_span_context().trace_id, "032x"),
        )

    def _stages(self, turn: _Turn, now: float) -> None:
        """The engine's stages, from the moments the events marked."""
        if self._model:
            start = turn.input_end or turn.opened_at
            attributes: dict[str, str | int] = {
                Attr.GEN_AI_PROVIDER: GEN_AI_PROVIDER_BEDROCK,
                Attr.GEN_AI_OPERATION: "realtime",
                Attr.GEN_AI_MODEL: self._model,
                Attr.GEN_AI_INPUT_TOKENS: turn.input_tokens,
                Attr.GEN_AI_OUTPUT_TOKENS: turn.output_tokens,
                Attr.TURN_ID: turn.id,
            }
            if start <= now:
                # Ended when the next turn opens (or the session ends): Nova reports a turn's
                # token usage after the turn's last content, and it belongs on this span.
                span = tracer.start_span(
                    Span.MODEL_STREAM,
                    context=turn.context,
                    start_time=self._epoch_ns(start),
                    attributes=attributes,
                )
                self._model_span = (span, self._epoch_ns(now), turn)
            return
        heard = turn.user_final_at
        if turn.opened_by is m.Role.USER and not turn.typed:
            self._stage(turn, Span.ENDPOINTING, turn.opened_at, turn.input_end)
            self._stage(turn, Span.SPEECH_TO_TEXT, turn.input_end, heard)
        answer_from = turn.opened_at if turn.typed else heard
        self._stage(turn, Span.RESPONDER, answer_from, turn.assistant_at)
        self._stage(turn, Span.SYNTHESIS, turn.assistant_at or turn.opened_at, turn.first_audio_at)

    def _stage(
        self,
        turn: _Turn,
        name: Span,
        start: float,
        end: float,
        attributes: dict[str, str | int] | None = None,
    ) -> None:
        if not start or not end or end < start:
            return
        span = tracer.start_span(
            name, context=turn.context, start_time=self._epoch_ns(start), attributes=attributes
        )
        span.end(self._epoch_ns(end))
