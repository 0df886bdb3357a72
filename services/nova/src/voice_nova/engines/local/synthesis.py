"""Text to 24 kHz PCM16 speech: the speaker the settings choose, one sentence at a time."""

from __future__ import annotations

from typing import Protocol

from voice_proto import messages as m

from .audio import Int16Array, resample
from .settings import LocalEngineSettings, VoiceChoice


class Speaker(Protocol):
    """Speaks one sentence at a time; blocking (run it in the worker's pool), thread-safe."""

    sample_rate: int

    def synthesize(self, sentence: str) -> Int16Array: ...


def load_speaker(settings: LocalEngineSettings) -> Speaker:
    if settings.voice is VoiceChoice.ESPEAK:
        from .espeak import EspeakSpeaker

        return EspeakSpeaker(settings.espeak_voice, settings.espeak_rate)
    from .piper_voice import PiperSpeaker

    return PiperSpeaker(settings.piper_voice, threads=settings.inference_threads)


def speak(speaker: Speaker, sentence: str, rate: int = m.OUTPUT_RATE) -> bytes:
    """One sentence as PCM16LE mono at ``rate`` (the contract's 24 kHz by default)."""
    samples = resample(speaker.synthesize(sentence), speaker.sample_rate, rate)
    return samples.astype("<i2").tobytes()
