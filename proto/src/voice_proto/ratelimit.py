"""A token bucket: something may happen at a steady rate, plus a burst allowance (audio as fast
as it plays at the edge; failed sign-ins per source at the auth service)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = burst
        self._tokens = burst
        self._clock = clock
        self._last = clock()

    def available(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return self._tokens

    def take(self, amount: float) -> bool:
        if amount > self.available():
            return False
        self._tokens -= amount
        return True
