"""The edge's HTTP side assembled: ``/ws``, ``/api``, probes, metrics, and the built web app at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket
from fastapi.staticfiles import StaticFiles
from voice_proto.ops import probe_routes, untraced

from .api import api_router
from .gateway import Edge
from .settings import AVATAR_PATH, EdgeSettings


def create_app(settings: EdgeSettings, edge: Edge | None = None) -> FastAPI:
    edge = edge or Edge(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await edge.connect()
        yield
        if not edge.draining:
            await edge.shutdown()

    app = FastAPI(
        title="voice edge", lifespan=lifespan, docs_url=None, redoc_url=None, telemetry={"exclude": untraced}
    )
    app.state.edge = edge
    app.include_router(
        api_router(
            edge.connected_bus,
            timeout=settings.auth_timeout,
            avatar_model=settings.avatar_url(),
            recording=(
                {"optOut": settings.recording_opt_out, "url": settings.recordings_url}
                if settings.recording
                else None
            ),
        )
    )

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
