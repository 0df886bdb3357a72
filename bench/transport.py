"""Transport benchmark: N callers stream 20 ms frames of 16 kHz PCM in real time through the edge
with the loopback engine; reports frame round trip (p50/p99/max), loss, and CPU seconds per
session-minute of each service process.

    .venv/bin/python bench/transport.py                       # 50 and 100 callers, both protocols
    .venv/bin/python bench/transport.py --callers 20 --seconds 10 --protocol voice.v1.binary

It starts its own NATS server, auth, worker and edge as processes (like the tests). The load
generator runs in this process, on the same 2 cores, and its CPU is not counted as the system's.
Each frame carries the caller and frame number in its first bytes; the loopback engine returns it
unchanged, so a frame's round trip is its arrival time minus its send time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import uvloop
from voice_testkit.client import BINARY_PROTOCOL, JSON_PROTOCOL, VoiceClient
from voice_testkit.nats import NatsServer
from voice_testkit.stack import API_KEYS, Stack

FRAME_SECONDS = 0.02
FRAME_BYTES = 640
_HEADER = struct.Struct("<IId")  # caller, frame number, send time


@dataclass
class Caller:
    index: int
    client: VoiceClient
    sent: int = 0
    received: int = 0
    rtts: list[float] = field(default_factory=list)


async def stream(caller: Caller, start: float, until: float, warmup_until: float) -> None:
    padding = bytes(FRAME_BYTES - _HEADER.size)
    frame_number = 0
    loop = asyncio.get_running_loop()
    while True:
        due = start + frame_number * FRAME_SECONDS
        if due >= until:
            return
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await caller.client.send_audio(
            _HEADER.pack(caller.index, frame_number, time.perf_counter()) + padding
        )
        if due >= warmup_until:
            caller.sent += 1
        frame_number += 1


async def listen(caller: Caller, warmup_until_perf: float) -> None:
    while True:
        event = await caller.client.recv(timeout=3600)
        if event.get("event") != "media":
            continue
        _, _, sent_at = _HEADER.unpack_from(event["pcm"])
        if sent_at >= warmup_until_perf:
            caller.received += 1
            caller.rtts.append(time.perf_counter() - sent_at)
        caller.client.events.clear()  # the benchmark keeps only numbers


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_once(
    stack: Stack, nats: NatsServer, callers: int, protocol: str, seconds: float, warmup: float
) -> dict[str, float]:
    clients = await asyncio.gather(
        *(VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"], protocol=protocol) for _ in range(callers))
    )
    crowd = [Caller(i, c) for i, c in enumerate(clients)]
    loop = asyncio.get_running_loop()
    pids = {name: p.pid for name, p in stack.processes.items()} | {"nats": nats.process.pid}
    start = loop.time() + 0.5
    warmup_until = start + warmup
    until = warmup_until + seconds
    warmup_perf = time.perf_counter() + (warmup_until - loop.time())
    listeners = [asyncio.create_task(listen(c, warmup_perf)) for c in crowd]
    # Spread the callers over one frame period, as real callers are.
    senders = [
        asyncio.create_task(stream(c, start + (i / callers) * FRAME_SECONDS, until, warmup_until))
        for i, c in enumerate(crowd)
    ]
    await asyncio.sleep(max(0.0, warmup_until - loop.time()))
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.gather(*senders)
    cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.sleep(2.0)  # let the last frames come back
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(c.client.close() for c in crowd), return_exceptions=True)

    rtts = [r for c in crowd for r in c.rtts]
    sent = sum(c.sent for c in crowd)
    received = sum(c.received for c in crowd)
    session_minutes = callers * seconds / 60
    result = {
        "callers": callers,
        "p50_ms": percentile(rtts, 0.50) * 1000,
        "p99_ms": percentile(rtts, 0.99) * 1000,
        "max_ms": max(rtts, default=float("nan")) * 1000,
        "sent": sent,
        "lost": max(0, sent - received),
    }
    for name in pids:
        result[f"cpu_{name}"] = (cpu_after[name] - cpu_before[name]) / session_minutes
    result["cpu_services"] = sum(result[f"cpu_{name}"] for name in pids if name != "nats")
    return result


COLUMNS = [
    ("callers", "callers", "{:.0f}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("max ms", "max_ms", "{:.1f}"),
    ("frames", "sent", "{:.0f}"),
    ("lost", "lost", "{:.0f}"),
    ("edge", "cpu_edge", "{:.3f}"),
    ("nova", "cpu_nova", "{:.3f}"),
    ("auth", "cpu_auth", "{:.3f}"),
    ("services total", "cpu_services", "{:.3f}"),
    ("nats", "cpu_nats", "{:.3f}"),
]


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        "| protocol | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for protocol, result in rows:
        cells = [fmt.format(result[key]) for _, key, fmt in COLUMNS]
        lines.append(f"| {protocol} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("CPU columns: CPU seconds per session-minute of each process (user + system).")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-transport-"))
    nats = NatsServer(work).start()
    stack = Stack(nats.endpoint, work, LOG_LEVEL="warning", NOVA_MAX_SESSIONS="1000")
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        stack.start_spine()
        for protocol in args.protocol:
            for callers in args.callers:
                result = await run_once(stack, nats, callers, protocol, args.seconds, args.warmup)
                rows.append((protocol, result))
                print(table(rows[-1:]).splitlines()[2], file=sys.stderr, flush=True)
    finally:
        stack.stop_all()
        nats.stop()
    cores = os.cpu_count()
    print(f"\n{args.seconds:g} s measured per run after {args.warmup:g} s warm-up; {cores} cores\n")
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--protocol", nargs="+", default=[JSON_PROTOCOL, BINARY_PROTOCOL])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    uvloop.run(main(parser.parse_args()))
