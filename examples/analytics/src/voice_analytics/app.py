"""The HTTP side: statistics for the admin role (checked through auth.validate, like every API of
the platform), plus the probes every service has (its metrics are on a port of their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from voice_proto import messages as m
from voice_proto.auth import ADMIN_ROLE, AuthClient, caller
from voice_proto.ops import ReadyCheck, probe_routes, untraced

from .stats import StatsStore


async def admin(reply: Annotated[m.ValidateReply, Depends(caller)]) -> m.ValidateReply:
    """The caller (see voice_proto.auth.caller), if it has the admin role."""
    if ADMIN_ROLE not in reply.roles:
        raise HTTPException(403, detail={"error": "forbidden"})
    return reply


Admin = Annotated[m.ValidateReply, Depends(admin)]


def create_app(store: StatsStore, auth: AuthClient, ready: ReadyCheck) -> FastAPI:
    app = FastAPI(
        title="voice analytics (example)", docs_url="/docs", redoc_url=None, telemetry={"exclude": untraced}
    )
    app.state.auth = auth

    @app.get("/stats/sessions")
    async def recent(_caller: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JSONResponse:
        return JSONResponse({"sessions": [s.as_json() for s in await store.recent(limit)]})

    @app.get("/stats/sessions/{session_id}")
    async def one(session_id: str, _caller: Admin) -> JSONResponse:
        stats = await store.session(session_id)
        if stats is None:
            raise HTTPException(404, detail={"error": "not_found"})
        return JSONResponse(stats.as_json())

    for route in probe_routes(ready):
        app.router.routes.append(route)
    return app
