"""Speech made at test time, and a client that speaks it in real time.

Questions are spoken by the offline engine's own voices (Piper joe, espeak-ng), resampled to the
16 kHz of the browser protocol and written as WAV files, so tests and benchmarks play real speech
without shipping any audio.
"""

from __future__ import annotations

import asyncio
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from voice_nova.engines.local.audio import resample
from voice_nova.engines.local.espeak import EspeakSpeaker
from voice_nova.engines.local.piper_voice import PiperSpeaker
from voice_nova.engines.local.synthesis import Speaker
from voice_proto import messages as m

from .client import VoiceClient

RATE = m.INPUT_RATE
FRAME_MS = 20
FRAME_BYTES = RATE * 2 * FRAME_MS // 1000

type Samples = npt.NDArray[np.int16]

#: Samples above this level (about -40 dBFS) count as speech rather than a voice's silence.
_VOICED_LEVEL = 300

#: The voices that speak test questions: the engine's default voice and a second, unlike one.
VOICES = ("piper", "espeak")


def speaker(voice: str) -> Speaker:
    if voice == "piper":
        return PiperSpeaker(threads=1)
    if voice == "espeak":
        return EspeakSpeaker("en-us", 150)
    raise ValueError(f"unknown test voice {voice!r}")


def say(voice: Speaker, text: str) -> Samples:
    """``text`` spoken at 16 kHz, without the silence a voice leaves around it."""
    samples = resample(voice.synthesize(text), voice.sample_rate, RATE)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _VOICED_LEVEL)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples[:0]


def write_wav(path: Path, samples: Samples, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> bytes:
    with wave.open(str(path), "rb") as source:
        if (source.getnchannels(), source.getsampwidth(), source.getframerate()) != (1, 2, RATE):
            raise ValueError(f"{path} is not 16 kHz mono PCM16")
        return source.readframes(source.getnframes())


def silence(seconds: float) -> bytes:
    return bytes(int(RATE * seconds) * 2)


def last_voiced_offset(pcm: bytes) -> int:
    """Byte offset just after the last sample of speech."""
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _VOICED_LEVEL)
    return int(loud[-1] + 1) * 2 if loud.size else 0


@dataclass(frozen=True)
class Question:
    text: str
    #: Words the user's transcript must contain (lowercase).
    heard: tuple[str, ...]
    #: Words of which the assistant's answer must contain at least one (lowercase).
    answer: tuple[str, ...]


async def stream(client: VoiceClient, pcm: bytes, *, frame_bytes: int = FRAME_BYTES) -> float:
    """Send ``pcm`` in frames paced in real time, as a microphone would.

    Returns the loop time at which the frame holding the last voiced sample was sent.
    """
    loop = asyncio.get_running_loop()
    voiced_end = last_voiced_offset(pcm)
    start = loop.time()
    sent_voiced_at = start
    for index, offset in enumerate(range(0, len(pcm), frame_bytes)):
        delay = start + index * frame_bytes / (RATE * 2) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.send_audio(pcm[offset : offset + frame_bytes])
        if offset < voiced_end:
            sent_voiced_at = loop.time()
    return sent_voiced_at
