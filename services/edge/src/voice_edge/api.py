"""``/api``: what the web app asks the edge over plain HTTP, same-origin.

- ``GET /api/config``: which sign-in modes exist (asked of the auth service over ``auth.config``),
  how to open the WebSocket, the avatar model the operator configured (or null), and whether
  conversations are recorded (``recording``: whether a client may opt out, where the recordings
  API is; or null).
- ``POST /api/dev/token`` ``{"username": "..."}``: a short-lived JWT from the auth service's dev
  issuer (``auth.dev.token``), for the web app's dev sign-in; 404 when the dev issuer is off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from voice_proto import Bus, BusError, channels
from voice_proto import messages as m

from . import protocol as p


class DevTokenBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {"error": p.ErrorCode.AUTH_UNAVAILABLE}, status_code=503, headers={"Retry-After": "2"}
    )


def api_router(
    bus: Callable[[], Bus],
    *,
    timeout: float,
    avatar_model: str | None = None,
    recording: dict[str, Any] | None = None,
) -> APIRouter:
    """``bus()`` gives the edge's connection (raises voice_proto.BusError before it connects);
    ``timeout``: seconds to wait for the auth service's answer; ``avatar_model``: the URL of the
    operator's avatar model (EdgeSettings.avatar_url), None for the web app's built-in head;
    ``recording``: ``{"optOut": bool, "url": str}`` when conversations are recorded, else None."""
    router = APIRouter(prefix="/api")

    @router.get("/config")
    async def config() -> JSONResponse:
        try:
            sign_in: m.SignInConfig = await bus().request(
                channels.AUTH_CONFIG, m.SignInConfigRequest(), timeout=timeout
            )
        except BusError:
            return _unavailable()
        oidc: dict[str, Any] | None = None
        if sign_in.oidc_authority:
            oidc = {
                "authority": sign_in.oidc_authority,
                "clientId": sign_in.oidc_client_id,
                "redirectUri": sign_in.oidc_redirect_uri or None,
            }
        return JSONResponse(
            {
                "signIn": {
                    "apiKey": sign_in.api_keys,
                    "dev": {"tokenUrl": "/api/dev/token"} if sign_in.dev_issuer else None,
                    "oidc": oidc,
                },
                "websocket": {
                    "path": "/ws",
                    "protocols": list(p.PROTOCOLS),
                    "credential": ["bearer.<jwt>", "key.<api-key>"],
                },
                "avatar": {"model": avatar_model} if avatar_model else None,
                "recording": recording,
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/dev/token")
    async def dev_token(body: DevTokenBody) -> JSONResponse:
        try:
            reply: m.DevTokenReply = await bus().request(
                channels.AUTH_DEV_TOKEN,
                m.DevTokenRequest(username=body.username),
                timeout=timeout,
            )
        except BusError:
            return _unavailable()
        if not reply.ok:
            status = 404 if reply.reason == m.DevTokenRefusal.DISABLED else 400
            return JSONResponse({"error": reply.reason}, status_code=status)
        return JSONResponse(
            {"token": reply.token, "tokenType": "Bearer", "expiresAt": reply.expires_at},
            headers={"Cache-Control": "no-store"},
        )

    return router
