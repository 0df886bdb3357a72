"""A session's tie to the worker that owns it: controls and keepalives to it, its heartbeats, and
the handover to another worker when it falls silent or hands the session back.

It talks back to its session only through two callables: ``tell`` sends the client an event,
``close`` asks the session to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from enum import StrEnum

import structlog
from opentelemetry import trace
from voice_proto import Bus, BusError, channels
from voice_proto import messages as m

from . import protocol as p
from .clock import SYSTEM_CLOCK, Clock
from .outcome import CloseRequest, Outcome, RequestClose, Tell
from .placement import place_session
from .settings import EdgeSettings

tracer = trace.get_tracer("voice_edge")


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

    def heartbeat(self) -> None:
        """The worker said it still owns the session."""
        self._last_heartbeat = self._clock.monotonic()

    def released(self) -> None:
        """The worker handed the session back (it is shutting down): move it now."""
        self._handover_now.set()

    async def control(self, kind: m.ControlKind, reason: str = "") -> None:
        """Tell the session's worker (best effort: nobody may be listening any more)."""
        await self.send(m.Control(kind=kind, reason=reason))

    async def send(self, control: m.Control) -> None:
        with contextlib.suppress(BusError, OSError):
            await self._bus.publish(
                channels.IN_CONTROL, control, session_id=self._session_id, headers=self._headers
            )

    async def run(self) -> None:
        """Keep the worker and the session together until the session ends, or no worker is left."""
        keepalive = asyncio.create_task(self._keep_alive(), name=f"keepalive-{self._session_id}")
        try:
            await self._watch_worker()
        finally:
            keepalive.cancel()
            await asyncio.gather(keepalive, return_exceptions=True)

    async def _keep_alive(self) -> None:
        """Tell the worker this edge still serves the session (if we die, it suspends the session)."""
        while True:
            await self._clock.sleep(self._settings.keepalive_interval)
            await self.control(m.ControlKind.KEEPALIVE)

    async def _watch_worker(self) -> None:
        """Move the session to another worker when its worker stops beating or lets it go."""
        timeout = self._settings.heartbeat_timeout
        self._last_heartbeat = self._clock.monotonic()
        while True:
            wait = self._last_heartbeat + timeout - self._clock.monotonic()
            if wait > 0 and not self._handover_now.is_set():
                await self._clock.wait(self._handover_now, wait)
                continue
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
