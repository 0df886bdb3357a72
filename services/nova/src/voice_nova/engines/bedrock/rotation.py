"""Replacing a stream before the model's per-connection limit, with an overlapped hand-off.

When the current stream reaches its age limit, the next one is opened and primed (session, prompt,
system prompt) while the current one keeps talking. At the next turn boundary (the assistant ended
or was interrupted), or when the conversation is quiet, the next stream is promoted: it gets the
history and the user's latest audio, takes over the microphone, and the old stream is closed. A
primed stream that waits too long is primed anew, so it never idles into a timeout of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import structlog
from opentelemetry import trace
from opentelemetry.context import Context

from .settings import BedrockSettings
from .stream import NovaStream

log = structlog.get_logger("voice_nova.bedrock.rotation")
tracer = trace.get_tracer("voice_nova.bedrock")

#: How often the waiting hand-off looks for its moment.
_POLL = 0.05
#: Pause before priming again after a next stream failed.
_REPRIME_DELAY = 1.0


class RotationHost(Protocol):
    """What the rotation needs from the engine."""

    @property
    def current(self) -> NovaStream | None: ...

    async def prime(self) -> NovaStream:
        """Open a stream with session, prompt and system prompt only."""

    def quiet(self) -> bool:
        """Nobody is speaking, no answer or tool result is awaited."""

    def can_promote(self) -> bool:
        """Nothing pins the current stream (a tool call it must answer)."""

    async def promote(self, nxt: NovaStream) -> dict[str, int]:
        """Make ``nxt`` current; returns what was replayed into it (for the span)."""


class Rotator:
    def __init__(self, host: RotationHost, settings: BedrockSettings) -> None:
        self._host = host
        self._settings = settings
        self._boundary: str | None = None
        self._boundary_seen = asyncio.Event()
        self.rotations = 0
        #: The primed next stream while it waits for its moment (the engine closes it if the
        #: session ends first).
        self.pending: NovaStream | None = None

    def turn_ended(self, reason: str) -> None:
        """A turn boundary: the moment a waiting hand-off takes."""
        self._boundary = reason
        self._boundary_seen.set()

    async def run(self, parent: Context | None) -> None:
        while True:
            current = self._host.current
            if current is None or current.done or not current.opened_at:
                await asyncio.sleep(_POLL * 4)
                continue
            due = current.opened_at + self._settings.rotate_after - time.monotonic()
            if due > 0:
                await asyncio.sleep(min(due, 1.0))
                continue
            await self._rotate(current, parent)

    async def _rotate(self, current: NovaStream, parent: Context | None) -> None:
        with tracer.start_as_current_span(
            "nova.rotation",
            context=parent,
            attributes={"nova.from_stream": current.label, "nova.stream_age_s": round(self._age(current), 1)},
        ) as span:
            primings = 0
            while self._host.current is current and not current.done:
                primings += 1
                nxt = self.pending = await self._host.prime()
                moment = await self._wait_for_moment(current, nxt)
                self.pending = None
                if moment is None:
                    await nxt.close()
                    if nxt.outcome.done() and nxt.outcome.result() is not None:
                        await asyncio.sleep(_REPRIME_DELAY)
                    continue
                replayed = await self._host.promote(nxt)
                self.rotations += 1
                span.set_attributes(
                    {
                        "nova.to_stream": nxt.label,
                        "nova.moment": moment,
                        "nova.primings": primings,
                        **{f"nova.{key}": value for key, value in replayed.items()},
                    }
                )
                log.info("stream rotated", moment=moment, to=nxt.label, primings=primings, **replayed)
                return
            span.set_attribute("nova.moment", "abandoned")

    async def _wait_for_moment(self, current: NovaStream, nxt: NovaStream) -> str | None:
        """The hand-off's moment (``end_turn``, ``interrupted``, ``quiet``), or None to prime anew."""
        self._boundary = None
        self._boundary_seen.clear()
        deadline = time.monotonic() + self._settings.next_stream_max_wait
        while time.monotonic() < deadline:
            if self._host.current is not current or current.done or nxt.done:
                return None
            if nxt.connected.is_set() and self._host.can_promote():
                boundary = self.boundary()
                if boundary is not None:
                    return boundary
                if self._host.quiet():
                    return "quiet"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._boundary_seen.wait(), _POLL)
        return None

    def boundary(self) -> str | None:
        """The turn boundary seen since the next stream was primed, if any."""
        return self._boundary

    @staticmethod
    def _age(stream: NovaStream) -> float:
        return time.monotonic() - stream.opened_at
