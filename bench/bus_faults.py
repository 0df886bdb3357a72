"""Bus fault benchmark: calls in progress while NATS fails (or a worker, for comparison), with what
each fault cost (bench/faults.py measures worker and edge kills on a cluster in detail).

    .venv/bin/python bench/bus_faults.py                      # every fault, 10 sessions
    .venv/bin/python bench/bus_faults.py --sessions 20 --fault nats-node-kill

Each fault gets a stack of its own (NATS, auth, worker(s), edge, transcripts as processes, like the
tests; loopback engine). N sessions stream 20 ms frames and type a line every 2 s; after a few
seconds the fault is injected, the calls go on, then each session ends. Per fault, one row:

- audio gap p50 / max: per session, the longest time without an echoed frame from the fault on;
- frames lost / sent: frames that never came back (audio sent while the bus is away is dropped);
- typed turns lost / sent: typed lines whose echo turn never reached the client;
- transcripts stored / expected / duplicated: the typed lines' transcripts in the transcripts
  service (two per line);
- sessions closed (by the system, not by the load), and the load average when the row was taken.

Faults: ``nats-node-kill`` (SIGKILL of the cluster node the edge uses; 3-node cluster, all three
URLs given to every service), ``nats-down-6s`` (the one server stopped 6 s, then restarted on its
port and store), ``nats-restart`` (stopped and started at once), ``worker-kill`` (SIGKILL of one of
two workers: the sessions it owned move to the other).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from voice_testkit.calls import FIGURES_HEADER, figures_row, start_call_services, through_fault
from voice_testkit.machine import load_average
from voice_testkit.nats import NatsCluster, NatsServer
from voice_testkit.stack import Stack


async def run_fault(name: str, sessions: int, before: float, after: float) -> str:
    work = Path(tempfile.mkdtemp(prefix=f"bench-faults-{name}-"))
    cluster: NatsCluster | None = None
    server: NatsServer | None = None
    if name == "nats-node-kill":
        cluster = NatsCluster(work).start()
        endpoint = cluster.endpoint
    else:
        server = NatsServer(work).start()
        endpoint = server.endpoint
    stack = Stack(endpoint, work, LOG_LEVEL="warning")
    try:
        start_call_services(stack, workers=2 if name == "worker-kill" else 1)

        async def inject() -> None:
            if cluster is not None:
                node = await asyncio.to_thread(cluster.member_serving, "edge")
                await asyncio.to_thread(node.kill)
            elif name == "worker-kill":
                stack.processes["nova"].kill()
            else:
                assert server is not None
                await asyncio.to_thread(server.stop)
                if name == "nats-down-6s":
                    await asyncio.sleep(6)
                await asyncio.to_thread(server.start)

        figures = await through_fault(stack, inject, sessions=sessions, before=before, after=after)
        return figures_row(name, figures, load_average())
    finally:
        stack.stop_all()
        if cluster is not None:
            cluster.stop()
        if server is not None:
            server.stop()


FAULTS = ("nats-node-kill", "nats-down-6s", "nats-restart", "worker-kill")


async def main(args: argparse.Namespace) -> None:
    rows = []
    for fault in args.fault:
        row = await run_fault(fault, args.sessions, args.before, args.after)
        print(row, file=sys.stderr, flush=True)
        rows.append(row)
    print(f"\n{args.sessions} sessions, 20 ms frames, a typed line every 2 s; {os.cpu_count()} cores\n")
    print(FIGURES_HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--fault", nargs="+", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--before", type=float, default=3.0, help="seconds of calls before the fault")
    parser.add_argument("--after", type=float, default=8.0, help="seconds of calls after it")
    asyncio.run(main(parser.parse_args()))
