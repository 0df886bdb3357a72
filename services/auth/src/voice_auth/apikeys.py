"""API keys: parsed once from the settings, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from voice_proto.messages import AuthRefusal, ValidateReply


class ApiKeySpecError(ValueError):
    pass


@dataclass(frozen=True)
class _Key:
    principal: str
    digest: bytes


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def default_principal(key: str) -> str:
    """A stable, non-secret name for a bare key: enough of its hash to tell keys apart in logs."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


class ApiKeyStore:
    def __init__(self, spec: str, *, admins: frozenset[str] = frozenset(), ttl: float = 300.0) -> None:
        self._keys = [self._parse(item.strip()) for item in spec.split(",") if item.strip()]
        self._admins = admins
        self._ttl = ttl

    @staticmethod
    def _parse(item: str) -> _Key:
        principal, sep, key = item.partition("=")
        if not sep:
            principal, key = default_principal(item), item
        if not key or not principal:
            raise ApiKeySpecError("each API key is `key` or `principal=key`, neither part empty")
        return _Key(principal.strip(), _digest(key.strip()))

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, presented: str) -> ValidateReply:
        # Compare digests (equal length, so nothing about the key's length leaks) against every key,
        # without stopping at the first match.
        digest = _digest(presented)
        match: _Key | None = None
        for key in self._keys:
            if hmac.compare_digest(key.digest, digest):
                match = key
        if match is None:
            return ValidateReply(ok=False, reason=AuthRefusal.UNKNOWN_KEY)
        roles = ["admin"] if match.principal in self._admins else []
        return ValidateReply(
            ok=True, principal=match.principal, roles=roles, expires_at=time.time() + self._ttl
        )
