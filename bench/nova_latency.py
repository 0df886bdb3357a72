"""The platform's own latency on top of Nova Sonic, measured against the emulator (not a test).

The emulator answers at once and stamps each chunk of audio with the monotonic time it sent it;
the clients here (browser protocol, binary audio, a continuous 40 ms microphone) note when the
first chunk of each answer arrives. The difference is what the SDK, the worker, NATS and the
edge add. Also: the worker's CPU per session-minute, from /proc.

    .venv/bin/python bench/nova_latency.py [--sessions 1 20 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from nova_emulator import worker_env  # noqa: E402
from nova_emulator.certs import TlsFiles  # noqa: E402
from nova_emulator.speech import VOCABULARY, quiet, read_tag, say  # noqa: E402
from voice_testkit.client import BINARY_PROTOCOL, VoiceClient  # noqa: E402
from voice_testkit.nats import NatsServer  # noqa: E402
from voice_testkit.stack import API_KEYS, Stack  # noqa: E402

FRAME_MS = 40
FRAME = 16_000 * 2 * FRAME_MS // 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def converse(url: str, stop_at: float, latencies: list[float], errors: list[str]) -> None:
    """One session: an utterance, a second of silence, again; the first chunk of each answer timed."""
    client = await VoiceClient.open(url, key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
    word = VOCABULARY[len(latencies) % 5]
    utterance = say(word) + quiet(1000)

    async def listen() -> None:
        while True:
            event = await client.recv(timeout=60)
            if event["event"] == "media":
                tag = read_tag(event["pcm"])
                if tag is not None and tag.index == 0 and tag.answer >= 0:
                    latencies.append((time.monotonic_ns() - tag.sent_ns) / 1e6)
            elif event["event"] == "error":
                errors.append(event["code"])

    listener = asyncio.create_task(listen())
    loop = asyncio.get_running_loop()
    next_frame = loop.time()
    try:
        while loop.time() < stop_at:
            for start in range(0, len(utterance), FRAME):
                await client.send_audio(utterance[start : start + FRAME])
                next_frame += FRAME_MS / 1000
                await asyncio.sleep(max(0.0, next_frame - loop.time()))
    finally:
        listener.cancel()
        await client.end()
        await client.close()


async def measure(stack: Stack, sessions: int, seconds: float) -> dict[str, float]:
    worker_pid = stack.processes["nova"].pid
    latencies: list[float] = []
    errors: list[str] = []
    url = stack.ws_url()
    warmup = 3.0
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + warmup + seconds
    tasks = [asyncio.create_task(converse(url, stop_at, latencies, errors)) for _ in range(sessions)]
    await asyncio.sleep(warmup)
    latencies.clear()
    cpu_before, wall_before = cpu_seconds(worker_pid), time.monotonic()
    await asyncio.gather(*tasks)
    cpu, wall = cpu_seconds(worker_pid) - cpu_before, time.monotonic() - wall_before
    ordered = sorted(latencies)
    return {
        "sessions": sessions,
        "turns": len(ordered),
        "p50_ms": statistics.median(ordered) if ordered else float("nan"),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan"),
        "cpu_s_per_session_min": cpu / (sessions * wall / 60),
        "worker_cpu_pct": 100 * cpu / wall,
        "errors": len(errors),
    }


def start_emulator(work: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
    process = subprocess.Popen(
        [sys.executable, "-m", "nova_emulator", "--dir", str(work / "tls"), "--endpoint-ms", "300"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    tls = TlsFiles(Path(ready["ca"]), work / "tls" / "cert.pem", work / "tls" / "key.pem")
    return process, worker_env(ready["url"], tls, work)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nats = NatsServer(work).start()
        emulator, env = start_emulator(work)
        stack = Stack(
            nats.endpoint, work, **env, NOVA_MAX_SESSIONS=str(max(args.sessions) + 5), LOG_LEVEL="warning"
        )
        try:
            stack.start_spine()
            rows = []
            for sessions in args.sessions:
                rows.append(await measure(stack, sessions, args.seconds))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                await asyncio.sleep(2)
        finally:
            stack.stop_all()
            emulator.terminate()
            emulator.wait(10)
            nats.stop()
    print(
        "| sessions | answers | p50 (ms) | p99 (ms) | worker CPU s per session-min | worker CPU % | errors |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['sessions']} | {row['turns']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['cpu_s_per_session_min']:.2f} | {row['worker_cpu_pct']:.0f} | {row['errors']} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
