"""What one long input costs the offline engine's worker, and what it costs the other sessions.

The case of issue 14: a typed text of 2,000 characters (the edge's maximum) with no sentence end.
Each scenario runs in a fresh process (RSS never shrinks back below its peak inside one), with
the real models:

- ``whole``: one synthesis call on the whole text (what an unbounded answer did);
- ``units``: the same text as the engine now synthesizes it, unit by unit (``split_sentences``);
- ``sessions``: two sessions get the 2,000-character text at once while a third asks a short
  question; the third's time from its text to its first audio, against the same question alone.

For each: RSS after loading, peak RSS, RSS once the work is over, and the load average.

    .venv/bin/python bench/long_input.py [--scenarios whole units sessions]

Not a test: numbers depend on what else the machine runs; note that with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psutil
from voice_testkit.machine import load_average

if TYPE_CHECKING:
    from voice_nova.engines.local.models import SpeechModels

LONG_TEXT = ("zorp blen quandle fribb " * 100)[:2000]
SHORT = "What is a virtual private network?"


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _models() -> SpeechModels:
    from voice_nova.engines.local.models import load_models
    from voice_nova.engines.local.settings import LocalEngineSettings

    return load_models(LocalEngineSettings(tts_cache_sentences=0))


def run_synthesis(whole: bool) -> dict[str, object]:
    from voice_nova.engines.local.sentences import split_sentences

    models = _models()
    loaded = _rss_mb()
    started = time.perf_counter()
    units = [LONG_TEXT] if whole else split_sentences(LONG_TEXT)
    audio = sum(len(models.voice.speak(unit)) for unit in units)
    seconds = time.perf_counter() - started
    return {
        "units": len(units),
        "longest_unit": max(len(u) for u in units),
        "audio_s": round(audio / 48_000, 1),
        "synthesis_s": round(seconds, 1),
        "rss_loaded_mb": round(loaded),
        "rss_peak_mb": round(_peak_mb()),
        "rss_after_mb": round(_rss_mb()),
    }


async def _first_audio(models: SpeechModels, text: str, name: str) -> float:
    from voice_nova.engine import SessionSetup
    from voice_nova.engines.local.engine import LocalEngine
    from voice_nova.engines.local.settings import LocalEngineSettings
    from voice_nova.tools import default_tools
    from voice_proto import messages as m

    setup = SessionSetup(session_id=name, principal="bench", history=[], greet=False)
    engine = LocalEngine(models, LocalEngineSettings(), setup, default_tools())
    await engine.start()
    started = time.perf_counter()
    await engine.push_text(text)
    async for event in engine.events():
        if isinstance(event, m.AudioOut):
            break
    first = time.perf_counter() - started
    await engine.close()
    return first


async def _sessions() -> dict[str, object]:
    models = _models()
    loaded = _rss_mb()
    alone = await _first_audio(models, SHORT, "alone")
    long_tasks = [asyncio.create_task(_first_audio(models, LONG_TEXT, f"long{i}")) for i in range(2)]
    await asyncio.sleep(0.05)  # the long ones are in first
    beside = await _first_audio(models, SHORT, "beside")
    longs = await asyncio.gather(*long_tasks)
    return {
        "short_alone_first_audio_s": round(alone, 2),
        "short_beside_two_long_first_audio_s": round(beside, 2),
        "ratio": round(beside / alone, 2),
        "long_first_audio_s": [round(x, 2) for x in longs],
        "rss_loaded_mb": round(loaded),
        "rss_peak_mb": round(_peak_mb()),
        "rss_after_mb": round(_rss_mb()),
    }


def child(scenario: str) -> None:
    result = asyncio.run(_sessions()) if scenario == "sessions" else run_synthesis(whole=scenario == "whole")
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", nargs="+", default=["units", "whole", "sessions"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    for scenario in args.scenarios:
        before = load_average()
        out = subprocess.run(
            [sys.executable, __file__, "--child", scenario], capture_output=True, text=True, check=True
        )
        print(
            f"{scenario}: {out.stdout.strip().splitlines()[-1]}  load {before} -> {load_average()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
