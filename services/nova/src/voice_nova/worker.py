"""The bus side of the worker: claims sessions from the queue group while it has room, publishes
each session's heartbeat, and on shutdown hands its sessions back to the edge.

A suspended session (its client gone, waiting for a resume) never costs a live caller a place:
while one is suspended the worker counts as having room, and a claim that finds it full evicts the
session suspended longest (it ends ``evicted``; a resume of it is refused ``evicted``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats.errors
import structlog
from nats.aio.subscription import Subscription
from opentelemetry import metrics
from voice_proto import Bus, Delivery, channels
from voice_proto import messages as m
from voice_proto.session_state import SessionStore
from voice_proto.telemetry import counter, gauge
from voice_proto.telemetry_names import Metrics

from .engine import EngineFactory, SessionSetup
from .session import State, WorkerSession
from .turns import Turns

log = structlog.get_logger("voice_nova.worker")
_meter = metrics.get_meter("voice_nova")
#: Seconds a barge-in's FINAL waits for the client's report of what it played (it comes within a
#: round trip of the ``stop``); then the worker's playback estimate is used.
PLAYED_REPORT_WAIT = 0.5
_claims = counter(_meter, Metrics.WORKER_CLAIMS)


class Worker:
    def __init__(
        self,
        bus: Bus,
        factory: EngineFactory,
        *,
        worker_id: str,
        max_sessions: int,
        heartbeat_interval: float,
        resume_window: float,
        client_timeout: float = 10.0,
        drain_timeout: float = 0.0,
    ) -> None:
        self.bus = bus
        self.factory = factory
        self.worker_id = worker_id
        self.max_sessions = max_sessions
        self.sessions: dict[str, WorkerSession] = {}
        self.draining = False
        self._heartbeat_interval = heartbeat_interval
        self._resume_window = resume_window
        self._client_timeout = client_timeout
        self._drain_timeout = drain_timeout
        self._claim_subscription: Subscription | None = None
        self._capacity_changed = asyncio.Event()
        #: Held while a claim is handled: leaving the queue group must not cancel it half-way.
        self._claiming = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        #: The session-state bucket, bound at the first session that ends (None: not yet, or none).
        self._state: SessionStore | None = None
        self._forgetting: set[asyncio.Task[None]] = set()
        #: Evictions in progress (their sessions closing, then refusing resumes).
        self._evictions: set[asyncio.Task[None]] = set()
        labels = {"worker": worker_id}
        # Autoscaling on sessions divides the one by the other.
        gauge(_meter, Metrics.WORKER_SESSIONS, lambda: [metrics.Observation(len(self.sessions), labels)])
        gauge(_meter, Metrics.WORKER_CAPACITY, lambda: [metrics.Observation(self.max_sessions, labels)])

    @property
    def has_room(self) -> bool:
        """Room for a live caller: a free slot, or a suspended session to give up."""
        if self.draining:
            return False
        return len(self.sessions) < self.max_sessions or self._oldest_suspended() is not None

    def _oldest_suspended(self) -> WorkerSession | None:
        suspended = [s for s in self.sessions.values() if s.state is State.SUSPENDED]
        return min(suspended, key=lambda s: s.suspended_at, default=None)

    async def start(self) -> None:
        await self._sync_claiming()
        self._tasks = [
            asyncio.create_task(self._claim_manager(), name="claim-manager"),
            asyncio.create_task(self._heartbeats(), name="heartbeats"),
        ]

    async def _sync_claiming(self) -> None:
        """Be in the queue group exactly while there is room: a full worker is never asked."""
        if self.has_room and self._claim_subscription is None:
            self._claim_subscription = await self.bus.subscribe(
                channels.SESSIONS_START, self._on_start, queue=channels.SESSIONS_START.queue_group
            )
            await self.bus.flush()
        elif not self.has_room and self._claim_subscription is not None:
            # Unsubscribing cancels the subscription's task, which may be in the middle of the very
            # claim that filled the worker (an engine whose start awaits): let it reply first.
            async with self._claiming:
                subscription, self._claim_subscription = self._claim_subscription, None
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _claim_manager(self) -> None:
        # Unsubscribing cancels the subscription's own task, so it never happens inside _on_start.
        while True:
            await self._capacity_changed.wait()
            self._capacity_changed.clear()
            await self._sync_claiming()

    async def _on_start(self, request: m.SessionStart, delivery: Delivery) -> None:
        async with self._claiming:
            claim = await self._claim(request, delivery)
            _claims.add(1, {"outcome": "accepted" if claim.accepted else claim.reason})
            await self.bus.respond(channels.SESSIONS_START, delivery, claim)
        self._capacity_changed.set()

    async def _claim(self, request: m.SessionStart, delivery: Delivery) -> m.SessionClaim:
        existing = self.sessions.get(request.session_id)
        if existing is not None:
            # The edge asked again because our first reply was lost: same answer.
            return self._accepted(existing)
        if self.draining:
            return m.SessionClaim(accepted=False, reason=m.ClaimRefusal.DRAINING)
        if len(self.sessions) >= self.max_sessions:
            evicted = self._oldest_suspended()
            if evicted is None:
                return m.SessionClaim(accepted=False, reason=m.ClaimRefusal.AT_CAPACITY)
            self._evict(evicted)
        if request.handover:
            # The previous owner may still be alive (the edge only missed its heartbeats, say in a
            # network blip): tell it to let go, so the session never has two owners. Sent before
            # we subscribe, so we do not hear it ourselves.
            superseded = m.Control(kind=m.ControlKind.SUPERSEDED, worker_id=self.worker_id)
            await self.bus.publish(channels.IN_CONTROL, superseded, session_id=request.session_id)
        setup = SessionSetup(
            session_id=request.session_id,
            principal=request.principal,
            history=list(request.history),
            greet=request.greet and not request.handover,
            answer_again=request.answer_again,
            turns=Turns(first_id=request.next_turn_id, report_wait=PLAYED_REPORT_WAIT),
            recorded=request.recorded,
        )
        session = WorkerSession(
            self.bus,
            setup,
            self.factory.create(setup),
            worker_id=self.worker_id,
            capabilities=sorted(capability.value for capability in self.factory.capabilities),
            output_rate=self.factory.output_rate,
            resume_window=self._resume_window,
            resume_token=request.resume_token,
            handover=request.handover,
            engine_name=self.factory.name,
            model=self.factory.model,
            parent=delivery.trace_context(),
            on_finished=self._forget,
            on_state_change=lambda _session: self._capacity_changed.set(),
        )
        self.sessions[session.id] = session
        try:
            await session.open()
        except Exception:
            log.exception("engine refused the session", session_id=session.id)
            self.sessions.pop(session.id, None)
            return m.SessionClaim(accepted=False, reason=m.ClaimRefusal.ENGINE_FAILED)
        return self._accepted(session)

    def _accepted(self, session: WorkerSession) -> m.SessionClaim:
        return m.SessionClaim(
            accepted=True,
            worker_id=self.worker_id,
            resume_token=session.resume_token,
            capabilities=session.capabilities,
            output_rate=session.output_rate,
        )

    def _evict(self, session: WorkerSession) -> None:
        """Give the session's place to a live caller now; it closes, then refuses resumes for what
        remains of its window, so that its client learns why."""
        del self.sessions[session.id]
        log.info("evicting a suspended session for a live caller", session_id=session.id)

        window_left = self._resume_window - (time.monotonic() - session.suspended_at)

        async def evict() -> None:
            await session.evict()
            await self._refuse_resumes(session.id, window_left)

        task = asyncio.create_task(evict(), name=f"evict-{session.id}")
        self._evictions.add(task)
        task.add_done_callback(self._evictions.discard)

    async def _refuse_resumes(self, session_id: str, seconds: float) -> None:
        async def refuse(control: m.Control, delivery: Delivery) -> None:
            if control.kind is m.ControlKind.RESUME:
                reply = m.ControlReply(ok=False, reason=m.ResumeRefusal.EVICTED)
                await self.bus.respond(channels.IN_CONTROL, delivery, reply)

        subscription = await self.bus.subscribe_session(session_id, {channels.IN_CONTROL: refuse})
        try:
            await asyncio.sleep(seconds)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def _forget(self, session: WorkerSession) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
            self._capacity_changed.set()
        if session.ended_for_good:
            task = asyncio.create_task(self._forget_state(session.id), name=f"forget-{session.id}")
            self._forgetting.add(task)
            task.add_done_callback(self._forgetting.discard)

    async def _forget_state(self, session_id: str) -> None:
        """Delete the ended session's state in the bus: a later resume must not place it again."""
        try:
            if self._state is None:
                self._state = await SessionStore.bind(self.bus.nc.jetstream(timeout=2.0))
            if self._state is not None:
                await self._state.delete(session_id)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            log.warning("cannot delete the ended session's state", session_id=session_id, error=str(exc))

    async def _heartbeats(self) -> None:
        """Tell each session's edge we live; suspend sessions whose edge stopped telling us (unless
        our own connection was away meanwhile: then its keepalives could not reach us)."""
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            if not self.bus.connected:
                continue  # a heartbeat queued now would arrive stale
            edge_judged = not self.bus.away_within(self._client_timeout)
            for session in list(self.sessions.values()):
                await session.heartbeat()
                if (
                    edge_judged
                    and session.state is State.ACTIVE
                    and session.edge_silent_for() > self._client_timeout
                ):
                    await session.suspend(m.EndReason.EDGE_LOST)

    async def drain(self) -> None:
        """Stop claiming at once, let the answers in progress finish (up to ``drain_timeout``
        seconds), hand every session back to the edge, stop the background tasks."""
        self.draining = True
        await self._sync_claiming()
        sessions = list(self.sessions.values())
        log.info("draining", sessions=len(sessions), timeout=self._drain_timeout)
        await asyncio.gather(
            *(session.hand_back(m.EndReason.WORKER_SHUTDOWN, self._drain_timeout) for session in sessions)
        )
        for task in (*self._tasks, *self._evictions):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._evictions, return_exceptions=True)
