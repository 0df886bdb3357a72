"""Text to 24 kHz PCM16 speech: the speaker the settings choose, one sentence at a time, with the
sentences said before kept for the next time (a greeting or a stock answer is synthesized once per
worker, not once per session)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
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


class Voice:
    """A speaker at the contract's output rate, remembering its last ``cache_sentences`` sentences."""

    def __init__(self, speaker: Speaker, cache_sentences: int = 0) -> None:
        self.speaker = speaker
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_sentences = cache_sentences
        #: Sentences being synthesized now: a second asker waits for that result, not a second run.
        self._pending: dict[str, Future[bytes]] = {}
        self._lock = threading.Lock()

    def cached(self, sentence: str) -> bytes | None:
        """The sentence's audio if it was said before; never blocks for long (the event loop asks)."""
        with self._lock:
            pcm = self._cache.get(sentence)
            if pcm is not None:
                self._cache.move_to_end(sentence)
            return pcm

    def speak(self, sentence: str) -> bytes:
        """Blocking; safe from any number of threads."""
        with self._lock:
            pcm = self._cache.get(sentence)
            if pcm is not None:
                self._cache.move_to_end(sentence)
                return pcm
            pending = self._pending.get(sentence)
            if pending is None:
                self._pending[sentence] = mine = Future[bytes]()
        if pending is not None:
            return pending.result()
        try:
            pcm = speak(self.speaker, sentence)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._pending[sentence]
        with self._lock:
            if self._cache_sentences:
                self._cache[sentence] = pcm
                while len(self._cache) > self._cache_sentences:
                    self._cache.popitem(last=False)
        mine.set_result(pcm)
        return pcm
