"""A session's credential over its life: expiry notice, renewal, API-key recheck, the end.

It talks back to its session only through two callables: ``tell`` sends the client an event,
``close`` asks the session to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
import structlog
from voice_proto import BusError
from voice_proto import messages as m
from voice_proto.auth import Credential

from . import protocol as p
from .clock import SYSTEM_CLOCK, Clock
from .outcome import CloseRequest, Outcome, RequestClose, Tell

#: Seconds until an API key is checked again when the auth service could not be asked.
_RECHECK_AFTER_OUTAGE = 30.0

type Validate = Callable[[Credential], Awaitable[m.ValidateReply]]


class CredentialWatch:
    """Ends the session when its credential expires and was not renewed.

    A bearer session is told ``expiring`` ``renew_notice`` seconds ahead so the client can send a
    fresh token (:meth:`renew`). An API key's answer also expires (so a revoked key stops
    working): it is checked again through ``validate``, which raises voice_proto.BusError when
    the auth service cannot be asked.
    """

    def __init__(
        self,
        identity: m.ValidateReply,
        credential: Credential | None,
        *,
        validate: Validate,
        renew_notice: float,
        tell: Tell,
        close: RequestClose,
        clock: Clock = SYSTEM_CLOCK,
        log: structlog.stdlib.BoundLogger | None = None,
    ) -> None:
        #: The auth service's answer for the credential held now.
        self.identity = identity
        #: The offered credential, or the last token the client renewed it with.
        self.credential = credential
        self._validate = validate
        self._renew_notice = renew_notice
        self._tell = tell
        self._close = close
        self._clock = clock
        #: Bound to the session's ids (the session binds it again once it has one).
        self.log = log or structlog.get_logger("voice_edge.credentials")
        self._renewed = asyncio.Event()

    def bearer_expiry(self) -> float:
        """Unix seconds when the bearer token expires; 0 for an API key."""
        if self.credential is not None and self.credential.scheme is m.CredentialScheme.BEARER:
            return self.identity.expires_at
        return 0.0

    async def renew(self, credential: Credential) -> None:
        """A fresh token from the client: the session goes on under it if it names the same principal."""
        try:
            reply = await self._validate(credential)
        except BusError:
            await self._error(p.ErrorCode.AUTH_UNAVAILABLE, "cannot check the token now; try again")
            return
        if not reply.ok:
            self.log.info("token renewal refused", reason=reply.reason)
            await self._error(p.ErrorCode.AUTH_REFUSED, f"token refused: {reply.reason}")
            return
        if reply.principal != self.identity.principal:
            await self._error(p.ErrorCode.AUTH_REFUSED, "the token is for another principal")
            return
        self.identity, self.credential = reply, credential
        self._renewed.set()
        await self._tell(p.AuthEvent("refreshed", self.bearer_expiry()))

    async def run(self) -> None:
        """Watch until the credential lapses (then ``close``), or forever for one that never expires."""
        while expires_at := self.identity.expires_at:
            self._renewed.clear()  # a renewal from here on wakes the waits below
            notice_at = expires_at - self._renew_notice
            if self.bearer_expiry() and self._clock.time() < notice_at:
                if await self._until(notice_at):
                    continue
                await self._tell(p.AuthEvent("expiring", expires_at))
            if await self._until(expires_at):
                continue
            if await self._api_key_still_good():
                continue
            scheme = self.credential.scheme.value if self.credential else ""
            self.log.info("credential expired", scheme=scheme)
            await self._error(p.ErrorCode.AUTH_EXPIRED, "the credential expired; sign in again")
            self._close(CloseRequest(p.Close.AUTH_EXPIRED, "credential expired", Outcome.EXPIRED))
            return

    async def _until(self, when: float) -> bool:
        """Wait until the wall-clock time ``when``; True if the credential was renewed meanwhile."""
        return await self._clock.wait(self._renewed, when - self._clock.time())

    async def _api_key_still_good(self) -> bool:
        """Ask again for an API key whose answer expired; True (with the new answer) if it still holds."""
        if self.credential is None or self.credential.scheme is not m.CredentialScheme.API_KEY:
            return False
        try:
            reply = await self._validate(self.credential)
        except BusError:
            # Auth is down: not the client's fault, ask again shortly.
            self.identity = msgspec.structs.replace(
                self.identity, expires_at=self._clock.time() + _RECHECK_AFTER_OUTAGE
            )
            return True
        if reply.ok and reply.expires_at > self._clock.time():
            self.identity = reply
            return True
        return False

    async def _error(self, code: p.ErrorCode, message: str) -> None:
        await self._tell(p.ErrorEvent(code, message))
