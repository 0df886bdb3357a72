"""The user's microphone as the engine keeps it: the last seconds of audio (replayed into a new
stream at a hand-off) and when the user last made a sound (where a turn's latency starts)."""

from __future__ import annotations

import time
from array import array
from collections import deque

from voice_proto import messages as m

BYTES_PER_SECOND = m.INPUT_RATE * 2

#: Peak sample above which a chunk counts as speech (about -36 dBFS): silence filled in by a
#: browser, or a quiet room, stays below it.
VOICED_PEAK = 500


def is_voiced(pcm: bytes) -> bool:
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    return bool(samples) and max(max(samples), -min(samples)) > VOICED_PEAK


def frame_bytes(ms: int) -> int:
    return BYTES_PER_SECOND * ms // 1000 // 2 * 2


def silence(ms: int) -> bytes:
    return bytes(frame_bytes(ms))


class Microphone:
    """Recent user audio with the monotonic time each chunk arrived."""

    def __init__(self, keep_seconds: float) -> None:
        self._keep_bytes = int(keep_seconds * BYTES_PER_SECOND) // 2 * 2
        self._chunks: deque[tuple[float, bytes]] = deque()
        self._size = 0
        #: Monotonic time of the latest voiced chunk (0: none yet).
        self.last_voiced = 0.0
        #: Monotonic time of the latest chunk from the client.
        self.last_heard = 0.0

    def hear(self, pcm: bytes) -> None:
        now = time.monotonic()
        self.last_heard = now
        if is_voiced(pcm):
            self.last_voiced = now
        if self._keep_bytes <= 0:
            return
        self._chunks.append((now, pcm))
        self._size += len(pcm)
        while self._size - len(self._chunks[0][1]) >= self._keep_bytes:
            _, dropped = self._chunks.popleft()
            self._size -= len(dropped)

    def since(self, moment: float) -> bytes:
        """The kept audio that arrived after ``moment`` (monotonic), at most the kept seconds."""
        if self._keep_bytes <= 0:
            return b""
        audio = b"".join(pcm for at, pcm in self._chunks if at > moment)
        return audio[-self._keep_bytes :]
