"""The bus side: answers auth.validate, auth.dev.token and auth.config in a queue group."""

from __future__ import annotations

import time

import structlog
from nats.aio.subscription import Subscription
from opentelemetry import metrics, trace
from voice_proto import Bus, Delivery, channels
from voice_proto.auth import ADMIN_ROLE, UNAVAILABLE_REASONS
from voice_proto.bus import messaging_attributes
from voice_proto.messages import (
    AuthRefusal,
    CredentialScheme,
    DevTokenRefusal,
    DevTokenReply,
    DevTokenRequest,
    SignInConfig,
    SignInConfigRequest,
    ValidateReply,
    ValidateRequest,
)
from voice_proto.telemetry import counter, histogram
from voice_proto.telemetry_names import AUTH_BUCKETS, Attr, Metrics, Span

from .apikeys import ApiKeyStore
from .devissuer import BadUsername, DevIssuer
from .failures import FailureLimiter
from .tokens import JwtValidator, Refused

log = structlog.get_logger("voice_auth")
tracer = trace.get_tracer("voice_auth")
_meter = metrics.get_meter("voice_auth")
_validations = counter(_meter, Metrics.AUTH_VALIDATIONS)
_duration = histogram(_meter, Metrics.AUTH_VALIDATION_DURATION, AUTH_BUCKETS)


class AuthService:
    def __init__(
        self,
        bus: Bus,
        api_keys: ApiKeyStore,
        *,
        jwt: JwtValidator | None = None,
        dev_issuer: DevIssuer | None = None,
        limiter: FailureLimiter | None = None,
        admins: frozenset[str] = frozenset(),
        admin_group: str = "admin",
        sign_in: SignInConfig | None = None,
    ) -> None:
        self._bus = bus
        self._api_keys = api_keys
        self._jwt = jwt
        self._dev_issuer = dev_issuer
        self._limiter = limiter or FailureLimiter()
        self._admins = admins
        self._admin_group = admin_group
        self._sign_in = sign_in or SignInConfig(
            api_keys=bool(len(api_keys)), dev_issuer=dev_issuer is not None
        )
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        queue = channels.AUTH_QUEUE
        self._subscriptions = [
            await self._bus.subscribe(channels.AUTH_VALIDATE, self._on_validate, queue=queue),
            await self._bus.subscribe(channels.AUTH_DEV_TOKEN, self._on_dev_token, queue=queue),
            await self._bus.subscribe(channels.AUTH_CONFIG, self._on_config, queue=queue),
        ]

    async def validate(self, request: ValidateRequest) -> ValidateReply:
        if not self._limiter.allowed(request.source):
            return ValidateReply(ok=False, reason=AuthRefusal.RATE_LIMITED)
        reply = await self._check(request)
        if not reply.ok and reply.reason not in UNAVAILABLE_REASONS:
            self._limiter.failed(request.source)
        return reply

    async def _check(self, request: ValidateRequest) -> ValidateReply:
        if request.scheme is CredentialScheme.API_KEY:
            return self._api_keys.check(request.credential)
        if request.scheme is CredentialScheme.BEARER and self._jwt:
            try:
                verified = await self._jwt.verify(request.credential)
            except Refused as refused:
                return ValidateReply(ok=False, reason=refused.reason)
            admin = verified.principal in self._admins or self._admin_group in verified.groups
            return ValidateReply(
                ok=True,
                principal=verified.principal,
                roles=[ADMIN_ROLE] if admin else [],
                expires_at=verified.expires_at,
            )
        return ValidateReply(ok=False, reason=AuthRefusal.UNSUPPORTED_SCHEME)

    async def _on_validate(self, request: ValidateRequest, delivery: Delivery) -> None:
        scheme = request.scheme.value
        with tracer.start_as_current_span(
            Span.AUTH_VALIDATE,
            context=delivery.trace_context(),
            kind=trace.SpanKind.SERVER,
            attributes={Attr.AUTH_SCHEME: scheme, **messaging_attributes(channels.AUTH_VALIDATE, "process")},
        ) as span:
            started = time.perf_counter()
            reply = await self.validate(request)
            _duration.record(time.perf_counter() - started, {"scheme": scheme})
            outcome = "ok" if reply.ok else reply.reason or "refused"
            _validations.add(1, {"scheme": scheme, "outcome": outcome})
            span.set_attribute(Attr.AUTH_OUTCOME, outcome)
            if reply.reason in UNAVAILABLE_REASONS:
                span.set_status(trace.StatusCode.ERROR, outcome)
            await self._reply_validated(request, delivery, reply)

    async def _reply_validated(
        self, request: ValidateRequest, delivery: Delivery, reply: ValidateReply
    ) -> None:
        if not reply.ok:
            # Never the credential itself: only what was refused, why and for whom.
            log.info(
                "credential refused", scheme=request.scheme.value, reason=reply.reason, source=request.source
            )
        await self._bus.respond(channels.AUTH_VALIDATE, delivery, reply)

    async def _on_dev_token(self, request: DevTokenRequest, delivery: Delivery) -> None:
        if self._dev_issuer is None:
            reply = DevTokenReply(ok=False, reason=DevTokenRefusal.DISABLED)
        else:
            try:
                token, expires_at = self._dev_issuer.issue(request.username)
            except BadUsername:
                reply = DevTokenReply(ok=False, reason=DevTokenRefusal.BAD_USERNAME)
            else:
                log.info("dev token issued", username=request.username)
                reply = DevTokenReply(ok=True, token=token, expires_at=expires_at)
        await self._bus.respond(channels.AUTH_DEV_TOKEN, delivery, reply)

    async def _on_config(self, _request: SignInConfigRequest, delivery: Delivery) -> None:
        await self._bus.respond(channels.AUTH_CONFIG, delivery, self._sign_in)
