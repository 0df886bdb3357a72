"""Time as the session's side jobs see it, passed in so that their tests can run on a fake clock.

``monotonic()`` measures intervals (heartbeats, the error budget); ``time()`` is wall-clock Unix
seconds, the time credentials expire in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` seconds pass; True when it is set."""
        ...


class SystemClock:
    """The real clock."""

    # The functions themselves: the audio budget reads the clock on every frame.
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), max(0.0, timeout))
        return event.is_set()


SYSTEM_CLOCK: Clock = SystemClock()
