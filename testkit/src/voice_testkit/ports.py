"""The two callables an edge session's side jobs talk back through, recorded for a test."""

from __future__ import annotations

import asyncio

from voice_edge import protocol as p
from voice_edge.outcome import CloseRequest


class RecordedSession:
    """Stands where the session stands for ``voice_edge``'s ``CredentialWatch`` and ``WorkerLink``:
    keeps every event they tell the client and every close they ask for, in order."""

    def __init__(self) -> None:
        self.told: list[p.ServerEvent] = []
        self.closes: list[CloseRequest] = []
        self._closed = asyncio.Event()

    async def tell(self, event: p.ServerEvent) -> None:
        self.told.append(event)

    def close(self, request: CloseRequest) -> None:
        self.closes.append(request)
        self._closed.set()

    async def closed(self, timeout: float = 5.0) -> CloseRequest:
        """The first close asked for (waits for it, real time, at most ``timeout`` seconds)."""
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.closes[0]
