"""A spoken conversation with the assistant through the browser protocol, for tests and benchmarks.

A task reads the client all the time (as a browser does while the microphone streams), stamping
each event with the loop time it arrived, so a test can stream speech and wait for what answers it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .client import Closed, VoiceClient
from .speech import silence, stream

type Event = dict[str, Any]


@dataclass(frozen=True)
class Exchange:
    """One user turn and the assistant's answer to it, as the client saw them."""

    turn_id: int
    heard: str
    #: The assistant's SPECULATIVE and FINAL text, and whether the FINAL says it was interrupted.
    planned: str
    said: str
    interrupted: bool
    #: Bytes of assistant audio between its SPECULATIVE text and the end of its turn.
    audio_bytes: int
    tool_calls: list[Event]
    #: Loop time the last voiced frame was sent, and the first audio of the answer arrived.
    voiced_end_at: float
    first_audio_at: float | None


class Conversation:
    def __init__(self, client: VoiceClient) -> None:
        self.client = client
        #: (arrival loop time, event) of everything received, in order.
        self.events: list[tuple[float, Event]] = []
        self.closed: Closed | None = None
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        async for event in self.client.until_closed():
            async with self._changed:
                self.events.append((loop.time(), event))
                self._changed.notify_all()
        self.closed = self.client.closed_by
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Event], bool], *, after: int = 0, timeout: float = 60.0
    ) -> int:
        """Index of the first event from ``after`` on that satisfies ``predicate`` (waits for it)."""

        def found() -> int | None:
            return next(
                (i for i in range(after, len(self.events)) if predicate(self.events[i][1])),
                None,
            )

        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: found() is not None or self.closed is not None), timeout
                )
            except TimeoutError:
                seen = [e.get("event") for _, e in self.events[after:] if e.get("event") != "media"]
                raise TimeoutError(f"not within {timeout}s; events since: {seen}") from None
        index = found()
        if index is None:
            raise AssertionError(f"the connection closed: {self.closed}")
        return index

    def of(self, name: str, *, after: int = 0, **fields: Any) -> list[Event]:
        return [
            e
            for _, e in self.events[after:]
            if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
        ]

    async def wait_turn_end(
        self, role: str, *, after: int = 0, timeout: float = 60.0, **fields: Any
    ) -> Event:
        index = await self.wait_for(
            lambda e: (
                e.get("event") == "turn"
                and e.get("state") == "ended"
                and e.get("role") == role
                and all(e.get(k) == v for k, v in fields.items())
            ),
            after=after,
            timeout=timeout,
        )
        return self.events[index][1]

    async def say(self, pcm: bytes, *, then_silence: float = 1.0) -> float:
        """Speak ``pcm`` in real time, then keep the microphone open on silence; returns the loop
        time the last voiced frame was sent."""
        voiced_end = await stream(self.client, pcm)
        await stream(self.client, silence(then_silence))
        return voiced_end

    async def exchange(self, pcm: bytes, *, timeout: float = 90.0) -> Exchange:
        """Say ``pcm`` and wait for the whole answer (through the end of the assistant's turn)."""
        start = len(self.events)
        voiced_end = await self.say(pcm)
        heard_at = await self.wait_for(
            lambda e: e.get("event") == "transcript" and e["role"] == "user" and e["stage"] == "final",
            after=start,
            timeout=timeout,
        )
        return await self.answer_to(self.events[heard_at][1], voiced_end, after=start, timeout=timeout)

    async def answer_to(
        self, heard: Event, voiced_end: float, *, after: int, timeout: float = 90.0
    ) -> Exchange:
        turn = heard["turnId"]
        await self.wait_turn_end("assistant", turnId=turn, after=after, timeout=timeout)
        planned_at = await self.wait_for(
            lambda e: (
                e.get("event") == "transcript"
                and e["role"] == "assistant"
                and e["stage"] == "speculative"
                and e["turnId"] == turn
            ),
            after=after,
        )
        final = self.of("transcript", after=after, role="assistant", stage="final", turnId=turn)[0]
        end_at = next(
            i
            for i in range(planned_at, len(self.events))
            if self.events[i][1].get("event") in ("turn", "stop") and self.events[i][1].get("turnId") == turn
        )
        media = [(t, e) for t, e in self.events[planned_at:end_at] if e.get("event") == "media"]
        return Exchange(
            turn_id=turn,
            heard=heard["text"],
            planned=self.events[planned_at][1]["text"],
            said=final["text"],
            interrupted=final["interrupted"],
            audio_bytes=sum(len(e["pcm"]) for _, e in media),
            tool_calls=self.of("tool", after=after, turnId=turn),
            voiced_end_at=voiced_end,
            first_audio_at=media[0][0] if media else None,
        )

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.end()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
        self._reader.cancel()
        await self.client.close()
