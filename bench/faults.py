"""What a fault costs a call: callers stream numbered 20 ms frames in real time and type a turn every
2 s through the edge, on a 3-node NATS cluster, while a worker or an edge is SIGKILLed; and what a
faster heartbeat costs.

    .venv/bin/python bench/faults.py                     # 10 callers, 3 worker kills, 1 edge kill
    .venv/bin/python bench/faults.py --callers 20 --kills 5 --heartbeat-sessions 40

Per fault: the audio gap each affected caller heard (the longest time between two echoed frames
after the kill; p50 and max over callers and kills), frames never echoed, typed turns whose final
transcript never came back, sessions closed. Worker kill: the killed worker's sessions move to
another (a replacement starts after each kill). Edge kill: every caller was on the killed edge and
resumes on the other one as soon as its socket closes (frames it could not send meanwhile count as
lost: a client has nowhere to send them). Heartbeat cost: CPU of the worker and the edge per
session-hour with idle sessions, at the old and the new heartbeat interval.

The engine is the test kit's EchoingScriptedFactory (echoes the microphone, answers typed
``user <words>`` with a final transcript). Load generator, services and NATS share the machine's
cores; the load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.callers import Caller, stop_all
from voice_testkit.machine import load_average
from voice_testkit.nats import NatsCluster
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

ENGINE = "voice_testkit.engines:EchoingScriptedFactory"


def env(heartbeat: float, timeout: float) -> dict[str, str]:
    return {
        "NOVA_ENGINE": ENGINE,
        "NOVA_HEARTBEAT_INTERVAL": str(heartbeat),
        "EDGE_HEARTBEAT_TIMEOUT": str(timeout),
        "VOICE_RECORDS_REPLICAS": "3",
        "LOG_LEVEL": "warning",
    }


def summary(name: str, gaps: list[float], frames_lost: int, typed: int, typed_lost: int, closed: int) -> str:
    p50 = statistics.median(gaps) if gaps else float("nan")
    worst = max(gaps) if gaps else float("nan")
    return (
        f"| {name} | {p50:.2f} s | {worst:.2f} s | {frames_lost} | {typed_lost} of {typed} | {closed} "
        f"| {len(gaps)} | load {load_average()} |"
    )


async def talkers(callers: list[Caller], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c.listen()) for c in callers] + [
        asyncio.create_task(c.talk(stop)) for c in callers
    ]


async def settle(callers: list[Caller]) -> None:
    """Stop typing, and wait for the last typed turns to come back (bounded)."""
    for caller in callers:
        caller.typing = False
    for caller in callers:
        if caller.typed and caller.closed is None:
            with contextlib.suppress(AssertionError):  # counted as lost
                await caller.wait_heard(caller.typed[-1], timeout=10)


async def worker_kills(stack: Stack, args: argparse.Namespace) -> str:
    stack.start_auth(wait=False)
    stack.start_edge(wait=False, **env(args.heartbeat, args.timeout))
    workers = [f"nova-{n}" for n in range(3)]
    for name in workers:
        stack.start_worker(name, wait=False, **env(args.heartbeat, args.timeout))
    stack.wait_ready()
    bus = await stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    callers = [
        await Caller.open(stack.ws_url(), API_KEYS["alice"], i, type_every=args.type_every)
        for i in range(args.callers)
    ]
    stop = asyncio.Event()
    tasks = await talkers(callers, stop)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    affected_callers: set[int] = set()
    await asyncio.sleep(3)
    for kill in range(args.kills):
        owners = current_owners(lifecycle, callers)
        victim, _ = Counter(owners.values()).most_common(1)[0]
        affected = [c for c in callers if owners[c.index] == victim]
        killed_at = loop.time()
        stack.processes[victim].signal(signal.SIGKILL)
        await asyncio.sleep(5)
        gaps += [c.longest_silence(after=killed_at - 0.1) for c in affected]
        affected_callers |= {c.index for c in affected}
        replacement = f"nova-r{kill}"
        stack.start_worker(replacement, wait=False, **env(args.heartbeat, args.timeout))
        await asyncio.sleep(2)
    await settle(callers)
    stop.set()
    await asyncio.sleep(2)  # the last echoes
    await stop_all(tasks)
    frames_lost = sum(c.frames_lost() for c in callers)
    typed = sum(len(c.typed) for c in callers)
    typed_lost = sum(len(c.typed_lost()) for c in callers)
    closed = sum(1 for c in callers if c.closed is not None)
    await bus.drain()
    return summary(
        f"worker SIGKILL x{args.kills} ({len(affected_callers)} sessions moved)",
        gaps,
        frames_lost,
        typed,
        typed_lost,
        closed,
    )


def current_owners(lifecycle: Recorder, callers: list[Caller]) -> dict[int, str]:
    owners: dict[int, str] = {}
    for caller in callers:
        events = [
            e
            for e in lifecycle.of_type(m.Lifecycle, caller.client.session_id)
            if e.kind in (m.LifecycleKind.STARTED, m.LifecycleKind.HANDED_OVER)
        ]
        owners[caller.index] = events[-1].worker_id
    return owners


async def edge_kill(stack: Stack, args: argparse.Namespace) -> str:
    stack.start_auth(wait=False)
    for name in ("edge-1", "edge-2"):
        stack.start_edge(name, wait=False, **env(args.heartbeat, args.timeout))
    for name in ("nova-0", "nova-1"):
        stack.start_worker(name, wait=False, **env(args.heartbeat, args.timeout))
    stack.wait_ready()
    key = API_KEYS["alice"]
    callers = [
        await Caller.open(stack.ws_url("edge-1"), key, i, type_every=args.type_every)
        for i in range(args.callers)
    ]
    stop = asyncio.Event()
    talking = [asyncio.create_task(c.talk(stop)) for c in callers]
    listening = {c.index: asyncio.create_task(c.listen()) for c in callers}
    loop = asyncio.get_running_loop()
    await asyncio.sleep(3)
    killed_at = loop.time()
    stack.processes["edge-1"].signal(signal.SIGKILL)

    async def resume(caller: Caller) -> None:
        await listening[caller.index]  # until the socket closes
        caller.closed = None
        await caller.reconnect(stack.ws_url("edge-2"), key)
        listening[caller.index] = asyncio.create_task(caller.listen())

    await asyncio.gather(*(resume(c) for c in callers))
    await asyncio.sleep(5)
    gaps = [c.longest_silence(after=killed_at - 0.1) for c in callers]
    await settle(callers)
    stop.set()
    await asyncio.sleep(2)
    await stop_all([*talking, *listening.values()])
    frames_lost = sum(c.frames_lost() for c in callers)
    typed = sum(len(c.typed) for c in callers)
    typed_lost = sum(len(c.typed_lost()) for c in callers)
    closed = sum(1 for c in callers if c.closed is not None)
    return summary("edge SIGKILL, resume on another", gaps, frames_lost, typed, typed_lost, closed)


async def heartbeat_cost(stack: Stack, args: argparse.Namespace, interval: float) -> str:
    stack.start_auth(wait=False)
    stack.start_edge(wait=False, **env(interval, max(0.75, 3 * interval)))
    room = str(args.heartbeat_sessions + 1)
    stack.start_worker("nova", wait=False, NOVA_MAX_SESSIONS=room, **env(interval, 1))
    stack.wait_ready()
    callers = [
        await Caller.open(stack.ws_url(), API_KEYS["alice"], i) for i in range(args.heartbeat_sessions)
    ]
    listening = [asyncio.create_task(c.listen()) for c in callers]
    await asyncio.sleep(2)
    processes = {name: psutil.Process(stack.processes[name].pid) for name in ("nova", "edge")}
    before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
    seconds = 10.0
    await asyncio.sleep(seconds)
    used = {name: sum(p.cpu_times()[:2]) - before[name] for name, p in processes.items()}
    await stop_all(listening)
    for caller in callers:
        await caller.client.close()
    per_hour = {name: cpu / (args.heartbeat_sessions * seconds) * 3600 for name, cpu in used.items()}
    return (
        f"| {interval} s | {args.heartbeat_sessions} | {per_hour['nova']:.1f} s | {per_hour['edge']:.1f} s "
        f"| load {load_average()} |"
    )


async def run_in_cluster(
    scenario: Callable[..., Awaitable[str]], args: argparse.Namespace, *extra: object
) -> str:
    with tempfile.TemporaryDirectory() as work:
        cluster = NatsCluster(Path(work)).start()
        stack = Stack(cluster.endpoint, Path(work))
        try:
            return await scenario(stack, args, *extra)
        finally:
            stack.stop_all()
            cluster.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--type-every", type=float, default=2.0, help="seconds between typed turns")
    parser.add_argument("--heartbeat", type=float, default=0.25, help="NOVA_HEARTBEAT_INTERVAL")
    parser.add_argument("--timeout", type=float, default=0.75, help="EDGE_HEARTBEAT_TIMEOUT")
    parser.add_argument("--heartbeat-sessions", type=int, default=20)
    parser.add_argument("--skip-heartbeat-cost", action="store_true")
    args = parser.parse_args()
    print(f"{args.callers} callers, heartbeat {args.heartbeat} s, timeout {args.timeout} s")
    print("| fault | gap p50 | gap max | frames lost | typed turns lost | sessions closed | samples | load |")
    print("|---|---|---|---|---|---|---|---|")
    print(await run_in_cluster(worker_kills, args), flush=True)
    print(await run_in_cluster(edge_kill, args), flush=True)
    if not args.skip_heartbeat_cost:
        print()
        print("| heartbeat | idle sessions | worker CPU / session-hour | edge CPU / session-hour | load |")
        print("|---|---|---|---|---|")
        for interval in (1.0, 0.25):
            print(await run_in_cluster(heartbeat_cost, args, interval), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
