"""What recording costs: the voice path's frame round trip (p50/p99) and CPU with recordings off
and on, and the recorder's own CPU per session-minute (capture while the calls run, plus rendering,
encoding and storing each recording after its call).

    .venv/bin/python bench/recordings.py                  # 20 callers, 20 s, off / on / off
    .venv/bin/python bench/recordings.py --callers 50 --seconds 30

One NATS server, auth, a loopback worker and an edge as processes (bench/transport.py's load: each
caller streams 20 ms frames in real time and gets them back). Modes: "off": no VOICE_AUDIO stream,
NATS captures nothing; "stream": the stream exists (both directions of every call go to disk in
NATS) but no recorder runs: the stream's own cost to the voice path; "on": the recordings service
runs too (on these 2 shared cores its CPU competes with the edge and the worker; in a deployment
it has a pod of its own). The runs go off, stream, on, off so that drift of a shared machine shows;
the load average is printed beside each figure. Ratios, not absolute numbers, are the result: the
load generator shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats.errors as nats_errors
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voice_proto.streams import AUDIO_STREAM, ensure_audio_stream
from voice_testkit.client import BINARY_PROTOCOL
from voice_testkit.machine import load_average
from voice_testkit.nats import NatsServer
from voice_testkit.stack import API_KEYS, Stack

from bench.transport import cpu_seconds, run_once


async def recordings_stored(stack: Stack) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{stack.service_url('recordings')}/api/recordings",
            params={"limit": 200},
            headers={"Authorization": f"ApiKey {API_KEYS['ops']}"},
        )
        response.raise_for_status()
        return len(response.json()["recordings"])


async def all_stored(stack: Stack, expected: int, timeout: float = 120.0) -> int:
    """Polls the API until ``expected`` recordings are listed (or the timeout); returns the count."""
    deadline = time.monotonic() + timeout
    count = await recordings_stored(stack)
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        count = await recordings_stored(stack)
    return count


async def recordings_off(stack: Stack, nats: NatsServer) -> None:
    if "recordings" in stack.processes:  # out of the stack's processes: its CPU is not counted
        stack.processes.pop("recordings").stop()
    bus = await nats.connect()
    with contextlib.suppress(nats_errors.Error):  # not there yet
        await bus.nc.jetstream().delete_stream(AUDIO_STREAM)
    await bus.drain()


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-recordings-"))
    nats = NatsServer(work).start()
    stack = Stack(
        nats.endpoint,
        work,
        LOG_LEVEL="warning",
        NOVA_MAX_SESSIONS="1000",
        RECORDINGS_SETTLE="0.5",
        # Sessions are recorded when the edge told the client so; closed calls end soon after.
        EDGE_RECORDING="true",
        NOVA_RESUME_WINDOW="2",
    )
    rows: list[tuple[str, dict[str, float], str]] = []
    recorder: list[str] = []
    try:
        stack.start_spine()
        stored = 0
        for mode in ("off", "stream", "on", "off"):
            if mode == "on":
                # A fresh stream: the recorder would otherwise record the stream run's calls too.
                await recordings_off(stack, nats)
                stack.start_recordings()
            elif mode == "stream":
                await recordings_off(stack, nats)
                bus = await nats.connect()
                await ensure_audio_stream(bus.nc.jetstream(), max_age_seconds=3600, max_bytes=1 << 30)
                await bus.drain()
            else:
                await recordings_off(stack, nats)
            recorder_cpu = cpu_seconds(stack.processes["recordings"].pid) if mode == "on" else 0.0
            result = await run_once(stack, nats, args.callers, BINARY_PROTOCOL, args.seconds, args.warmup)
            rows.append((mode, result, load_average()))
            print(mode, {k: round(v, 3) for k, v in result.items()}, file=sys.stderr, flush=True)
            if mode == "on":
                # Every call of the run is recorded once its end is seen: wait for the last one.
                stored = await all_stored(stack, stored + args.callers)
                used = cpu_seconds(stack.processes["recordings"].pid) - recorder_cpu
                session_minutes = args.callers * (args.seconds + args.warmup + 0.5) / 60
                recorder.append(
                    f"recorder: {used / session_minutes:.3f} CPU s per session-minute in all "
                    f"({used:.1f} CPU s for {args.callers} calls of {args.seconds + args.warmup:.0f} s, "
                    f"{stored} recordings stored), of which capture while the calls ran "
                    f"{result['cpu_recordings']:.3f}; load average {load_average()}"
                )
    finally:
        stack.stop_all()
        nats.stop()

    print(f"\n{args.callers} callers, {args.seconds:g} s measured per run, {os.cpu_count()} cores\n")
    print("| recordings | p50 ms | p99 ms | lost | edge | nova | nats | load average |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, r, load in rows:
        print(
            f"| {mode} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['lost']:.0f} | {r['cpu_edge']:.3f} "
            f"| {r['cpu_nova']:.3f} | {r['cpu_nats']:.3f} | {load} |"
        )
    off = [r for mode, r, _ in rows if mode == "off"]
    p99_off = sum(r["p99_ms"] for r in off) / len(off)
    nats_off = sum(r["cpu_nats"] for r in off) / len(off)
    path_off = sum(r["cpu_edge"] + r["cpu_nova"] + r["cpu_nats"] for r in off) / len(off)
    print()
    for name in ("stream", "on"):
        r = next(r for mode, r, _ in rows if mode == name)
        path = r["cpu_edge"] + r["cpu_nova"] + r["cpu_nats"]
        print(
            f"{name}/off: p99 {r['p99_ms'] / p99_off:.2f}, NATS CPU {r['cpu_nats'] / nats_off:.2f}, "
            f"edge+worker+NATS CPU {path / path_off:.2f}"
        )
    print("(CPU columns: CPU seconds per session-minute; 'on' adds the recorder's CPU below)")
    print("\n".join(recorder))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    uvloop.run(main(parser.parse_args()))
