"""Callers for fault tests and benchmarks: each streams numbered 20 ms frames in real time and types
a turn now and then, and keeps what came back (when each frame's echo arrived, every final
transcript, how its connection ended), so that a fault's cost can be counted: the longest silence,
frames never echoed, typed turns never heard.

It needs an engine that echoes the microphone and answers ``user <words>`` with a final user
transcript (``voice_testkit.engines:EchoingScriptedFactory``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from dataclasses import dataclass, field

from .client import BINARY_PROTOCOL, Closed, VoiceClient

FRAME_SECONDS = 0.02
#: 20 ms of 16 kHz PCM16.
FRAME_BYTES = 640


def frame(caller: int, number: int) -> bytes:
    """A frame that says whose and which it is (and is otherwise silence)."""
    return struct.pack("<II", caller, number) + bytes(FRAME_BYTES - 8)


@dataclass
class Caller:
    client: VoiceClient
    index: int
    #: Seconds between typed turns.
    type_every: float = 0.5
    frames_sent: int = 0
    #: Frame number -> loop time its first echo arrived.
    echoed: dict[int, float] = field(default_factory=dict)
    typed: list[str] = field(default_factory=list)
    #: Final transcripts as (role, text), in arrival order.
    finals: list[tuple[str, str]] = field(default_factory=list)
    #: The turn id of each final transcript of the user's, in arrival order.
    user_turns: list[int] = field(default_factory=list)
    closed: Closed | None = None
    typing: bool = True

    @classmethod
    async def open(cls, url: str, key: str, index: int, *, type_every: float = 0.5) -> Caller:
        client = await VoiceClient.open(url, key=key, protocol=BINARY_PROTOCOL)
        return cls(client, index, type_every=type_every)

    async def reconnect(self, url: str, key: str) -> None:
        """Resume the session on ``url`` (another edge) with its resume token."""
        self.client = await VoiceClient.open(
            url, key=key, protocol=BINARY_PROTOCOL, resume_token=self.client.resume_token
        )

    async def talk(self, stop: asyncio.Event) -> None:
        """Stream and type until ``stop`` is set (while the connection is away, what it cannot send
        is lost, as it would be for a real client)."""
        loop = asyncio.get_running_loop()
        next_text = loop.time() + self.type_every
        start = loop.time()
        while not stop.is_set():
            self.frames_sent += 1
            try:
                await self.client.send_audio(frame(self.index, self.frames_sent))
                if self.typing and loop.time() >= next_text:
                    text = f"user caller{self.index}-turn{len(self.typed) + 1}"
                    self.typed.append(text.removeprefix("user "))
                    await self.client.send_text(text)
                    next_text += self.type_every
            except Exception:  # the connection went: listen() records how
                await asyncio.sleep(FRAME_SECONDS)
            # Paced on the clock, not on the sends, so a slow moment is caught up within the
            # edge's burst allowance rather than slowing the stream for good.
            await asyncio.sleep(max(0.0, start + self.frames_sent * FRAME_SECONDS - loop.time()))

    async def listen(self) -> None:
        """Read events until the connection closes (cancel to stop)."""
        loop = asyncio.get_running_loop()
        async for event in self.client.until_closed():
            if event["event"] == "media":
                pcm = event["pcm"]
                if len(pcm) >= 8:
                    caller, number = struct.unpack("<II", pcm[:8])
                    if caller == self.index:
                        self.echoed.setdefault(number, loop.time())
            elif event["event"] == "transcript" and event["stage"] == "final":
                self.finals.append((event["role"], event["text"]))
                if event["role"] == "user":
                    self.user_turns.append(event["turnId"])
            self.client.events.clear()  # nothing else reads them: keep memory flat
        self.closed = self.client.closed_by

    def heard(self, role: str = "user") -> list[str]:
        return [text for who, text in self.finals if who == role]

    def typed_lost(self) -> list[str]:
        """Typed turns whose final transcript never came back (one that holds the typed words, as
        ``wait_heard``: an engine may say them back with the ``user`` command, as loopback does)."""
        heard = self.heard()
        return [text for text in self.typed if not any(text in said for said in heard)]

    def frames_lost(self, upto: int | None = None) -> int:
        """Frames (up to frame ``upto``) never echoed."""
        last = self.frames_sent if upto is None else upto
        return sum(1 for number in range(1, last + 1) if number not in self.echoed)

    def longest_silence(self, after: float = 0.0) -> float:
        """The longest time between two consecutive echoes arriving after loop time ``after``."""
        times = sorted(t for t in self.echoed.values() if t >= after)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    async def wait_echo_of(self, number: int, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while number not in self.echoed:
            if loop.time() > deadline or self.closed is not None:
                raise AssertionError(f"caller {self.index}: frame {number} never came back ({self.closed})")
            await asyncio.sleep(0.05)

    async def wait_typed(self, count: int, timeout: float = 10.0) -> None:
        """Until ``count`` turns were typed and heard back."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.typed) < count:
            if loop.time() > deadline:
                raise AssertionError(f"caller {self.index}: typed only {len(self.typed)}")
            await asyncio.sleep(0.05)
        await self.wait_heard(self.typed[count - 1], timeout=max(0.1, deadline - loop.time()))

    async def wait_heard(self, text: str, timeout: float = 10.0, *, role: str = "user") -> None:
        """Until a final transcript of ``role`` holds ``text``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not any(text in said for said in self.heard(role)):
            if loop.time() > deadline or self.closed is not None:
                raise AssertionError(f"caller {self.index}: never heard {text!r} ({self.closed})")
            await asyncio.sleep(0.05)


async def stop_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
