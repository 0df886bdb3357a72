"""Clients that leave at the worst moment: every way out of a connection releases what it took,
and a session nobody is connected to never costs a live caller a place.

One stack for the module: a loopback worker with room for four sessions and the default 30 s
resume window, so that a suspended session would hold its slot for the whole test.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import nats.errors
import pytest
from voice_proto import Bus, Delivery, channels
from voice_proto import messages as m
from voice_proto.telemetry_names import Metrics
from voice_testkit.client import VoiceClient, refused
from voice_testkit.nats import NatsEndpoint
from voice_testkit.stack import API_KEYS, Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(90)]

CAPACITY = 4


@pytest.fixture(scope="module")
def rough_stack(nats_endpoint: NatsEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(nats_endpoint, tmp_path_factory.mktemp("rough"))
    try:
        s.start_auth(wait=False)
        s.start_worker(wait=False, NOVA_MAX_SESSIONS=str(CAPACITY), NOVA_RESUME_WINDOW="30")
        s.start_edge(wait=False)
        s.wait_ready()
        yield s
    finally:
        s.stop_all()


class Lifecycles:
    """Every session's lifecycle on the bus: which started, which ended and why."""

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.suspended: set[str] = set()
        self.ended: dict[str, str] = {}
        self.changed = asyncio.Event()

    async def on_lifecycle(self, message: m.Lifecycle, delivery: Delivery) -> None:
        session = channels.LIFECYCLE.session_of(delivery.subject) or ""
        if message.kind is m.LifecycleKind.STARTED:
            self.started.add(session)
        elif message.kind is m.LifecycleKind.SUSPENDED:
            self.suspended.add(session)
        elif message.kind is m.LifecycleKind.ENDED:
            self.ended[session] = message.reason
        self.changed.set()

    async def all_let_go(self, timeout: float = 20.0) -> None:
        """Until every session that started has ended or waits for its client to resume."""

        async def wait() -> None:
            while not self.started <= self.ended.keys() | self.suspended:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def watch(rough_stack: Stack) -> AsyncIterator[tuple[Bus, Lifecycles]]:
    bus = await rough_stack.nats.connect()
    lifecycles = Lifecycles()
    subscription = await bus.subscribe(channels.LIFECYCLE, lifecycles.on_lifecycle)
    await bus.flush()
    yield bus, lifecycles
    await subscription.unsubscribe()
    await bus.drain()


async def worker_sessions(stack: Stack) -> float:
    """The worker's sessions gauge, from its Prometheus endpoint."""
    async with httpx.AsyncClient() as http:
        response = await http.get(stack.metrics_url("nova"))
    response.raise_for_status()
    gauge = f"{Metrics.WORKER_SESSIONS.name}{{"
    lines = response.text.splitlines()
    (value,) = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(gauge)]
    return value


async def drop_during_handshake(url: str) -> None:
    """Send the WebSocket upgrade with a valid offer, then vanish before the server answers it."""
    parts = urlsplit(url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: voice.v1, key.{API_KEYS['alice']}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    writer.transport.abort()  # a reset, as a phone leaving coverage does


async def listened_to(bus: Bus, session_id: str) -> bool:
    """True when somebody (an edge's subscription) still listens to the session's output."""
    try:
        await bus.nc.request(channels.OUT_EVENT.subject(session_id), b"", timeout=0.5)
    except nats.errors.NoRespondersError:
        return False
    except nats.errors.TimeoutError:
        return True
    return True


async def test_a_client_that_drops_during_the_handshake_leaks_nothing(
    rough_stack: Stack, watch: tuple[Bus, Lifecycles]
) -> None:
    bus, lifecycles = watch
    for _ in range(30):
        await drop_during_handshake(rough_stack.ws_url())
        await asyncio.sleep(0.05)
    # Each drop was placed on the worker (the edge answers the upgrade only once it has a worker).
    await asyncio.sleep(1.0)
    assert lifecycles.started
    await lifecycles.all_let_go()
    # A drop the edge noticed before it answered ends the session (nobody has its resume token);
    # one whose reset came just after the edge's answer left like any dropped client: suspended.
    assert set(lifecycles.ended.values()) == {m.EndReason.ABANDONED}
    assert len(lifecycles.ended) > len(lifecycles.suspended)
    assert [sid for sid in lifecycles.started if await listened_to(bus, sid)] == []
    assert await worker_sessions(rough_stack) == len(lifecycles.suspended - lifecycles.ended.keys())


async def test_suspended_sessions_never_cost_a_live_caller_a_place(
    rough_stack: Stack, watch: tuple[Bus, Lifecycles]
) -> None:
    _, lifecycles = watch

    async def connect_and_drop() -> VoiceClient:
        client = await VoiceClient.open(rough_stack.ws_url(), key=API_KEYS["bob"])
        client.ws.transport.abort()  # gone without {"type":"end"}
        return client

    # Ten clients connect and drop within a second: one at a time, each finding room.
    dropped = [await connect_and_drop() for _ in range(10)]
    assert await worker_sessions(rough_stack) == CAPACITY  # the last ones stay resumable
    caller = await VoiceClient.open(rough_stack.ws_url(), key=API_KEYS["alice"])
    await caller.send_audio(b"\x01\x00" * 160)
    assert (await caller.expect("media"))["pcm"] == b"\x01\x00" * 160
    first = dropped[0].session_id
    assert lifecycles.ended[first] == m.EndReason.EVICTED
    # The oldest gave its place first; its client is told why when it comes back.
    late = await refused(
        rough_stack.ws_url(query=f"session={first}"),
        key=API_KEYS["bob"],
        resume_token=dropped[0].resume_token,
    )
    assert (late.code, late.reason) == (4403, "resume refused: evicted")
    # The newest is still there for its client.
    back = await VoiceClient.open(
        rough_stack.ws_url(query=f"session={dropped[-1].session_id}"),
        key=API_KEYS["bob"],
        resume_token=dropped[-1].resume_token,
    )
    assert back.session_id == dropped[-1].session_id
    await back.end()
    await caller.end()
