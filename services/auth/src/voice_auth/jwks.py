"""Signing keys of a token issuer, from its JWKS, cached by key id.

Keys are fetched on first use and again when they are older than ``max_age``. A token whose
``kid`` is not in the cache triggers a refresh (a rotation published a new key), but at most once
per ``min_refresh_interval``, so a flood of tokens with invented key ids costs the issuer nothing.
Concurrent refreshes are coalesced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger("voice_auth.jwks")

#: Returns the JWKS document (``{"keys": [...]}``).
type JwksSource = Callable[[], Awaitable[dict[str, Any]]]


class JwksUnavailable(Exception):
    """The key set could not be fetched or parsed (and no keys are cached)."""


@dataclass(frozen=True)
class SigningKey:
    key: Any
    #: ``RSA``, ``EC``, ``OKP``.
    key_type: str
    #: The ``alg`` the JWKS declares for the key, if it does.
    algorithm: str | None


def parse_jwks(document: dict[str, Any]) -> dict[str, SigningKey]:
    """The signature keys of a JWKS by key id; keys PyJWT cannot use are skipped."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS is an object with a `keys` list")
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not entry.get("kid"):
            continue
        try:
            parsed = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            log.info("JWKS key skipped", kid=str(entry.get("kid")), error=str(exc))
            continue
        keys[str(entry["kid"])] = SigningKey(parsed.key, parsed.key_type or "", entry.get("alg"))
    return keys


def http_source(url: str, *, timeout: float = 5.0) -> JwksSource:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    return fetch


class JwksCache:
    def __init__(
        self,
        source: JwksSource,
        *,
        min_refresh_interval: float = 30.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._min_refresh_interval = min_refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        #: How many times the source was asked (for tests and logs).
        self.fetches = 0

    async def key(self, kid: str) -> SigningKey | None:
        """The key with this id, refreshing the set when it is stale or the id is new to it.

        Raises JwksUnavailable when no key was ever fetched.
        """
        if self._stale():
            await self._refresh()
        found = self._keys.get(kid)
        if found is None and await self._refresh():
            found = self._keys.get(kid)
        if found is None and not self._keys:
            raise JwksUnavailable("no signing keys could be fetched")
        return found

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age

    async def _refresh(self) -> bool:
        """Fetch the set again; False when rate-limited or when the fetch failed (old keys stay)."""
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh_interval:
                # Tried a moment ago (perhaps by a caller we waited for): what we have is current.
                return False
            self._attempted_at = now
            self.fetches += 1
            try:
                document = await self._source()
                keys = parse_jwks(document)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("cannot fetch the JWKS", error=str(exc), keys_kept=len(self._keys))
                return False
            added = sorted(set(keys) - set(self._keys))
            if added:
                log.info("JWKS keys loaded", kids=added, total=len(keys))
            self._keys = keys
            self._fetched_at = now
            return True
