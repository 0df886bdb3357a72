"""Entry point: ``voice-auth``, configured by environment variables only."""

from __future__ import annotations

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from voice_proto import Bus
from voice_proto.messages import SignInConfig
from voice_proto.ops import (
    Component,
    embedded_server,
    http_server,
    metrics_server,
    probe_routes,
    serve,
    start_service,
    stop_on_signals,
)

from .apikeys import ApiKeyStore
from .devissuer import DevIssuer, load_or_create_key
from .failures import FailureLimiter
from .jwks import JwksCache, http_source
from .service import AuthService
from .settings import AuthSettings, split
from .tokens import Issuer, JwtValidator

log = structlog.get_logger("voice_auth")


def build_validator(settings: AuthSettings, dev_issuer: DevIssuer | None) -> JwtValidator | None:
    issuers: list[Issuer] = []
    if settings.jwks_url:
        keys = JwksCache(
            http_source(settings.jwks_url),
            min_refresh_interval=settings.jwks_min_refresh,
            max_age=settings.jwks_max_age,
        )
        issuers.append(
            Issuer(
                issuer=settings.issuer,
                keys=keys,
                audiences=frozenset(split(settings.audience)),
                token_uses=frozenset(split(settings.token_use)),
            )
        )
    if dev_issuer is not None:
        issuers.append(dev_issuer.trusted())
    if not issuers:
        return None
    return JwtValidator(
        issuers,
        algorithms=split(settings.jwt_algorithms),
        leeway=settings.jwt_leeway,
        principal_claim=settings.principal_claim,
    )


def sign_in_config(settings: AuthSettings, keys: ApiKeyStore, dev_issuer: DevIssuer | None) -> SignInConfig:
    audiences = split(settings.audience)
    return SignInConfig(
        api_keys=bool(len(keys)),
        dev_issuer=dev_issuer is not None,
        oidc_authority=settings.issuer if settings.jwks_url else "",
        oidc_client_id=audiences[0] if settings.jwks_url else "",
        oidc_redirect_uri=settings.oidc_redirect_uri if settings.jwks_url else "",
    )


def http_routes(service_ready: Bus, dev_issuer: DevIssuer | None) -> list[BaseRoute]:
    async def ready() -> dict[str, bool]:
        return {"nats": service_ready.connected}

    routes: list[BaseRoute] = list(probe_routes(ready))
    if dev_issuer is not None:

        async def jwks(_request: Request) -> Response:
            return JSONResponse(dev_issuer.jwks(), headers={"Cache-Control": "max-age=300"})

        routes.append(Route("/.well-known/jwks.json", jwks))
    return routes


async def run(settings: AuthSettings) -> None:
    admins = frozenset(split(settings.admin_principals))
    keys = ApiKeyStore(settings.api_keys, admins=admins, ttl=settings.api_key_ttl)
    dev_issuer = None
    if settings.dev_issuer:
        dev_issuer = DevIssuer(load_or_create_key(settings.dev_key_path), ttl=settings.dev_token_ttl)
        log.warning(
            "dev issuer ON: anyone who reaches the edge can sign in under any name", kid=dev_issuer.kid
        )
    validator = build_validator(settings, dev_issuer)
    if not len(keys) and validator is None:
        log.warning("no API keys and no JWT issuer configured: every credential will be refused")
    bus = Bus.for_service(settings, "auth")
    service = AuthService(
        bus,
        keys,
        jwt=validator,
        dev_issuer=dev_issuer,
        limiter=FailureLimiter(burst=settings.failures_burst, per_minute=settings.failures_per_minute),
        admins=admins,
        admin_group=settings.admin_group,
        sign_in=sign_in_config(settings, keys, dev_issuer),
    )
    server = embedded_server(
        Starlette(routes=http_routes(bus, dev_issuer)), settings.http_host, settings.http_port, lifespan="off"
    )
    log.info(
        "auth starting",
        api_keys=len(keys),
        jwt_issuer=settings.issuer or None,
        dev_issuer=dev_issuer is not None,
        http_port=settings.http_port,
    )
    await serve(
        stop_on_signals(),
        Component("nats", start=bus.start, stop=bus.drain),
        Component("auth", start=service.start),
        http_server("http", server),
        metrics_server(settings),
    )


def main() -> None:
    start_service("auth", AuthSettings(), run)
