"""A scripted speech engine for tests of turn flow and interruption.

Use it with NOVA_ENGINE=scripted (an entry point of this package), or NOVA_ENGINE=scripted-greeting,
which also greets with a two-second turn when the session starts. It obeys typed text:
- ``speak <n>``: one assistant turn of ``n`` 20 ms chunks, paced in real time; each chunk starts
  with its turn id, its index and a late flag (three little-endian uint16) so a test can tell
  whose audio it hears, and goes on with a babble of vowels (/a/ /i/ /u/ /o/ /e/, one syllable
  every 240 ms) so that a face can speak with it;
- ``interrupt`` (or any audio while it speaks): reports the interruption, then, like a model whose
  audio was already on the way, still emits three chunks of that turn (flagged late), which must
  never reach a client;
- ``user <words>``: the user said ``<words>`` (a FINAL user transcript, as a model reports what it
  heard); the next ``speak`` answers in the same turn;
- ``fail``: a fatal error.
"""

from __future__ import annotations

import asyncio
import functools
import math
import struct

import numpy as np
import numpy.typing as npt
from voice_nova.engine import Engine, EngineContext, EngineFactory, QueuedEngine, SessionSetup
from voice_proto import messages as m

CHUNK_BYTES = 960  # 20 ms at 24 kHz
LATE_CHUNKS = 3
#: The greeting of GreetingScriptedFactory: two seconds.
GREETING_CHUNKS = 100

_RATE = m.OUTPUT_RATE
#: Formants (Hz) of the babble's vowels, a man's averages (Peterson & Barney 1952).
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (570, 840, 2410), (530, 1840, 2480))
_SYLLABLE_S = 0.24


@functools.cache
def _babble() -> bytes:
    """One cycle of the babble, PCM16LE at 24 kHz: each vowel a syllable made by a formant
    synthesiser (a 125 Hz pulse train through three resonators), with a short closure before it;
    the cycle is a whole number of chunks, so chunk ``i`` takes its samples at ``i * 480``."""
    syllable = round(_SYLLABLE_S * _RATE)
    out = np.zeros(syllable * len(_VOWELS))
    for v, formants in enumerate(_VOWELS):
        source = np.zeros(syllable)
        source[:: _RATE // 125] = 1.0
        wave = _resonate(source, 0, 100)
        for hz, bandwidth in zip(formants, (80, 100, 150), strict=True):
            wave = _resonate(wave, hz, bandwidth)
        wave = np.diff(wave, prepend=0.0)
        t = np.arange(syllable) / _RATE
        # closure 30 ms, onset 30 ms, vowel, offset 40 ms
        envelope = np.clip((t - 0.03) / 0.03, 0, 1) * np.clip((_SYLLABLE_S - t) / 0.04, 0, 1)
        steady = np.sqrt(np.mean(wave[syllable // 2 :] ** 2)) + 1e-12
        out[v * syllable : (v + 1) * syllable] = wave * envelope / steady
    level = 10 ** (-18 / 20)  # dBFS RMS of the vowels
    return np.clip(out * level * 32767, -32767, 32767).astype("<i2").tobytes()


def _resonate(x: npt.NDArray[np.float64], hz: float, bandwidth: float) -> npt.NDArray[np.float64]:
    """A two-pole resonator at ``hz`` with unity gain at 0 Hz (Klatt 1980)."""
    t = 1 / _RATE
    c = -math.exp(-2 * math.pi * bandwidth * t)
    b = 2 * math.exp(-math.pi * bandwidth * t) * math.cos(2 * math.pi * hz * t)
    a = 1 - b - c
    y = np.zeros_like(x)
    y1 = y2 = 0.0
    for n, value in enumerate(x.tolist()):
        y0 = a * value + b * y1 + c * y2
        y[n] = y0
        y2, y1 = y1, y0
    return y


def chunk(turn_id: int, index: int, *, late: bool = False) -> bytes:
    head = struct.pack("<HHH", turn_id, index, late)
    babble = _babble()
    start = (index * CHUNK_BYTES + len(head)) % len(babble)
    return head + babble[start : start + CHUNK_BYTES - len(head)]


def chunk_turn(pcm: bytes) -> int:
    turn_id: int = struct.unpack_from("<H", pcm)[0]
    return turn_id


def chunk_is_late(pcm: bytes) -> bool:
    """True for audio the engine produced after it reported the interruption of its turn."""
    return bool(struct.unpack_from("<H", pcm, 4)[0])


class ScriptedEngine(QueuedEngine):
    """Turn ids come from the session's ledger (``setup.turns``), as for every engine."""

    def __init__(self, setup: SessionSetup) -> None:
        super().__init__(setup.turns)
        self._user_turn: int | None = None
        self._speaking: asyncio.Task[None] | None = None
        self._cut = asyncio.Event()

    async def push_audio(self, pcm: bytes) -> None:
        if self._speaking is not None and not self._speaking.done():
            self._cut.set()

    async def push_text(self, text: str) -> None:
        command, _, argument = text.partition(" ")
        if command == "speak":
            turn, self._user_turn = self._user_turn, None
            if turn is None:
                turn = self.turns.open(m.Role.ASSISTANT)
            else:
                self.turns.assistant_speaks(turn)
            self._cut = asyncio.Event()
            self._speaking = asyncio.create_task(self._speak(turn, int(argument or "50")))
        elif command == "user":
            self._user_turn = self.turns.open(m.Role.USER)
            self.emit(
                m.Transcript(turn_id=self._user_turn, role=m.Role.USER, text=argument, stage=m.Stage.FINAL)
            )
            self.turns.end(self._user_turn, m.Role.USER)
        elif command == "interrupt":
            self._cut.set()
        elif command == "fail":
            self.emit(m.ErrorEvent(code="scripted_failure", message="asked to fail", fatal=True))

    async def _speak(self, turn_id: int, chunks: int) -> None:
        said = f"turn {turn_id} with {chunks} chunks"
        self.emit(m.Transcript(turn_id=turn_id, role=m.Role.ASSISTANT, text=said, stage=m.Stage.SPECULATIVE))
        for index in range(chunks):
            if self._cut.is_set():
                self.turns.interrupt(turn_id)
                for late in range(LATE_CHUNKS):
                    self.emit(m.AudioOut(turn_id=turn_id, pcm=chunk(turn_id, index + late, late=True)))
                self.turns.final(turn_id, said)
                self.turns.end(turn_id, m.Role.ASSISTANT)
                return
            self.emit(m.AudioOut(turn_id=turn_id, pcm=chunk(turn_id, index)))
            await asyncio.sleep(0.02)
        self.turns.final(turn_id, said)
        self.turns.end(turn_id, m.Role.ASSISTANT)

    async def close(self) -> None:
        if self._speaking is not None:
            self._speaking.cancel()
        await super().close()


class GreetingScriptedEngine(ScriptedEngine):
    """The scripted engine that opens the session with a greeting turn, as real assistants do."""

    async def start(self) -> None:
        turn = self.turns.open(m.Role.ASSISTANT)
        self._speaking = asyncio.create_task(self._speak(turn, GREETING_CHUNKS))


class ScriptedFactory(EngineFactory):
    default_max_sessions = 20
    # Typed text is how a test drives it.
    capabilities = frozenset({m.Capability.TEXT_INPUT})
    engine = ScriptedEngine

    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        _babble()  # made once per worker, before the first session

    def create(self, setup: SessionSetup) -> Engine:
        return self.engine(setup)


class GreetingScriptedFactory(ScriptedFactory):
    engine = GreetingScriptedEngine


class EchoingScriptedEngine(ScriptedEngine):
    """The scripted engine that also echoes the microphone as loopback does (each chunk straight
    back, turn 0), so that a fault test hears the audio path and drives turns by text at once.
    ``recall`` answers with the history the engine was given when the session came to it: one
    FINAL assistant transcript of the turns' texts, joined by `` | `` (what a handover carried).

    Its echo is 16 kHz (each ``AudioOut`` says so) while its speech and declared ``output_rate``
    are 24 kHz: tests read the bytes, never play them."""

    def __init__(self, setup: SessionSetup) -> None:
        super().__init__(setup)
        self._history = list(setup.history)

    async def push_audio(self, pcm: bytes) -> None:
        self.emit(m.AudioOut(turn_id=0, pcm=pcm, rate=m.INPUT_RATE))

    async def push_text(self, text: str) -> None:
        if text != "recall":
            await super().push_text(text)
            return
        turn = self.turns.open(m.Role.ASSISTANT)
        self.turns.final(turn, " | ".join(t.text for t in self._history))
        self.turns.end(turn, m.Role.ASSISTANT)


class EchoingScriptedFactory(ScriptedFactory):
    engine = EchoingScriptedEngine
