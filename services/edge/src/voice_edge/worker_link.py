"""A session's tie to the worker that owns it: controls and keepalives to it, its heartbeats, and
the handover to another worker when it falls silent or hands the session back.

It talks back to its session only through two callables: ``tell`` sends the client an event,
``close`` asks the session to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import structlog
from opentelemetry import trace
from voice_proto import Bus, BusError, BusUnavailable, Channel, channels
from voice_proto import messages as m

from . import protocol as p
from .clock import SYSTEM_CLOCK, Clock
from .outcome import CloseRequest, Outcome, RequestClose, Tell
from .placement import place_session
from .settings import EdgeSettings

tracer = trace.get_tracer("voice_edge")

#: Typed input (texts, ends of utterance) a session keeps while the bus is away; beyond it the
#: oldest is dropped (a person types a few lines a minute; this is minutes of typing).
HELD_INPUT_LIMIT = 64


class HandoverReason(StrEnum):
    """Why the edge moves a session to another worker (the ``edge.handover`` span's ``reason``)."""

    #: The worker handed the session back (``HandoverRequested``: it is shutting down).
    WORKER_RELEASED = "worker_released"
    #: No heartbeat from the worker for ``EDGE_HEARTBEAT_TIMEOUT`` seconds.
    HEARTBEAT_LOST = "heartbeat_lost"


class WorkerLink:
    """Keeps a placed session on a live worker.

    ``handover_request`` gives the ``SessionStart`` that moves the session as it stands now
    (principal, resume token, finished turns). When no worker takes it within
    ``settings.start_timeout`` seconds, the client is told ``worker_lost``, the session's
    lifecycle says it ended, and the session is closed with 1013.

    While this edge's own NATS connection is away the worker is not judged (its heartbeats cannot
    reach us); typed input waits (``send_input``) until the worker is heard again. An outage
    longer than ``settings.bus_outage_limit`` closes the client with 1012 (resume), and the
    worker, missing our keepalives, suspends the session for it.

    ``capabilities`` are the owning worker's (``Capability`` values): the claim's, then the new
    claim's after a handover. The client is not told when a handover changes them (the ``session``
    event comes once per connection); it gets the new set on its next connect or resume.
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
        capabilities: Sequence[str] = (),
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
        self.capabilities = list(capabilities)
        self._clock = clock
        #: The session's trace context, on everything sent to the worker.
        self._headers = headers
        self._log = log or structlog.get_logger("voice_edge.worker_link")
        self._last_heartbeat = clock.monotonic()
        self._handover_now = asyncio.Event()
        #: Our own NATS connection is away: the worker's heartbeats cannot reach us, so its
        #: silence says nothing about it (since when: this clock).
        self._bus_away_since: float | None = None if bus.connected else clock.monotonic()
        #: The connection was lost and no heartbeat came since: the worker may not be listening
        #: yet (it reconnects too), so input that must not be lost waits in ``_held``.
        self._unconfirmed = not bus.connected
        self._held: deque[tuple[Channel[Any], Any]] = deque()
        self._flushing: asyncio.Task[None] | None = None
        #: Input given up because more than HELD_INPUT_LIMIT waited (for tests and logs).
        self.input_dropped = 0

    def heartbeat(self) -> None:
        """The worker said it still owns the session (and, after an outage, that it hears us)."""
        self._last_heartbeat = self._clock.monotonic()
        if self._unconfirmed and self._bus_away_since is None:
            self._unconfirmed = False
            self._flush_held()

    def _on_connection(self, connected: bool) -> None:
        if not connected:
            self._unconfirmed = True
            if self._bus_away_since is None:
                self._bus_away_since = self._clock.monotonic()
                self._log.warning("bus away: holding typed input, dropping audio, not judging the worker")
            return
        away = self._clock.monotonic() - (self._bus_away_since or self._clock.monotonic())
        self._bus_away_since = None
        # The worker's heartbeats get a full timeout from now to reach us again.
        self._last_heartbeat = max(self._last_heartbeat, self._clock.monotonic())
        self._log.info("bus back", away_s=round(away, 3), held=len(self._held))

    async def send_input(self, channel: Channel[Any], message: Any) -> None:
        """Send input the user must not lose (typed text, end of utterance) to the worker; while the
        bus is away, or until the worker is heard again after that, it waits here (in order, the
        newest HELD_INPUT_LIMIT) and goes out then."""
        if self._unconfirmed or self._held:
            self._hold(channel, message)
            return
        try:
            await self._bus.publish(channel, message, session_id=self._session_id, headers=self._headers)
        except BusUnavailable:
            self._hold(channel, message)

    def _hold(self, channel: Channel[Any], message: Any) -> None:
        self._held.append((channel, message))
        if len(self._held) > HELD_INPUT_LIMIT:
            self._held.popleft()
            self.input_dropped += 1
            self._log.warning("typed input dropped: too much waited for the bus", limit=HELD_INPUT_LIMIT)
        if not self._unconfirmed:
            self._flush_held()

    def _flush_held(self) -> None:
        if self._held and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.create_task(self._send_held(), name=f"held-input-{self._session_id}")

    async def _send_held(self) -> None:
        while self._held and not self._unconfirmed:
            channel, message = self._held[0]
            try:
                await self._bus.publish(channel, message, session_id=self._session_id, headers=self._headers)
            except BusUnavailable:
                return  # still no room: the next heartbeat tries again
            self._held.popleft()

    def released(self) -> None:
        """The worker handed the session back (it is shutting down): move it now."""
        self._handover_now.set()

    async def control(self, kind: m.ControlKind, reason: str = "") -> None:
        """Tell the session's worker (best effort: nobody may be listening any more)."""
        with contextlib.suppress(BusError, OSError):
            await self._bus.publish(
                channels.IN_CONTROL,
                m.Control(kind=kind, reason=reason),
                session_id=self._session_id,
                headers=self._headers,
            )

    async def run(self) -> None:
        """Keep the worker and the session together until the session ends, or no worker is left."""
        keepalive = asyncio.create_task(self._keep_alive(), name=f"keepalive-{self._session_id}")
        stop_listening = self._bus.on_connection(self._on_connection)
        try:
            await self._watch_worker()
        finally:
            stop_listening()
            tasks = [keepalive, *([self._flushing] if self._flushing is not None else [])]
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
            if self._bus_away_since is not None:
                # Losing the bus is not losing the worker. A session cannot go on without it
                # for long, though: past the limit the client is told to come back and resume
                # (on another edge, maybe), within the worker's resume window.
                if now - self._bus_away_since >= self._settings.bus_outage_limit:
                    self._log.warning("bus away too long; the client is told to resume")
                    self._close(CloseRequest(p.Close.SERVICE_RESTART, "bus unavailable", Outcome.BUS_LOST))
                    return
                self._last_heartbeat = now
                timeout = min(self._settings.heartbeat_timeout, self._settings.bus_outage_limit)
                continue
            timeout = self._settings.heartbeat_timeout
            reason = (
                HandoverReason.WORKER_RELEASED
                if self._handover_now.is_set()
                else HandoverReason.HEARTBEAT_LOST
            )
            self._handover_now.clear()
            if not await self._hand_over(reason):
                return

    async def _hand_over(self, reason: HandoverReason) -> bool:
        start = self._handover_request()
        with tracer.start_as_current_span(
            "edge.handover", attributes={"session.id": self._session_id, "reason": reason}
        ):
            self._log.warning("handing the session over", reason=reason)
            claim = await place_session(
                self._bus, start, timeout=self._settings.start_timeout, clock=self._clock
            )
        if claim is not None:
            self._last_heartbeat = self._clock.monotonic()
            # The new worker listens from its claim on: what waited for the old one goes to it.
            self._unconfirmed = False
            self._flush_held()
            self._log.info("session handed over", worker=claim.worker_id)
            if claim.capabilities != self.capabilities:
                self._log.warning(
                    "the new worker's engine does other things; the client learns it when it reconnects",
                    capabilities=claim.capabilities,
                    was=self.capabilities,
                )
                self.capabilities = claim.capabilities
            return True
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
