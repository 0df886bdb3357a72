"""Listens on bus channels and keeps what arrives, so a test can wait for a message it expects; on
a request channel it can also play the side that answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from voice_proto import Bus, Channel, Delivery


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def listen(
        self,
        bus: Bus,
        channel: Channel[Any],
        session_id: str | None = None,
        *,
        answer: Callable[[Any], Any | None] | None = None,
    ) -> Recorder:
        """Keep what arrives on ``channel``; ``answer`` gives the reply to each request (None: no reply)."""

        async def keep(message: Any, delivery: Delivery) -> None:
            async with self._changed:
                self.messages.append((delivery.subject, message))
                self._changed.notify_all()
            if answer is not None and (reply := answer(message)) is not None:
                await bus.respond(channel, delivery, reply)

        await bus.subscribe(channel, keep, session_id=session_id)
        await bus.flush()
        return self

    def of_type[T](self, kind: type[T], session_id: str | None = None) -> list[T]:
        """What arrived of ``kind`` (only on the subjects of ``session_id`` when given)."""
        token = f".{session_id}." if session_id else ""
        return [
            message
            for subject, message in self.messages
            if isinstance(message, kind) and (not token or token in f"{subject}.")
        ]

    async def wait_for[T](
        self,
        kind: type[T],
        predicate: Callable[[T], bool] = lambda _m: True,
        *,
        session_id: str | None = None,
        timeout: float = 5.0,
    ) -> T:
        """The first message of ``kind`` that satisfies ``predicate`` (already received or to come)."""

        def found() -> T | None:
            return next((msg for msg in self.of_type(kind, session_id) if predicate(msg)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        result = found()
        assert result is not None
        return result
