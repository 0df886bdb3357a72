"""The session's state in the bus (``voice_proto.session_state``), kept by the edge that carries it.

Writes are coalesced: the session says its state ``changed`` (a finished turn) and one task writes
the latest snapshot, so the voice path never waits for JetStream. The bucket is best effort here:
when it cannot be reached the call goes on, and only a move to another edge loses the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats.errors
import structlog
from voice_proto import messages as m
from voice_proto.session_state import SessionStore

_FAILURES = (nats.errors.Error, TimeoutError, OSError)


class StateKeeper:
    def __init__(
        self, store: SessionStore | None, session_id: str, log: structlog.stdlib.BoundLogger
    ) -> None:
        self._store = store
        self._session_id = session_id
        self._log = log
        self._changed = asyncio.Event()

    async def load(self) -> m.SessionState | None:
        """The state the session's previous edge left (None when there is none or it is unreachable)."""
        if self._store is None:
            return None
        try:
            return await self._store.get(self._session_id)
        except _FAILURES as exc:
            self._log.warning("cannot read the session's state", error=str(exc))
            return None

    def changed(self) -> None:
        self._changed.set()

    async def run(self, snapshot: Callable[[], m.SessionState]) -> None:
        """Write the latest ``snapshot`` after each change, until cancelled."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            await self.save(snapshot())

    async def save(self, state: m.SessionState) -> None:
        if self._store is None:
            return
        try:
            await self._store.put(self._session_id, state)
        except _FAILURES as exc:
            self._log.warning("cannot write the session's state", error=str(exc))

    async def forget(self) -> None:
        """The session ended: nobody will move it again."""
        if self._store is None:
            return
        try:
            await self._store.delete(self._session_id)
        except _FAILURES as exc:
            self._log.warning("cannot delete the session's state", error=str(exc))
