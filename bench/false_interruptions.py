"""False interruptions and barge-in stop delay of the offline engine (NOVA_ENGINE=local).

One engine session in process with the real models (no bus: the figures are the engine's own
decisions; the stack adds a few milliseconds of transport). For each try it asks "What time is
it?" by typed text and, 0.6 to 1.2 s after the answer's first audio, plays into the microphone in
real time (20 ms frames):

- a short sound with no words (espeak-ng "uh", "um", "hmm", a 0.25 s noise burst), and counts the
  tries whose answer was interrupted at all and those whose answer (the time) was still told;
- a real barge-in ("Stop, tell me about cloud storage." by an espeak-ng voice the tests do not
  use, en-gb-scotland), and measures the stop delay: from the first voiced frame sent to ``Interrupted``.

    .venv/bin/python bench/false_interruptions.py [--tries 8]

The load average (``uptime``) is printed beside each figure: the machine is shared. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass

import numpy as np
from voice_nova.engine import SessionSetup
from voice_nova.engines.local.engine import LocalEngine
from voice_nova.engines.local.espeak import EspeakSpeaker
from voice_nova.engines.local.models import SpeechModels, load_models
from voice_nova.engines.local.settings import LocalEngineSettings
from voice_nova.tools import default_tools
from voice_proto import messages as m
from voice_testkit.machine import load_average
from voice_testkit.speech import say, silence

FRAME = 640  # 20 ms at 16 kHz, PCM16


@dataclass
class Try:
    interrupted: bool = False
    answered: bool = False
    #: Seconds from the first voiced frame sent to ``Interrupted`` (barge-ins only).
    stop_delay: float = math.nan


def sounds() -> dict[str, bytes]:
    """The non-word sounds, PCM16 16 kHz."""
    voice = EspeakSpeaker("en-us", 150)
    made = {word: say(voice, word).astype("<i2").tobytes() for word in ("uh", "um", "hmm")}
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(4000) * 3000).clip(-32767, 32767).astype("<i2")
    made["noise"] = noise.tobytes()
    return made


async def one_try(models: SpeechModels, sound: bytes, *, barge_in: bool) -> Try:
    setup = SessionSetup(session_id="bench", principal="bench", greet=False)
    engine = LocalEngine(models, LocalEngineSettings(), setup, default_tools())
    await engine.start()
    result = Try()
    first_audio = asyncio.Event()
    finished = asyncio.Event()
    onset = 0.0

    async def read() -> None:
        async for event in engine.events():
            match event:
                case m.AudioOut():
                    first_audio.set()
                case m.Interrupted():
                    result.interrupted = True
                    if onset:
                        result.stop_delay = time.monotonic() - onset
                    if barge_in:
                        finished.set()
                case m.Transcript(role=m.Role.ASSISTANT, stage=m.Stage.FINAL, interrupted=False):
                    result.answered = event.text.lower().startswith("it's")
                    finished.set()

    reader = asyncio.create_task(read())
    await engine.push_text("What time is it?")
    await asyncio.wait_for(first_audio.wait(), 30)
    await asyncio.sleep(random.uniform(0.6, 1.2))
    frames = silence(0.1) + sound + silence(1.5)
    lead = len(silence(0.1))
    for start in range(0, len(frames), FRAME):
        if start == lead:
            onset = time.monotonic()
        await engine.push_audio(frames[start : start + FRAME])
        await asyncio.sleep(0.02)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), 20)
    await engine.close()
    await reader
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


async def main(tries: int) -> None:
    models = load_models(LocalEngineSettings())
    try:
        print(f"{'case':<10} {'tries':>5} {'interrupted':>11} {'answered':>8}   load (1/5/15 min)")
        for name, sound in sounds().items():
            results = [await one_try(models, sound, barge_in=False) for _ in range(tries)]
            interrupted = sum(r.interrupted for r in results)
            answered = sum(r.answered for r in results)
            print(f"{name:<10} {tries:>5} {interrupted:>11} {answered:>8}   {load_average()}")
        other_voice = EspeakSpeaker("en-gb-scotland", 160)
        speech = say(other_voice, "Stop, tell me about cloud storage.").astype("<i2").tobytes()
        results = [await one_try(models, speech, barge_in=True) for _ in range(tries)]
        delays = [r.stop_delay * 1000 for r in results if r.interrupted]
        print(
            f"barge-in: {len(delays)}/{tries} stopped; stop delay after speech starts "
            f"p50 {percentile(delays, 50):.0f} ms, p95 {percentile(delays, 95):.0f} ms"
            f"   load {load_average()}"
        )
    finally:
        models.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tries", type=int, default=8)
    asyncio.run(main(parser.parse_args().tries))
