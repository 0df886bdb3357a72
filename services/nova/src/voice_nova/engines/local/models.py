"""What a worker process loads once and lends to every session: the speech-to-text model, the
voice, and the thread pool that runs them off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import structlog

from .settings import LocalEngineSettings
from .stt import Transcriber
from .synthesis import Voice, load_speaker

log = structlog.get_logger("voice_nova.local")


@dataclass
class SpeechModels:
    transcriber: Transcriber
    voice: Voice
    #: Runs every blocking inference of the worker's sessions; its size bounds the CPU they take.
    pool: ThreadPoolExecutor

    async def run[T](self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def load_models(settings: LocalEngineSettings) -> SpeechModels:
    """Blocking: load both models and run each once, so the first session does not pay for it."""
    started = time.perf_counter()
    transcriber = Transcriber(
        settings.stt_model_dir, threads=settings.inference_threads, workers=settings.threads
    )
    voice = Voice(load_speaker(settings), settings.tts_cache_sentences)
    transcriber.transcribe(np.zeros(16_000, dtype=np.float32))
    voice.speak("Ready.")
    log.info(
        "speech models loaded",
        stt_model=str(transcriber.model_dir),
        voice=settings.voice.value,
        seconds=round(time.perf_counter() - started, 2),
    )
    return SpeechModels(
        transcriber=transcriber,
        voice=voice,
        pool=ThreadPoolExecutor(settings.threads, thread_name_prefix="local-speech"),
    )
