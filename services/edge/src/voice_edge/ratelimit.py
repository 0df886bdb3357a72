"""A token bucket: audio may arrive as fast as it plays, plus a burst allowance."""

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

    def take(self, amount: float) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True
