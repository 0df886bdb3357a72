"""The edge's part of each turn's trace: what it carried from the client for the turn
(``edge.turn.input``) and the answer it carried back (``edge.turn.output``).

The worker's messages of a turn carry the turn's trace context; these spans are made when the turn's
side ends (``TurnEnded``), stamped with when the edge's part began, as children of that context.
No span per audio frame: the frames are counted on the span.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from voice_proto import Delivery
from voice_proto import messages as m
from voice_proto.telemetry_names import Attr, Span

tracer = trace.get_tracer("voice_edge")


@dataclass
class _Output:
    context: Context
    started_ns: int
    frames: int = 0


class TurnSpans:
    def __init__(self) -> None:
        #: Set once the session is placed or resumed.
        self.session_id = ""
        self._input_since = 0
        self._input_frames = 0
        self._outputs: dict[int, _Output] = {}
        #: Turns the user opened whose input has not been spanned yet.
        self._user_turns: set[int] = set()

    def client_input(self, *, audio: bool) -> None:
        """The client sent audio or text (for the turn its input ends)."""
        if not self._input_since:
            self._input_since = time.time_ns()
        self._input_frames += audio

    def audio_out(self, audio: m.AudioOut, delivery: Delivery) -> None:
        output = self._outputs.get(audio.turn_id)
        if output is None:
            output = self._outputs[audio.turn_id] = _Output(delivery.trace_context(), time.time_ns())
        output.frames += 1

    def event(self, event: m.OutEvent, delivery: Delivery) -> None:
        match event:
            case m.TurnStarted(role=m.Role.USER):
                self._user_turns.add(event.turn_id)
            case m.TurnEnded(role=m.Role.USER):
                self._input_ended(event.turn_id, delivery)
            case m.TurnStarted(role=m.Role.ASSISTANT) if event.turn_id in self._user_turns:
                # An engine that never ends the user's side (Nova Sonic): it ends as the answer starts.
                self._input_ended(event.turn_id, delivery)
            case m.TurnEnded(role=m.Role.ASSISTANT):
                self._user_turns.discard(event.turn_id)
                self._output_ended(event)

    def _attributes(self, turn_id: int) -> dict[str, str | int | bool]:
        return {Attr.SESSION_ID: self.session_id, Attr.TURN_ID: turn_id}

    def _input_ended(self, turn_id: int, delivery: Delivery) -> None:
        since, self._input_since = self._input_since, 0
        frames, self._input_frames = self._input_frames, 0
        if since:
            span = tracer.start_span(
                Span.EDGE_TURN_INPUT,
                context=delivery.trace_context(),
                start_time=since,
                attributes={**self._attributes(turn_id), "audio.frames": frames},
            )
            span.end()

    def _output_ended(self, event: m.TurnEnded) -> None:
        attributes = self._attributes(event.turn_id)
        output = self._outputs.pop(event.turn_id, None)
        if output is not None:
            span = tracer.start_span(
                Span.EDGE_TURN_OUTPUT,
                context=output.context,
                start_time=output.started_ns,
                attributes={
                    **attributes,
                    "audio.frames": output.frames,
                    Attr.TURN_INTERRUPTED: event.reason == m.TurnEndReason.INTERRUPTED,
                },
            )
            span.end()
