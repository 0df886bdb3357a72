"""The edge's WebSocket door: admission (protocol, credential), the live sessions, and drain."""

from __future__ import annotations

import asyncio
from enum import StrEnum

import nats.errors
import structlog
from fastapi import WebSocket
from opentelemetry import metrics
from voice_proto import Bus, BusError
from voice_proto.auth import AuthClient
from voice_proto.session_state import SessionStore
from voice_proto.streams import RecordsStreamError, ensure_records_stream
from voice_proto.telemetry import gauge
from voice_proto.telemetry_names import Metrics, Placement

from . import protocol as p
from .metrics import count_placement, meter, refusals
from .outcome import CloseRequest, Outcome
from .session import EdgeSession
from .settings import EdgeSettings

log = structlog.get_logger("voice_edge")


class Refused(StrEnum):
    """The ``reason`` of ``voice_edge_refusals`` when the edge itself refuses (a credential the auth
    service refuses counts under the service's ``AuthRefusal``)."""

    DRAINING = "draining"
    NO_PROTOCOL = "no_protocol"
    NO_CREDENTIAL = "no_credential"
    AUTH_UNAVAILABLE = "auth_unavailable"
    #: The auth service refused without saying why.
    REFUSED = "refused"
    #: ``?session=`` without a ``resume.<token>`` subprotocol.
    RESUME = "resume"


class Edge:
    """What the routes share: the bus, the auth client and the live sessions."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.bus: Bus | None = None
        self.auth: AuthClient | None = None
        #: The session-state bucket (None when JetStream could not be reached at start).
        self.store: SessionStore | None = None
        self.sessions: set[EdgeSession] = set()
        self.draining = False
        gauge(meter, Metrics.EDGE_SESSIONS, lambda: [metrics.Observation(len(self.sessions))])

    async def connect(self) -> None:
        bus = Bus.for_service(self.settings, "edge")
        await bus.start()
        self.bus = bus
        self.auth = AuthClient(
            bus, timeout=self.settings.auth_timeout, cache_seconds=self.settings.auth_cache_seconds
        )
        await self._ensure_records_stream(bus)
        await self._ensure_session_store(bus)

    def connected_bus(self) -> Bus:
        """The bus; raises voice_proto.BusError before :meth:`connect`."""
        if self.bus is None:
            raise BusError("not connected")
        return self.bus

    async def _ensure_records_stream(self, bus: Bus) -> None:
        """Every session starts here, so the stream that records it exists before its first record,
        even when no transcripts service has run yet on a new NATS server. Best effort: the voice
        path does not depend on JetStream."""
        try:
            await ensure_records_stream(
                bus.nc.jetstream(timeout=self.settings.auth_timeout),
                max_age_days=self.settings.records_max_age_days,
                replicas=self.settings.records_replicas,
            )
        except (nats.errors.Error, TimeoutError, OSError, RecordsStreamError) as exc:
            log.warning("cannot ensure the records stream; transcripts may miss sessions", error=str(exc))

    async def _ensure_session_store(self, bus: Bus) -> None:
        """Best effort, like the records stream: without it calls go on, but a session that moves
        to another edge starts there without its history."""
        try:
            self.store = await SessionStore.ensure(
                bus.nc.jetstream(timeout=self.settings.auth_timeout),
                replicas=self.settings.records_replicas,
                ttl=self.settings.session_state_ttl,
            )
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            log.warning("cannot ensure the session-state bucket; moves lose history", error=str(exc))

    async def shutdown(self) -> None:
        """Stop taking connections (new ones are refused with 1012, /ready says no), wait up to
        ``drain_timeout`` for the calls in progress to end by themselves, then close the rest with
        1012 so that they resume on another edge."""
        self.draining = True
        if self.sessions and self.settings.drain_timeout > 0:
            log.info("edge draining", sessions=len(self.sessions), timeout=self.settings.drain_timeout)
            await asyncio.wait([s.finished for s in self.sessions], timeout=self.settings.drain_timeout)
        live = list(self.sessions)
        for session in live:
            session.request_close(
                CloseRequest(p.Close.SERVICE_RESTART, "server restarting", Outcome.SHUTDOWN)
            )
        if live:
            _, pending = await asyncio.wait([s.finished for s in live], timeout=self.settings.shutdown_grace)
            log.info("edge drained", closed=len(live) - len(pending), left=len(pending))
        if self.bus is not None:
            await self.bus.drain()

    async def ready(self) -> dict[str, bool]:
        return {"nats": self.bus is not None and self.bus.connected, "accepting": not self.draining}

    async def handle(self, ws: WebSocket) -> None:
        offer = p.parse_offer(list(ws.scope.get("subprotocols") or []))
        source = ws.client.host if ws.client else ""
        if self.draining or self.bus is None or self.auth is None:
            await _refuse(ws, offer, p.Close.SERVICE_RESTART, "server restarting", Refused.DRAINING)
            return
        if not offer.protocol:
            await _refuse(
                ws, offer, p.Close.BAD_OFFER, "offer voice.v1 or voice.v1.binary", Refused.NO_PROTOCOL
            )
            return
        if offer.credential is None:
            await _refuse(ws, offer, p.Close.UNAUTHORIZED, "unauthorized", Refused.NO_CREDENTIAL)
            return
        try:
            identity = await self.auth.validate(offer.credential, source)
        except BusError:
            count_placement(Placement.AUTH_UNAVAILABLE)
            await _refuse(
                ws, offer, p.Close.TRY_AGAIN_LATER, "authentication unavailable", Refused.AUTH_UNAVAILABLE
            )
            return
        if not identity.ok:
            log.info("connection refused", reason=identity.reason, source=source)
            count_placement(Placement.AUTH_REFUSED)
            code, reason = p.refusal_close(identity.reason)
            await _refuse(ws, offer, code, reason, identity.reason or Refused.REFUSED)
            return
        resume = ws.query_params.get("session")
        if resume is not None and not offer.resume_token:
            await _refuse(
                ws,
                offer,
                p.Close.RESUME_REFUSED,
                "resume needs a resume.<token> subprotocol",
                Refused.RESUME,
            )
            return
        recorded = self.settings.records(ws.query_params.get("record"))
        session = EdgeSession(
            ws, self.bus, self.settings, offer, identity, self.auth, recorded=recorded, store=self.store
        )
        self.sessions.add(session)
        try:
            await session.run(resume)
        finally:
            self.sessions.discard(session)


async def _refuse(ws: WebSocket, offer: p.Offer, code: int, reason: str, metric_reason: str) -> None:
    refusals.add(1, {"reason": metric_reason})
    # Accept first so that the client sees the close code (a refused handshake shows only HTTP 403).
    await ws.accept(subprotocol=offer.selected)
    await ws.close(code, reason)
