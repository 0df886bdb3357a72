"""The bus side: answers auth.validate in a queue group."""

from __future__ import annotations

import structlog
from nats.aio.subscription import Subscription
from voice_proto import Bus, Delivery, channels
from voice_proto.messages import CredentialScheme, ValidateReply, ValidateRequest

from .apikeys import ApiKeyStore

log = structlog.get_logger("voice_auth")


class AuthService:
    def __init__(self, bus: Bus, api_keys: ApiKeyStore) -> None:
        self._bus = bus
        self._api_keys = api_keys
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe(
            channels.AUTH_VALIDATE, self._on_validate, queue=channels.AUTH_VALIDATE.queue_group
        )

    def validate(self, request: ValidateRequest) -> ValidateReply:
        if request.scheme is CredentialScheme.API_KEY:
            return self._api_keys.check(request.credential)
        return ValidateReply(ok=False, reason="unsupported_scheme")

    async def _on_validate(self, request: ValidateRequest, delivery: Delivery) -> None:
        reply = self.validate(request)
        if not reply.ok:
            # Never the credential itself: only what was refused, why and for whom.
            log.info(
                "credential refused", scheme=request.scheme.value, reason=reply.reason, source=request.source
            )
        await self._bus.respond(channels.AUTH_VALIDATE, delivery, reply)
