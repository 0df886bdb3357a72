"""Failed validations per source address: past a burst, a source is refused (``rate_limited``)
until its allowance refills, whatever it presents, so guessing keys or replaying junk tokens
from one address is slow and cheap for us (no JWKS fetch, no signature check)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from voice_proto.ratelimit import TokenBucket


class FailureLimiter:
    def __init__(
        self,
        *,
        burst: int = 20,
        per_minute: float = 20.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = burst
        self._rate = per_minute / 60.0
        self._max_sources = max_sources
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allowed(self, source: str) -> bool:
        bucket = self._buckets.get(source)
        return bucket is None or bucket.available() >= 1

    def failed(self, source: str) -> None:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(self._rate, self._burst, self._clock)
            if len(self._buckets) > self._max_sources:
                # The least recently failing source goes first; at worst it gets a fresh allowance.
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
        bucket.take(1)
