"""A clock whose time moves only when the test moves it, for code that takes its clock as an
argument (``voice_edge.clock.Clock``: the edge's credential watch and worker link).

Sleeps and timed waits on it never wait in real time: each is a timer that :meth:`FakeClock.advance`
fires in deadline order, letting the woken tasks run before it fires the next. Everything else
(the bus, sockets) stays real, so a test waits for an effect it expects with
:meth:`FakeClock.sleeping` (until the code under test waits on the clock again) or with its own
bounded real-time wait.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    def __init__(self, wall: float = 1_800_000_000.0) -> None:
        self._now = 0.0
        #: Unix seconds at monotonic 0.
        self._wall = wall
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed = asyncio.Condition()

    # --- voice_edge.clock.Clock -------------------------------------------------------------------

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall + self._now

    async def sleep(self, seconds: float) -> None:
        await self._timer(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        waiter = asyncio.ensure_future(event.wait())
        timer = asyncio.ensure_future(self._timer(timeout))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, timer):
                task.cancel()
            await asyncio.gather(waiter, timer, return_exceptions=True)
        return event.is_set()

    # --- for the test -----------------------------------------------------------------------------

    @property
    def sleepers(self) -> int:
        """Timers pending: sleeps and timed waits not yet over."""
        return sum(1 for _, _, future in self._timers if not future.done())

    async def sleeping(self, count: int = 1, timeout: float = 5.0) -> None:
        """Return once at least ``count`` timers are pending (real time, at most ``timeout`` s)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.sleepers >= count), timeout)

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` on, firing every timer due on the way, earliest first."""
        until = self._now + seconds
        while self._timers and self._timers[0][0] <= until:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await _settle()
        self._now = until
        await _settle()

    async def _timer(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + seconds, next(self._order), future))
        async with self._changed:
            self._changed.notify_all()
        await future


async def _settle() -> None:
    """Let the tasks a timer woke run until they wait again."""
    for _ in range(20):
        await asyncio.sleep(0)
