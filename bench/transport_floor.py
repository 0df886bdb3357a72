"""What the libraries cost before any code of ours runs: CPU per 20 ms frame of

- a bare FastAPI/uvicorn WebSocket echo (the edge's client side: one frame in, one frame out);
- a bare nats-py echo (a worker's bus side: one message in, one out), with and without a W3C
  ``traceparent`` header.

Put beside bench/transport.py, it says how much of the platform's CPU per session-minute is the
stack's floor and how much is ours. Same pacing as the transport benchmark: N callers, 50 frames/s.

    .venv/bin/python bench/transport_floor.py --callers 30 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import nats
import psutil
import uvloop
from voice_dev.natsserver import free_port
from voice_testkit.nats import NatsServer
from websockets.asyncio.client import connect

FRAME = bytes(640)
TRACEPARENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}

WS_ECHO = """
import sys, uvicorn
from fastapi import FastAPI, WebSocket
app = FastAPI()
@app.websocket("/ws")
async def ws(sock: WebSocket) -> None:
    await sock.accept()
    while True:
        message = await sock.receive()
        if message["type"] == "websocket.disconnect":
            return
        await sock.send_bytes(message["bytes"])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            ws_per_message_deflate=False, loop="uvloop")
"""

NATS_ECHO = """
import asyncio, sys, nats, uvloop
async def main() -> None:
    nc = await nats.connect(sys.argv[1])
    async def echo(msg) -> None:
        await nc.publish(msg.subject[:-3] + ".out", msg.data, headers=msg.headers)
    for i in range(int(sys.argv[2])):
        await nc.subscribe(f"floor{i}.in", cb=echo)
    await nc.flush()
    await asyncio.Event().wait()
uvloop.run(main())
"""


async def paced(send: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    while not stop.is_set():
        await send()
        sent += 1
        await asyncio.sleep(max(0.0, start + sent * 0.02 - loop.time()))


async def measure(
    pid: int, callers: int, seconds: float, load: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> float:
    """Server CPU microseconds per echoed frame while ``load`` runs."""
    stop = asyncio.Event()
    task = asyncio.create_task(load(stop))
    await asyncio.sleep(2.0)  # warm-up
    process = psutil.Process(pid)
    before: float = sum(process.cpu_times()[:2])
    await asyncio.sleep(seconds)
    after: float = sum(process.cpu_times()[:2])
    stop.set()
    await asyncio.gather(task, return_exceptions=True)
    return 1e6 * (after - before) / (callers * 50 * seconds)


async def websocket_floor(callers: int, seconds: float) -> float:
    port = free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", WS_ECHO, str(port))
    try:
        await asyncio.sleep(3.0)

        async def load(stop: asyncio.Event) -> None:
            async def one() -> None:
                async with connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_size=None) as ws:

                    async def drain() -> None:
                        while True:
                            await ws.recv()

                    reader = asyncio.create_task(drain())
                    await paced(lambda: ws.send(FRAME), stop)
                    reader.cancel()

            await asyncio.gather(*(one() for _ in range(callers)))

        return await measure(server.pid, callers, seconds, load)
    finally:
        server.terminate()
        await server.wait()


async def nats_floor(url: str, callers: int, seconds: float, headers: dict[str, str] | None) -> float:
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", NATS_ECHO, url, str(callers))
    try:
        await asyncio.sleep(2.0)
        nc = await nats.connect(url)

        async def ignore(_msg: object) -> None:
            pass

        for i in range(callers):
            await nc.subscribe(f"floor{i}.out", cb=ignore)

        def publisher(caller: int) -> Callable[[], Awaitable[None]]:
            subject = f"floor{caller}.in"

            async def publish() -> None:
                await nc.publish(subject, FRAME, headers=headers)

            return publish

        async def load(stop: asyncio.Event) -> None:
            await asyncio.gather(*(paced(publisher(i), stop) for i in range(callers)))

        result = await measure(server.pid, callers, seconds, load)
        await nc.close()
        return result
    finally:
        server.terminate()
        await server.wait()


def per_session_minute(us_per_frame: float) -> float:
    return us_per_frame * 3000 / 1e6


async def main(args: argparse.Namespace) -> None:
    # Open (no TLS, no users): the floor of nats-py itself, as the other rows measure theirs.
    nats_server = NatsServer(Path(tempfile.mkdtemp(prefix="bench-floor-")), secure=False).start()
    try:
        rows = [
            ("FastAPI/uvicorn WebSocket echo", await websocket_floor(args.callers, args.seconds)),
            ("nats-py echo, no headers", await nats_floor(nats_server.url, args.callers, args.seconds, None)),
            (
                "nats-py echo, traceparent header",
                await nats_floor(nats_server.url, args.callers, args.seconds, TRACEPARENT),
            ),
        ]
    finally:
        nats_server.stop()
    print(f"\n{args.callers} callers at 50 frames/s, {args.seconds:g} s each\n")
    print("| echo server | CPU µs per frame | CPU-s per session-minute |")
    print("|---|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.0f} | {per_session_minute(us):.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    uvloop.run(main(parser.parse_args()))
