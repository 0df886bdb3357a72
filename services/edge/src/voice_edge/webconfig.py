"""``GET /api/config``: which sign-in modes the web app should offer.

A minimal stand-in written with the web client (issue 6): this edge knows only API keys, so the
answer is fixed. The JWT work (issue 5) replaces it with an answer taken from the auth service
(dev issuer on or off, Cognito settings); the web client reads both shapes (web/src/auth/config.ts).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse


def web_config_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/config")
    async def config() -> JSONResponse:
        return JSONResponse(
            {"auth": {"apiKey": True, "devIssuer": False, "cognito": None}},
            headers={"Cache-Control": "no-store"},
        )

    return router
