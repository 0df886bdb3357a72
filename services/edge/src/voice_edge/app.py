"""The edge's HTTP side: ``/ws``, probes, metrics, and the built web app at ``/``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats.errors
import structlog
from fastapi import FastAPI, WebSocket
from fastapi.staticfiles import StaticFiles
from opentelemetry import metrics
from voice_proto import Bus, BusError
from voice_proto.auth import AuthClient
from voice_proto.ops import probe_routes
from voice_proto.streams import ensure_records_stream

from . import protocol as p
from .api import api_router
from .session import EdgeSession, Outcome
from .settings import AVATAR_PATH, EdgeSettings

log = structlog.get_logger("voice_edge")
_meter = metrics.get_meter("voice_edge")
_refusals = _meter.create_counter("voice_edge_refusals", description="Connections refused, by reason")


class Edge:
    """What the routes share: the bus, the auth client and the live sessions."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.bus: Bus | None = None
        self.auth: AuthClient | None = None
        self.sessions: set[EdgeSession] = set()
        self.draining = False
        _meter.create_observable_gauge(
            "voice_edge_sessions",
            callbacks=[lambda _options: [metrics.Observation(len(self.sessions))]],
            description="Live WebSocket sessions on this edge",
        )

    async def connect(self) -> None:
        self.bus = await Bus.connect(
            self.settings.nats_url, "edge", retry_for=self.settings.nats_connect_retry
        )
        self.auth = AuthClient(
            self.bus, timeout=self.settings.auth_timeout, cache_seconds=self.settings.auth_cache_seconds
        )
        await self._ensure_records_stream()

    async def _ensure_records_stream(self) -> None:
        """Every session starts here, so the stream that records it exists before its first record,
        even when no transcripts service has run yet on a new NATS server. Best effort: the voice
        path does not depend on JetStream."""
        assert self.bus is not None
        try:
            await ensure_records_stream(
                self.bus.nc.jetstream(timeout=self.settings.auth_timeout), self.settings
            )
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            log.warning("cannot ensure the records stream; transcripts may miss sessions", error=str(exc))

    async def shutdown(self) -> None:
        """Stop taking connections; close every client with 1012 so it reconnects and resumes elsewhere."""
        self.draining = True
        live = list(self.sessions)
        for session in live:
            session.request_close(p.Close.SERVICE_RESTART, "server restarting", Outcome.SHUTDOWN)
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
            await _refuse(ws, offer, p.Close.SERVICE_RESTART, "server restarting", "draining")
            return
        if not offer.protocol:
            await _refuse(ws, offer, p.Close.BAD_OFFER, "offer voice.v1 or voice.v1.binary", "no_protocol")
            return
        if offer.credential is None:
            await _refuse(ws, offer, p.Close.UNAUTHORIZED, "unauthorized", "no_credential")
            return
        try:
            identity = await self.auth.validate(offer.credential, source)
        except BusError:
            await _refuse(
                ws, offer, p.Close.TRY_AGAIN_LATER, "authentication unavailable", "auth_unavailable"
            )
            return
        if not identity.ok:
            log.info("connection refused", reason=identity.reason, source=source)
            code, reason = p.refusal_close(identity.reason)
            await _refuse(ws, offer, code, reason, identity.reason or "refused")
            return
        resume = ws.query_params.get("session")
        if resume is not None and not offer.resume_token:
            await _refuse(
                ws, offer, p.Close.RESUME_REFUSED, "resume needs a resume.<token> subprotocol", "resume"
            )
            return
        session = EdgeSession(ws, self.bus, self.settings, offer, identity, self.auth)
        self.sessions.add(session)
        try:
            await session.run(resume)
        finally:
            self.sessions.discard(session)


async def _refuse(ws: WebSocket, offer: p.Offer, code: int, reason: str, metric_reason: str) -> None:
    _refusals.add(1, {"reason": metric_reason})
    # Accept first so that the client sees the close code (a refused handshake shows only HTTP 403).
    await ws.accept(subprotocol=offer.selected)
    await ws.close(code, reason)


def create_app(settings: EdgeSettings, edge: Edge | None = None) -> FastAPI:
    edge = edge or Edge(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await edge.connect()
        yield
        if not edge.draining:
            await edge.shutdown()

    app = FastAPI(title="voice edge", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.edge = edge
    app.include_router(api_router(edge))

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await edge.handle(ws)

    for route in probe_routes(edge.ready):
        app.router.routes.append(route)
    if settings.avatar_dir is not None:
        app.mount(AVATAR_PATH, StaticFiles(directory=settings.avatar_dir), name="avatar")
    if settings.web_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.web_dir, html=True), name="web")
    return app
