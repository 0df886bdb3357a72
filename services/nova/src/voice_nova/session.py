"""One session owned by this worker: input from the bus into the engine, engine events onto the bus.

States: active (a client is attached) -> suspended (the client dropped; it may resume within the
window) -> ended. A session stops in one of three ways (``Ending``): it ends for good (hang-up,
expiry, engine failure), is handed back so that another worker takes it over (``hand_back``, on
worker shutdown), or steps down because another worker already did (superseded).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from enum import Enum

import structlog
from nats.aio.subscription import Subscription
from opentelemetry import trace
from opentelemetry.context import Context
from voice_proto import Bus, Delivery, channels
from voice_proto import messages as m
from voice_proto.telemetry_names import Attr, Span
from voice_proto.tracecontext import headers_for, trace_id_hex

from .engine import Engine, EngineEvent, SessionSetup
from .turn_trace import TurnTrace

log = structlog.get_logger("voice_nova.session")
tracer = trace.get_tracer("voice_nova")

#: Seconds to let the engine's remaining events out after it was closed.
_PUMP_GRACE = 2.0
#: Seconds between looks at whether the answer in progress is over, on shutdown.
_DRAIN_POLL = 0.05
#: Client-visible events kept to send again to a client that resumes after missing them.
_MISSABLE_KEPT = 64

type Missable = m.Transcript | m.OutEvent


#: The out events a resumed client is sent again when it missed them: the turns' states.
_MISSABLE_EVENTS = (m.TurnStarted, m.TurnEnded, m.Interrupted, m.ToolCall)


class State(Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Ending(Enum):
    """How a session stops on this worker."""

    #: For good: the lifecycle says ``ended``, with the reason.
    ENDED = "ended"
    #: Handed back to the edge, which places it on another worker (``HandoverRequested``).
    HANDED_BACK = "handed_back"
    #: Another worker took it over and carries it on: stop quietly.
    SUPERSEDED = "superseded"


class WorkerSession:
    def __init__(
        self,
        bus: Bus,
        setup: SessionSetup,
        engine: Engine,
        *,
        worker_id: str,
        resume_window: float,
        capabilities: Sequence[str] = (),
        output_rate: int = m.OUTPUT_RATE,
        resume_token: str = "",
        handover: bool = False,
        engine_name: str = "",
        model: str = "",
        parent: Context | None = None,
        on_finished: Callable[[WorkerSession], None] = lambda _session: None,
        on_state_change: Callable[[WorkerSession], None] = lambda _session: None,
    ) -> None:
        self.id = setup.session_id
        self.setup = setup
        self.engine = engine
        self.worker_id = worker_id
        #: What the engine does beyond speech (``Capability`` values), told to the edge when the
        #: session is claimed and when it is resumed.
        self.capabilities = list(capabilities)
        #: Hz of the engine's speech, told to the edge with the capabilities.
        self.output_rate = output_rate
        self.resume_token = resume_token or secrets.token_urlsafe(24)
        self.state = State.ACTIVE
        self._bus = bus
        self._resume_window = resume_window
        self._handover = handover
        self._on_finished = on_finished
        #: Told when the session is suspended or resumed (what it costs its worker changes).
        self._on_state_change = on_state_change
        #: ``time.monotonic()`` when the session was last suspended (the oldest is evicted first).
        self.suspended_at = 0.0
        self._log = log.bind(session_id=self.id, principal=setup.principal)
        self._span = tracer.start_span(
            Span.NOVA_SESSION,
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={Attr.SESSION_ID: self.id, Attr.SESSION_HANDOVER: handover, Attr.WORKER_ID: worker_id},
        )
        self._headers = headers_for(trace.set_span_in_context(self._span))
        # Bound here, not taken from the current span: handlers run in the bus's tasks.
        self._log = self._log.bind(trace_id=trace_id_hex(trace.set_span_in_context(self._span)))
        self._subscription: Subscription | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._expiry_task: asyncio.Task[None] | None = None
        self._finishing: asyncio.Task[None] | None = None
        #: The session's turn ledger, shared with the engine: the one audio guard.
        self.turns = setup.turns
        #: Its telemetry: a trace per turn, the turn metrics.
        self.turn_trace = TurnTrace(
            session_id=self.id, engine=engine_name, session_span=self._span, marks=setup.marks, model=model
        )
        self.turns.observe(self.turn_trace.on_turn)
        self._audio_seq = 0
        self._event_seq = 0
        self._transcript_seq = 0
        #: Set when it stopped: it ended (not handed back, not taken over by another worker).
        self.ended_for_good = False
        #: When the edge last sent anything (audio, text, control); see ``edge_silent_for``.
        self._last_input = time.monotonic()
        #: Highest input sequences received from the current connection (the heartbeat says them).
        self._audio_received = 0
        self._text_received = 0
        #: The last turn events and final transcripts, and how far the client is known to have
        #: received them (``Control.delivered_*``): a resumed client gets what came after.
        self._missable: deque[Missable] = deque(maxlen=_MISSABLE_KEPT)
        self._delivered_event = 0
        self._delivered_transcript = 0

    # --- opening ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Subscribe to the input, start the engine, start publishing its events."""
        self._subscription = await self._bus.subscribe_session(
            self.id,
            {
                channels.IN_AUDIO: self._on_audio,
                channels.IN_TEXT: self._on_text,
                channels.IN_CONTROL: self._on_control,
            },
        )
        try:
            # The session's span is current while the engine starts, so the tasks it starts (and
            # the spans they make: model streams, turns, tool calls) belong to the session's trace.
            with trace.use_span(
                self._span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                await self.engine.start()
        except BaseException:
            await self._subscription.unsubscribe()
            self._span.end()
            raise
        self._pump_task = asyncio.create_task(self._pump(), name=f"pump-{self.id}")
        kind = m.LifecycleKind.HANDED_OVER if self._handover else m.LifecycleKind.STARTED
        await self._lifecycle(kind)
        self._log.info("session opened", handover=self._handover)

    # --- input --------------------------------------------------------------------------------

    async def _on_audio(self, audio: m.AudioIn, _delivery: Delivery) -> None:
        self._last_input = time.monotonic()
        self._audio_received = max(self._audio_received, audio.seq)
        if self.state is not State.ENDED:
            await self.engine.push_audio(audio.pcm)

    async def _on_text(self, text: m.TextIn, _delivery: Delivery) -> None:
        self._last_input = time.monotonic()
        self._text_received = max(self._text_received, text.seq)
        if self.state is not State.ENDED:
            self.turn_trace.text_arrived()
            await self.engine.push_text(text.text)

    def edge_silent_for(self) -> float:
        """Seconds since the edge last sent anything for this session (it sends keepalives)."""
        return time.monotonic() - self._last_input

    async def _on_control(self, control: m.Control, delivery: Delivery) -> None:
        self._last_input = time.monotonic()
        if control.kind is not m.ControlKind.RESUME or control.worker_id == self.worker_id:
            # (A resume's marks come from the session's state in the bus: they count this
            # worker's events only if it owned the session when they were written.)
            self._delivered_event = max(self._delivered_event, control.delivered_event_seq)
            self._delivered_transcript = max(self._delivered_transcript, control.delivered_transcript_seq)
        match control.kind:
            case m.ControlKind.END_OF_UTTERANCE:
                self.turn_trace.utterance_ended()
                await self.engine.end_of_utterance()
            case m.ControlKind.HANGUP:
                self._finish_soon(control.reason or m.EndReason.HANGUP)
            case m.ControlKind.CLIENT_GONE:
                await self.suspend(m.EndReason.CLIENT_GONE)
            case m.ControlKind.RESUME:
                reply = await self._resume(control)
                # With the session's trace: the resumed connection's span links to it.
                await self._bus.respond(channels.IN_CONTROL, delivery, reply, headers=self._headers)
            case m.ControlKind.PLAYED:
                self.turns.heard(control.turn_id, control.played_ms)
            case m.ControlKind.SUPERSEDED if control.worker_id != self.worker_id:
                self._finish_soon("superseded", Ending.SUPERSEDED)
            case m.ControlKind.KEEPALIVE if delivery.reply and self.state is not State.ENDED:
                # A probe: the edge missed our heartbeats and asks whether we still own the session.
                await self._bus.respond(channels.IN_CONTROL, delivery, m.ControlReply(ok=True))
            case _:
                pass  # KEEPALIVE: noting the time above is all it is for

    async def suspend(self, reason: str) -> None:
        """The client is gone (it said so, or its edge went silent): wait for it to resume."""
        if self.state is not State.ACTIVE:
            return
        self.state = State.SUSPENDED
        self.suspended_at = time.monotonic()
        self._on_state_change(self)
        self._expiry_task = asyncio.create_task(self._expire_after_window())
        await self._lifecycle(m.LifecycleKind.SUSPENDED, reason=reason)
        self._log.info("client gone; waiting for it to resume", reason=reason, window=self._resume_window)

    async def _expire_after_window(self) -> None:
        await asyncio.sleep(self._resume_window)
        self._finish_soon(m.EndReason.CLIENT_GONE)

    async def _resume(self, control: m.Control) -> m.ControlReply:
        if self.state is State.ENDED:
            return m.ControlReply(ok=False, reason=m.ResumeRefusal.EXPIRED)
        if not hmac.compare_digest(control.token.encode(), self.resume_token.encode()):
            return m.ControlReply(ok=False, reason=m.ResumeRefusal.BAD_TOKEN)
        if control.principal != self.setup.principal:
            return m.ControlReply(ok=False, reason=m.ResumeRefusal.WRONG_PRINCIPAL)
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            self._expiry_task = None
        self.state = State.ACTIVE
        self._on_state_change(self)
        self._audio_received = self._text_received = 0  # the new connection counts from 1
        # Any other edge connection still attached to this session lets go.
        await self._publish_event(m.Resumed(conn_id=control.conn_id))
        missed = await self._send_missed()
        await self._lifecycle(m.LifecycleKind.RESUMED)
        self._log.info("client resumed", missed=missed)
        return m.ControlReply(
            ok=True,
            capabilities=self.capabilities,
            output_rate=self.output_rate,
            next_turn_id=self.turns.next_id,
        )

    async def _send_missed(self) -> int:
        """Publish again, in their order and with their sequence numbers, the turn events and final
        transcripts the client was not sent (the resuming edge is subscribed already); transcripts
        as ``MissedTranscript`` events, so that the records stream keeps them once."""
        missed = [
            event
            for event in self._missable
            if event.seq
            > (self._delivered_transcript if isinstance(event, m.Transcript) else self._delivered_event)
        ]
        for event in missed:
            again = m.MissedTranscript(transcript=event) if isinstance(event, m.Transcript) else event
            await self._bus.publish(channels.OUT_EVENT, again, session_id=self.id, headers=self._headers)
        return len(missed)

    # --- output -------------------------------------------------------------------------------

    async def _pump(self) -> None:
        try:
            async for event in self.engine.events():
                await self._publish(event)
        except Exception:
            self._log.exception("engine failed")
            await self._publish_event(
                m.ErrorEvent(code="engine_failed", message="the speech engine failed", fatal=True)
            )
            self._finish_soon(m.EndReason.ENGINE_ERROR)

    async def _publish(self, event: EngineEvent) -> None:
        if isinstance(event, m.AudioOut) and not self.turns.admit(event):
            return  # the user barged in: nothing more of this turn reaches the client
        self.turn_trace.observe(event)
        # A turn's messages carry its trace, the rest the session's.
        headers = self.turn_trace.headers(event) or self._headers
        match event:
            case m.AudioOut():
                self._audio_seq += 1
                event.seq = self._audio_seq
                # Dropped, not queued, while the bus is away: it would play late or not at all.
                await self._bus.publish_lossy(channels.OUT_AUDIO, event, session_id=self.id, headers=headers)
            case m.Transcript():
                self._transcript_seq += 1
                event.seq = self._transcript_seq
                if event.stage is m.Stage.FINAL:
                    self._missable.append(event)
                await self._bus.publish(channels.TRANSCRIPT, event, session_id=self.id, headers=headers)
            case m.ErrorEvent(fatal=True):
                await self._publish_event(event)
                self._finish_soon(m.EndReason.ENGINE_ERROR)
            case _:
                await self._publish_event(event, headers)

    async def _publish_event(self, event: m.OutEvent, headers: dict[str, str] | None = None) -> None:
        self._event_seq += 1
        event.seq = self._event_seq
        if isinstance(event, _MISSABLE_EVENTS):
            self._missable.append(event)
        await self._bus.publish(
            channels.OUT_EVENT, event, session_id=self.id, headers=headers or self._headers
        )

    async def heartbeat(self) -> None:
        if self.state is not State.ENDED:
            beat = m.Heartbeat(
                worker_id=self.worker_id, audio_seq=self._audio_received, text_seq=self._text_received
            )
            await self._publish_event(beat)

    async def _lifecycle(self, kind: m.LifecycleKind, reason: str = "") -> None:
        message = m.Lifecycle(
            kind=kind,
            principal=self.setup.principal,
            worker_id=self.worker_id,
            reason=reason,
            at=time.time(),
            recorded=self.setup.recorded,
        )
        await self._bus.publish(channels.LIFECYCLE, message, session_id=self.id, headers=self._headers)

    # --- ending -------------------------------------------------------------------------------

    def _finish_soon(self, reason: str, how: Ending = Ending.ENDED) -> None:
        """Stop from inside a handler or the pump: as a task of its own, because stopping stops them."""
        if self._finishing is None:
            self._finishing = asyncio.create_task(self._close(reason, how), name=f"end-{self.id}")

    async def evict(self) -> None:
        """End a suspended session for good so that a live caller gets its place (``evicted``)."""
        await self._close(m.EndReason.EVICTED, Ending.ENDED)

    async def hand_back(self, reason: str, within: float = 0.0) -> None:
        """Stop without ending the session, and ask the edge to place it on another worker.

        An answer in progress (or owed to the user's last words) is let finish first, for up to
        ``within`` seconds, while the session goes on as usual; one still going then ends with
        reason ``handover`` and a FINAL of what was played, and the next worker answers again
        (the edge sets ``SessionStart.answer_again``).
        """
        deadline = time.monotonic() + within
        # Polled: "busy" is derived from the ledger's turns, and this runs once, on shutdown.
        while self.state is State.ACTIVE and self.turns.busy and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_DRAIN_POLL)
        if self.state is not State.ENDED:
            cut = self.turns.hand_over()
            if cut is not None:
                self._log.info("answer cut short by the shutdown", turn_id=cut)
        await self._close(reason, Ending.HANDED_BACK)

    async def _close(self, reason: str, how: Ending) -> None:
        """The one way a session stops: input and the engine first, then whoever must know hears
        ``how`` (the lifecycle's ``ended``, the edge's ``handover_requested``, or nobody when
        another worker carries it on), the span ends and the worker forgets it. Only the first
        call does anything."""
        if not await self._stop_io():
            return
        match how:
            case Ending.ENDED:
                await self._lifecycle(m.LifecycleKind.ENDED, reason=reason)
                self._span.set_attribute(Attr.SESSION_END_REASON, reason)
                self._log.info("session ended", reason=reason)
            case Ending.HANDED_BACK:
                await self._publish_event(m.HandoverRequested(worker_id=self.worker_id, reason=reason))
                self._span.set_attribute(Attr.SESSION_END_REASON, f"released:{reason}")
                self._log.info("session released for handover", reason=reason)
            case Ending.SUPERSEDED:
                self._span.set_attribute(Attr.SESSION_END_REASON, reason)
                self._log.info("session taken over by another worker")
        self.turn_trace.close(failed=reason == m.EndReason.ENGINE_ERROR)
        self.ended_for_good = how is Ending.ENDED
        self._span.end()
        self._on_finished(self)

    async def _stop_io(self) -> bool:
        """Stop input, close the engine, let its last events out. False if already stopped."""
        if self.state is State.ENDED:
            return False
        self.state = State.ENDED
        if self._expiry_task is not None and self._expiry_task is not asyncio.current_task():
            self._expiry_task.cancel()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        await self.engine.close()
        if self._pump_task is not None and self._pump_task is not asyncio.current_task():
            try:
                await asyncio.wait_for(self._pump_task, _PUMP_GRACE)
            except TimeoutError:
                self._log.warning("engine did not stop in time")
        return True
