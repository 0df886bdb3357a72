"""Asking ``auth.validate`` from any service: the credential a caller presented, a client that
caches positive answers until they expire, and the one rule of who may read a session's records.

The edge (WebSocket subprotocols), the transcripts API and any other HTTP service (an
``Authorization`` header) all go through this client, so every credential is checked by the auth
service in one way. An HTTP API takes its caller with ``Depends(caller)``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import Enum

from opentelemetry import trace
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from . import channels
from . import messages as m
from .bus import Bus, BusError, messaging_attributes
from .telemetry_names import Attr, Span

tracer = trace.get_tracer("voice_proto.auth")

#: The role that may read every principal's sessions.
ADMIN_ROLE = "admin"

#: Refusal reasons that are the server's fault, not the caller's: try again later.
UNAVAILABLE_REASONS = frozenset({m.AuthRefusal.JWKS_UNAVAILABLE})


class Refusal(Enum):
    """What a refused credential means for the caller; each transport has its own codes for it
    (the edge's WebSocket close codes, HTTP statuses)."""

    UNAUTHORIZED = "unauthorized"  # the credential is no good: sign in again
    RATE_LIMITED = "rate_limited"  # too many failed sign-ins from this address: wait
    UNAVAILABLE = "unavailable"  # the credential cannot be checked now: try again shortly


def classify_refusal(reason: str) -> Refusal:
    """The class of an ``auth.validate`` refusal reason (``expired``, ``rate_limited``, ...)."""
    if reason == m.AuthRefusal.RATE_LIMITED:
        return Refusal.RATE_LIMITED
    if reason in UNAVAILABLE_REASONS:
        return Refusal.UNAVAILABLE
    return Refusal.UNAUTHORIZED


_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Credential:
    scheme: m.CredentialScheme
    value: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credential({self.scheme.value}, <redacted>)"


def credential_from_header(authorization: str | None) -> Credential | None:
    """``Authorization: Bearer <jwt>`` or ``Authorization: ApiKey <key>`` (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    match scheme.lower():
        case "bearer":
            return Credential(m.CredentialScheme.BEARER, value)
        case "apikey":
            return Credential(m.CredentialScheme.API_KEY, value)
    return None


def may_read(identity: m.ValidateReply, owner: str) -> bool:
    """A principal reads its own sessions; the admin role reads all."""
    if not identity.ok:
        return False
    return ADMIN_ROLE in identity.roles or (bool(owner) and owner == identity.principal)


def api_error(status: int, error: str) -> HTTPException:
    """An HTTP API error with the body ``{"detail": {"error": error}}`` (error: a stable code)."""
    # FastAPI serialises any detail; starlette's stub says str.
    return HTTPException(status, detail={"error": error})  # type: ignore[arg-type]


def listed_principal(identity: m.ValidateReply, asked: str | None) -> str | None:
    """Whose conversations a listing may hold, by the rule of ``may_read``: an admin's listing holds
    ``asked`` (None: everyone's), anyone else's only their own. Raises ``api_error(403, "forbidden")``
    when someone who is not an admin asks for another principal's."""
    if ADMIN_ROLE in identity.roles:
        return asked
    if asked not in (None, identity.principal):
        raise api_error(403, "forbidden")
    return identity.principal


class AuthClient:
    """Asks auth.validate, and reuses a positive answer until it expires (or the cache limit)."""

    def __init__(self, bus: Bus, *, timeout: float, cache_seconds: float) -> None:
        self._bus = bus
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[m.ValidateReply, float]] = {}

    async def validate(self, credential: Credential, source: str) -> m.ValidateReply:
        """The auth service's answer; raises voice_proto.BusError when it cannot be asked."""
        # Keyed by a hash, so the cache holds no credential in the clear.
        key = hashlib.sha256(f"{credential.scheme.value}\0{credential.value}".encode()).digest()
        now = time.time()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        request = m.ValidateRequest(scheme=credential.scheme, credential=credential.value, source=source)
        with tracer.start_as_current_span(
            Span.AUTH_VALIDATE,
            kind=trace.SpanKind.CLIENT,
            attributes={
                Attr.AUTH_SCHEME: credential.scheme.value,
                **messaging_attributes(channels.AUTH_VALIDATE, "send"),
            },
        ) as span:
            reply: m.ValidateReply = await self._bus.request(
                channels.AUTH_VALIDATE, request, timeout=self._timeout
            )
            span.set_attribute(Attr.AUTH_OUTCOME, "ok" if reply.ok else reply.reason or "refused")
        if reply.ok and self._cache_seconds > 0:
            until = now + self._cache_seconds
            if reply.expires_at:
                until = min(until, reply.expires_at)
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (reply, until)
        return reply


class HttpRefusal(Exception):
    """Why an HTTP request's credential does not do, as the status and JSON body to answer with."""

    def __init__(self, status: int, error: str, reason: str = "") -> None:
        super().__init__(f"{status} {error} {reason}".strip())
        self.status = status
        self.body = {"error": error, "reason": reason} if reason else {"error": error}
        self.headers: dict[str, str] = {}
        if status == 401:
            self.headers["WWW-Authenticate"] = "Bearer"
        elif status in (429, 503):
            self.headers["Retry-After"] = "60" if status == 429 else "2"


async def http_caller(auth: AuthClient, authorization: str | None, source: str) -> m.ValidateReply:
    """Who calls an HTTP API, from its ``Authorization`` header; raises HttpRefusal: 401 for a
    missing or refused credential (with the auth service's reason), 429 when the address is
    rate-limited, 503 when auth cannot answer."""
    credential = credential_from_header(authorization)
    if credential is None:
        raise HttpRefusal(401, "unauthorized", "no_credential")
    try:
        reply = await auth.validate(credential, source)
    except BusError:
        raise HttpRefusal(503, "auth_unavailable") from None
    if reply.ok:
        return reply
    status, error = _HTTP_REFUSALS[classify_refusal(reply.reason)]
    raise HttpRefusal(status, error, reply.reason)


_HTTP_REFUSALS = {
    Refusal.UNAUTHORIZED: (401, "unauthorized"),
    Refusal.RATE_LIMITED: (429, "rate_limited"),
    Refusal.UNAVAILABLE: (503, "auth_unavailable"),
}


async def caller(request: HTTPConnection) -> m.ValidateReply:
    """The caller of an HTTP API, as a FastAPI dependency (``Annotated[m.ValidateReply,
    Depends(caller)]``): the credential of its ``Authorization`` header checked by
    ``request.app.state.auth`` (an AuthClient), with the client's address as the source.

    Raises HTTPException with the HttpRefusal's status, headers and ``{"error", "reason"}`` as
    the detail (FastAPI answers ``{"detail": {...}}``).
    """
    auth: AuthClient = request.app.state.auth
    source = request.client.host if request.client else ""
    try:
        return await http_caller(auth, request.headers.get("authorization"), source)
    except HttpRefusal as refusal:
        # FastAPI renders any JSON as the detail; Starlette's signature says str.
        raise HTTPException(refusal.status, detail=refusal.body, headers=refusal.headers) from None  # type: ignore[arg-type]
