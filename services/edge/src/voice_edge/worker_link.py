"""A session's tie to the worker that owns it: the user's input and controls to it, keepalives, its
heartbeats, and the handover to another worker when it falls silent or hands the session back.

Input the owner has not acknowledged (``InputReplay``) is kept and replayed to the next owner, so a
handover loses nothing the user said; while no worker owns the session, input is only kept.

Losing the bus is not losing the worker: while this edge's own NATS connection is away, the worker
is not judged by its heartbeats, audio is dropped (it is worth nothing late), typed text is kept,
and once the worker is heard again it gets what it has not acknowledged.

It talks back to its session only through two callables: ``tell`` sends the client an event,
``close`` asks the session to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from opentelemetry import trace
from voice_proto import Bus, BusError, NoResponders, RequestTimeout, channels
from voice_proto import messages as m
from voice_proto.telemetry_names import Attr, Span

from . import protocol as p
from .clock import SYSTEM_CLOCK, Clock
from .outcome import CloseRequest, Outcome, RequestClose, Tell
from .placement import place_session
from .replay import InputReplay
from .settings import EdgeSettings

tracer = trace.get_tracer("voice_edge")


class HandoverReason(StrEnum):
    """Why the edge moves a session to another worker (the ``edge.handover`` span's ``reason``)."""

    #: The worker handed the session back (``HandoverRequested``: it is shutting down).
    WORKER_RELEASED = "worker_released"
    #: No heartbeat from the worker for ``EDGE_HEARTBEAT_TIMEOUT`` seconds, and it did not answer
    #: a probe either (nobody listens on the session's input, or no answer in time).
    HEARTBEAT_LOST = "heartbeat_lost"


@dataclass(frozen=True)
class EngineTraits:
    """What the client's ``session`` event says of the owning worker's engine: ``capabilities``
    (``Capability`` values) and ``output_rate`` (Hz of the speech it sends)."""

    capabilities: list[str] = field(default_factory=list)
    output_rate: int = m.OUTPUT_RATE

    @classmethod
    def of(cls, answer: m.SessionClaim | m.ControlReply) -> EngineTraits:
        """The traits a worker declared when it claimed the session or took a resume."""
        return cls(list(answer.capabilities), answer.output_rate)


class WorkerLink:
    """Keeps a placed session on a live worker.

    ``handover_request`` gives the ``SessionStart`` that moves the session as it stands now
    (principal, resume token, finished turns). When no worker takes it within
    ``settings.start_timeout`` seconds, the client is told ``worker_lost``, the session's
    lifecycle says it ended, and the session is closed with 1013.

    Heartbeats late by ``settings.heartbeat_timeout`` seconds are checked with a probe (a KEEPALIVE
    request) before the session moves: no responders (the owner's connection is gone, as when it
    was killed) moves it at once, an answer keeps it where it is, silence for
    ``settings.probe_timeout`` moves it.

    ``moved`` is called when another worker owns the session.

    While the bus is away input is kept, not sent (audio is dropped: ``audio_dropped``); the first
    heartbeat after it is back sends the owner what it has not acknowledged. An outage longer than
    ``settings.bus_outage_limit`` closes the client with 1012 (resume), and the worker, missing our
    keepalives, suspends the session for it.

    ``engine`` is what the owning worker's engine declared: the claim's, then the new claim's
    after a handover. The client is not told when a handover changes it (the ``session`` event
    comes once per connection); it learns the new capabilities and output rate on its next connect
    or resume. Workers of one deployment run one engine, so a handover keeps them.
    """

    def __init__(
        self,
        bus: Bus,
        session_id: str,
        *,
        settings: EdgeSettings,
        handover_request: Callable[[], m.SessionStart],
        tell: Tell,
        close: RequestClose,
        engine: EngineTraits | None = None,
        owner: str = "",
        moved: Callable[[], None] = lambda: None,
        clock: Clock = SYSTEM_CLOCK,
        headers: dict[str, str] | None = None,
        log: structlog.stdlib.BoundLogger | None = None,
    ) -> None:
        self._bus = bus
        self._session_id = session_id
        self._settings = settings
        self._handover_request = handover_request
        self._tell = tell
        self._close = close
        self.engine = engine or EngineTraits()
        #: The owning worker's id ("" until its first heartbeat after a resume).
        self.owner = owner
        self._moved = moved
        self.replay = InputReplay(
            max_audio_bytes=int(settings.replay_seconds * m.INPUT_RATE * 2),
            max_texts=settings.replay_texts,
        )
        #: False while the session moves: input is kept, not sent.
        self._owned = True
        self._audio_seq = 0
        self._text_seq = 0
        #: Makes this connection's input ids unique (``Nats-Msg-Id``, below).
        self._input_id = secrets.token_hex(6)
        #: The owner's ``Event.seq`` / ``Transcript.seq`` last sent on to the client.
        self.delivered_event_seq = 0
        self.delivered_transcript_seq = 0
        self._clock = clock
        #: The session's trace context, on everything sent to the worker.
        self._headers = headers
        self._log = log or structlog.get_logger("voice_edge.worker_link")
        self._last_heartbeat = clock.monotonic()
        self._handover_now = asyncio.Event()
        #: Our own NATS connection is away (since when, on this clock): the worker's heartbeats
        #: cannot reach us, so its silence says nothing about it.
        self._bus_away_since: float | None = None if bus.connected else clock.monotonic()
        #: The connection was lost and the owner not heard since: input is kept, not sent (the
        #: owner may not be listening yet: it reconnects too). Counts outages, so that a resend
        #: started after one does not open the way during the next.
        self._unconfirmed = not bus.connected
        self._outages = 0
        self._resending: asyncio.Task[None] | None = None
        #: Audio frames dropped while the bus was away.
        self.audio_dropped = 0

    def heartbeat(self, beat: m.Heartbeat) -> None:
        """The worker said it still owns the session (a beat of a previous owner is ignored)."""
        if not self.owner:
            self.owner = beat.worker_id
        if beat.worker_id != self.owner:
            return
        self._last_heartbeat = self._clock.monotonic()
        self.replay.acknowledged(beat.audio_seq, beat.text_seq)
        resending = self._resending is not None and not self._resending.done()
        if self._unconfirmed and self._bus_away_since is None and self._owned and not resending:
            self._resending = asyncio.create_task(
                self._resend_after_outage(self._outages), name=f"resend-{self._session_id}"
            )

    def _on_connection(self, connected: bool) -> None:
        if not connected:
            self._unconfirmed = True
            self._outages += 1
            if self._bus_away_since is None:
                self._bus_away_since = self._clock.monotonic()
                self._log.warning("bus away: keeping typed input, dropping audio, not judging the worker")
            return
        away = self._clock.monotonic() - (self._bus_away_since or self._clock.monotonic())
        self._bus_away_since = None
        # The worker's heartbeats get a full timeout from now to reach us again.
        self._last_heartbeat = max(self._last_heartbeat, self._clock.monotonic())
        self._log.info("bus back", away_s=round(away, 3), kept=len(self.replay))

    async def _resend_after_outage(self, outage: int) -> None:
        """The owner is heard again: send it what it did not acknowledge (it never got it), then
        let input flow again, unless the bus went away again meanwhile."""
        count = await self._send_pending()
        if outage == self._outages:
            self._unconfirmed = False
        self._log.info("input kept during the outage sent", count=count)

    def delivered(self, *, event_seq: int = 0, transcript_seq: int = 0) -> None:
        """The owner's event / transcript with this ``seq`` went on to the client."""
        self.delivered_event_seq = max(self.delivered_event_seq, event_seq)
        self.delivered_transcript_seq = max(self.delivered_transcript_seq, transcript_seq)

    async def send_audio(self, pcm: bytes) -> None:
        """The user's audio to the owner (kept until acknowledged); dropped while the bus is away."""
        if self._bus_away_since is not None:
            self.audio_dropped += 1
            return
        self._audio_seq += 1
        await self._send(m.AudioIn(seq=self._audio_seq, pcm=pcm))

    async def send_text(self, text: str) -> None:
        """The user's typed text to the owner (kept until acknowledged)."""
        self._text_seq += 1
        await self._send(m.TextIn(text=text, seq=self._text_seq))

    async def _send(self, message: m.AudioIn | m.TextIn) -> None:
        self.replay.add(message)
        if self._owned and not self._unconfirmed:
            await self._publish_input(message)

    async def _publish_input(self, message: m.AudioIn | m.TextIn) -> None:
        # A replayed frame carries its first send's id: a stream that captures the input (the
        # recorder's VOICE_AUDIO) drops it as a duplicate, while the new owner, a plain
        # subscriber, gets it.
        kind = "a" if isinstance(message, m.AudioIn) else "t"
        headers = {**(self._headers or {}), "Nats-Msg-Id": f"{self._input_id}-{kind}{message.seq}"}
        sid = self._session_id
        with contextlib.suppress(BusError, OSError):
            if isinstance(message, m.AudioIn):
                await self._bus.publish(channels.IN_AUDIO, message, session_id=sid, headers=headers)
            else:
                await self._bus.publish(channels.IN_TEXT, message, session_id=sid, headers=headers)

    def released(self) -> None:
        """The worker handed the session back (it is shutting down): move it now."""
        self._handover_now.set()

    async def control(self, kind: m.ControlKind, reason: str = "") -> None:
        """Tell the session's worker (best effort: nobody may be listening any more). Every
        control carries what the client has been sent, for a resume to start after it."""
        await self.send(m.Control(kind=kind, reason=reason))

    async def send(self, control: m.Control) -> None:
        """Send ``control`` to the session's worker (best effort), stamped with what the client
        has been sent."""
        control.delivered_event_seq = self.delivered_event_seq
        control.delivered_transcript_seq = self.delivered_transcript_seq
        with contextlib.suppress(BusError, OSError):
            await self._bus.publish(
                channels.IN_CONTROL, control, session_id=self._session_id, headers=self._headers
            )

    async def run(self) -> None:
        """Keep the worker and the session together until the session ends, or no worker is left."""
        keepalive = asyncio.create_task(self._keep_alive(), name=f"keepalive-{self._session_id}")
        stop_listening = self._bus.on_connection(self._on_connection)
        try:
            await self._watch_worker()
        finally:
            stop_listening()
            tasks = [keepalive, *([self._resending] if self._resending is not None else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_alive(self) -> None:
        """Tell the worker this edge still serves the session (if we die, it suspends the session)."""
        while True:
            await self._clock.sleep(self._settings.keepalive_interval)
            if self._bus_away_since is None:  # a stale keepalive says nothing when it arrives
                await self.control(m.ControlKind.KEEPALIVE)

    async def _watch_worker(self) -> None:
        """Move the session to another worker when its worker stops beating or lets it go."""
        timeout = self._settings.heartbeat_timeout
        self._last_heartbeat = self._clock.monotonic()
        while True:
            now = self._clock.monotonic()
            wait = self._last_heartbeat + timeout - now
            if wait > 0 and not self._handover_now.is_set():
                await self._clock.wait(self._handover_now, wait)
                continue
            released = self._handover_now.is_set()
            if not released and self._bus_away_since is not None:
                # Losing the bus is not losing the worker. A session cannot go on without it for
                # long, though: past the limit the client is told to come back and resume (on
                # another edge, maybe), within the worker's resume window.
                if now - self._bus_away_since >= self._settings.bus_outage_limit:
                    self._log.warning("bus away too long; the client is told to resume")
                    self._close(CloseRequest(p.Close.SERVICE_RESTART, "bus unavailable", Outcome.BUS_LOST))
                    return
                self._last_heartbeat = now
                timeout = min(self._settings.heartbeat_timeout, self._settings.bus_outage_limit)
                continue
            timeout = self._settings.heartbeat_timeout
            if not released and await self._owner_answers():
                self._last_heartbeat = self._clock.monotonic()
                continue
            reason = HandoverReason.WORKER_RELEASED if released else HandoverReason.HEARTBEAT_LOST
            self._handover_now.clear()
            if not await self._hand_over(reason):
                return

    async def _owner_answers(self) -> bool:
        """Probe an owner whose heartbeats are late: True when it answers."""
        probe = m.Control(kind=m.ControlKind.KEEPALIVE)
        try:
            await self._bus.request(
                channels.IN_CONTROL, probe, session_id=self._session_id, timeout=self._settings.probe_timeout
            )
        except (NoResponders, RequestTimeout):
            return False
        except BusError:
            return True  # our own connection is away: that says nothing about the worker
        self._log.info("heartbeats late, but the worker answers")
        return True

    async def _hand_over(self, reason: HandoverReason) -> bool:
        self._owned = False
        start = self._handover_request()
        with tracer.start_as_current_span(
            Span.EDGE_HANDOVER, attributes={Attr.SESSION_ID: self._session_id, Attr.REASON: reason}
        ) as span:
            self._log.warning("handing the session over", reason=reason)
            claim = await place_session(
                self._bus, start, timeout=self._settings.start_timeout, clock=self._clock
            )
            if claim is None:  # a failed handover: the session is lost
                span.set_status(trace.StatusCode.ERROR, "no worker took the session")
            else:
                span.set_attribute(Attr.WORKER_ID, claim.worker_id)
        if claim is not None:
            self._last_heartbeat = self._clock.monotonic()
            self.owner = claim.worker_id
            self.delivered_event_seq = self.delivered_transcript_seq = 0  # the new owner counts anew
            self._unconfirmed = False  # it listens from its claim on
            replayed = await self._replay()
            self._moved()
            self._log.info("session handed over", worker=claim.worker_id, replayed=replayed)
            engine = EngineTraits.of(claim)
            if engine != self.engine:
                # A client that plays audio at the old rate plays this worker's at the wrong speed.
                self._log.warning(
                    "the new worker's engine differs; the client learns it when it reconnects",
                    capabilities=engine.capabilities,
                    output_rate=engine.output_rate,
                    was=self.engine,
                )
                self.engine = engine
            return True
        self._owned = True  # the session is closing: the worker is told to hang up
        await self._tell(
            p.ErrorEvent(p.ErrorCode.WORKER_LOST, "the session's worker stopped and no other is available")
        )
        lifecycle = m.Lifecycle(
            kind=m.LifecycleKind.ENDED,
            principal=start.principal,
            reason=m.EndReason.WORKER_LOST,
            at=self._clock.time(),
        )
        with contextlib.suppress(BusError, OSError):
            await self._bus.publish(
                channels.LIFECYCLE, lifecycle, session_id=self._session_id, headers=self._headers
            )
        self._close(CloseRequest(p.Close.TRY_AGAIN_LATER, "worker lost", Outcome.FAILED))
        return False

    async def _replay(self) -> int:
        """Send the new owner what no owner acknowledged, then let input flow again. Input that
        arrives while the replay is being sent is kept first, so it is part of the replay and the
        order holds."""
        self.replay.new_owner()
        count = await self._send_pending()
        self._owned = True
        return count

    async def _send_pending(self) -> int:
        """Send what the owner has not acknowledged, in order, including what arrives meanwhile."""
        sent = {m.AudioIn: 0, m.TextIn: 0}
        count = 0
        while rest := [e for e in self.replay.pending() if e.seq > sent[type(e)]]:
            for message in rest:
                await self._publish_input(message)
                sent[type(message)] = message.seq
                count += 1
        return count
