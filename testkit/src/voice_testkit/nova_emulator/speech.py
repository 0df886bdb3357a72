"""The emulator's "speech": audio a test can say and the fake model can understand, and assistant
audio a test can recognise chunk by chunk.

A spoken word is 120 ms of one constant sample value (``WORD_BASE`` + its index in
``VOCABULARY``); silence is zeros. Each chunk of assistant audio starts with a tag: a magic
number, the answer's key (the vocabulary index of the first word it answers), the chunk's index
and count, and the monotonic time in nanoseconds at which the emulator sent it.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from itertools import groupby

INPUT_RATE = 16_000
OUTPUT_RATE = 24_000
WORD_MS = 120
WORD_BASE = 2000
#: Quieter than this is silence (the engine counts audio above 500 as voiced).
SILENCE_PEAK = 500

VOCABULARY = (
    "hello",
    "there",
    "what",
    "time",
    "is",
    "it",
    "tell",
    "me",
    "a",
    "story",
    "thanks",
    "please",
    "bad",
    "tool",
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
)

_TAG = struct.Struct("<HhhhQ")
TAG_MAGIC = 0x534E
#: 40 ms at 24 kHz, PCM16.
OUTPUT_CHUNK_BYTES = OUTPUT_RATE * 2 * 40 // 1000


def say(*words: str) -> bytes:
    """PCM16 16 kHz of the words, back to back."""
    samples = INPUT_RATE * WORD_MS // 1000
    return b"".join(array("h", [WORD_BASE + VOCABULARY.index(word)] * samples).tobytes() for word in words)


def quiet(ms: int) -> bytes:
    return bytes(INPUT_RATE * 2 * ms // 1000)


class Listener:
    """Turns incoming PCM into words; says when an utterance ended (after ``endpoint_ms`` of silence)."""

    def __init__(self, endpoint_ms: int) -> None:
        self._endpoint_samples = INPUT_RATE * endpoint_ms // 1000
        self._min_word = INPUT_RATE * WORD_MS // 1000 // 3
        self.words: list[str] = []
        self._value = 0
        self._run = 0
        self._silent = 0
        #: The user is speaking (a word began and the endpoint has not come).
        self.speaking = False

    def hear(self, pcm: bytes) -> list[str] | None:
        """Feed audio; the utterance's words when it just ended, else None."""
        samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
        if not samples:
            return None
        first = samples[0]
        runs = [(first, len(samples))] if samples.count(first) == len(samples) else _runs(samples)
        ended: list[str] | None = None
        for value, length in runs:
            if abs(value) < SILENCE_PEAK:
                value = 0
            if value == self._value:
                self._run += length
            else:
                self._close_run()
                self._value, self._run = value, length
            if value == 0:
                self._silent += length
                if self.speaking and self._silent >= self._endpoint_samples:
                    self._close_run()
                    ended, self.words, self.speaking = self.words, [], False
            else:
                self._silent = 0
                self.speaking = True
        return ended

    def _close_run(self) -> None:
        if self._value and self._run >= self._min_word:
            index = self._value - WORD_BASE
            self.words.append(VOCABULARY[index] if 0 <= index < len(VOCABULARY) else "?")
        self._run = 0


def _runs(samples: array[int]) -> list[tuple[int, int]]:
    return [(value, sum(1 for _ in group)) for value, group in groupby(samples)]


@dataclass(frozen=True)
class Tag:
    answer: int
    index: int
    total: int
    sent_ns: int


def tagged_chunk(answer: int, index: int, total: int, sent_ns: int) -> bytes:
    head = _TAG.pack(TAG_MAGIC, answer, index, total, sent_ns)
    return head + bytes(OUTPUT_CHUNK_BYTES - len(head))


def read_tag(pcm: bytes) -> Tag | None:
    if len(pcm) < _TAG.size:
        return None
    magic, answer, index, total, sent_ns = _TAG.unpack_from(pcm)
    return Tag(answer, index, total, sent_ns) if magic == TAG_MAGIC else None


def answer_key(words: list[str]) -> int:
    return VOCABULARY.index(words[0]) if words and words[0] in VOCABULARY else -1
