"""Turn latency of the offline engine (NOVA_ENGINE=local) through the whole stack.

Starts its own NATS server, auth, one worker and one edge on free ports, then talks to the edge
like a browser: questions spoken by the engine's default voice (Piper joe), 16 kHz, streamed in
real time in 20 ms frames, the microphone kept open on silence afterwards. For every turn it
measures the time from the last voiced frame sent to the first audio of the answer received, so
the endpointing silence is included. It does this for 1, 2, 4 and 8 people talking at once (each
in a session of their own), and reports p50 and p95 per level and the worker's peak RSS.

    .venv/bin/python bench/turn_latency.py [--turns 20] [--talkers 1 2 4 8] [--voice piper]

Not a test: numbers depend on what else the machine runs; note that with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from voice_testkit.client import BINARY_PROTOCOL, VoiceClient
from voice_testkit.conversation import Conversation
from voice_testkit.nats import NatsServer
from voice_testkit.speech import say, speaker
from voice_testkit.stack import API_KEYS, Stack

QUESTIONS = [
    "What time is it?",
    "Tell me about cloud storage.",
    "Tell me more.",
    "How much does compute cost?",
    "What is a virtual private network?",
    "How do I keep my data secure?",
    "What is the date today?",
    "Thank you.",
]


@dataclass(frozen=True)
class Row:
    talkers: int
    turns: int
    p50: float
    p95: float
    worst: float
    peak_rss_mb: float
    #: Worker CPU time (all threads) per turn: what a turn costs whatever else the machine runs.
    cpu_per_turn: float
    load: float
    wall: float


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


async def talker(url: str, questions: list[bytes], turns: int, offset: int) -> list[float]:
    client = await VoiceClient.open(url, key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
    talk = Conversation(client)
    latencies = []
    try:
        await talk.wait_turn_end("assistant", turnId=1, timeout=120)  # the greeting
        for index in range(turns):
            exchange = await talk.exchange(questions[(offset + index) % len(questions)], timeout=120)
            if exchange.first_audio_at is None:
                raise RuntimeError(f"turn {exchange.turn_id} had no audio: {exchange}")
            latencies.append(exchange.first_audio_at - exchange.voiced_end_at)
    finally:
        await talk.close()
    return latencies


async def run_level(url: str, questions: list[bytes], talkers: int, total_turns: int) -> list[float]:
    per_talker = max(3, math.ceil(total_turns / talkers))
    results = await asyncio.gather(*(talker(url, questions, per_talker, i) for i in range(talkers)))
    return [latency for latencies in results for latency in latencies]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=20, help="turns per level, spread over its talkers")
    parser.add_argument("--talkers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--voice", default="piper", help="NOVA_LOCAL_VOICE of the worker (piper or espeak)")
    parser.add_argument("--tts-cache", help="NOVA_LOCAL_TTS_CACHE_SENTENCES of the worker (0: off)")
    args = parser.parse_args()

    voice = speaker("piper")
    questions = [
        np.concatenate((np.zeros(4800, np.int16), say(voice, text))).astype("<i2").tobytes()
        for text in QUESTIONS
    ]
    with tempfile.TemporaryDirectory(prefix="turn-latency-") as work:
        nats = NatsServer(Path(work)).start()
        env = {
            "NOVA_LOCAL_VOICE": args.voice,
            "NOVA_MAX_SESSIONS": str(max(args.talkers)),
            "EDGE_START_TIMEOUT": "15",
        }
        if args.tts_cache is not None:
            env["NOVA_LOCAL_TTS_CACHE_SENTENCES"] = args.tts_cache
        stack = Stack(nats.endpoint, Path(work), NOVA_ENGINE="local", LOG_LEVEL="warning", **env)
        try:
            stack.start_auth(wait=False)
            worker = stack.start_worker(wait=False)
            stack.start_edge(wait=False)
            loaded = time.monotonic()
            stack.wait_ready(timeout=300)
            print(f"stack ready in {time.monotonic() - loaded:.1f} s (worker pid {worker.pid})", flush=True)
            rows = []
            for talkers in args.talkers:
                started, cpu = time.monotonic(), cpu_seconds(worker.pid)
                latencies = asyncio.run(run_level(stack.ws_url(), questions, talkers, args.turns))
                ms = [1000 * latency for latency in latencies]
                row = Row(
                    talkers=talkers,
                    turns=len(ms),
                    p50=statistics.median(ms),
                    p95=percentile(ms, 95),
                    worst=max(ms),
                    peak_rss_mb=peak_rss_mb(worker.pid),
                    cpu_per_turn=(cpu_seconds(worker.pid) - cpu) / len(ms),
                    load=os.getloadavg()[0],
                    wall=time.monotonic() - started,
                )
                rows.append(row)
                print(
                    f"{row.talkers} talker(s): n={row.turns} p50={row.p50:.0f} ms p95={row.p95:.0f} ms",
                    flush=True,
                )
        finally:
            stack.stop_all()
            nats.stop()

    cache = "default" if args.tts_cache is None else args.tts_cache
    print(
        f"\nend of user speech -> first assistant audio at the client (voice {args.voice}, TTS cache {cache})"
    )
    print(
        "| talkers | turns | p50 ms | p95 ms | max ms | worker peak RSS MB | worker CPU s per turn "
        "| machine load (1 min) | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.talkers} | {r.turns} | {r.p50:.0f} | {r.p95:.0f} | {r.worst:.0f} | {r.peak_rss_mb:.0f} "
            f"| {r.cpu_per_turn:.2f} | {r.load:.1f} | {r.wall:.0f} |"
        )


if __name__ == "__main__":
    main()
