"""Asks auth.validate, and reuses a positive answer until it expires (or the cache limit)."""

from __future__ import annotations

import hashlib
import time

from voice_proto import Bus, channels
from voice_proto import messages as m

from .protocol import Credential

_MAX_ENTRIES = 10_000


class AuthClient:
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
        reply: m.ValidateReply = await self._bus.request(
            channels.AUTH_VALIDATE, request, timeout=self._timeout
        )
        if reply.ok and self._cache_seconds > 0:
            until = now + self._cache_seconds
            if reply.expires_at:
                until = min(until, reply.expires_at)
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (reply, until)
        return reply
