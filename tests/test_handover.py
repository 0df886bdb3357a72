"""Workers and edges come and go; sessions go on."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.client import BINARY_PROTOCOL, VoiceClient, refused
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack


async def echo_ok(client: VoiceClient, timeout: float = 5.0) -> None:
    """Sends frames until one comes back (audio sent while no worker owns the session is lost)."""
    frame = os.urandom(640)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await client.send_audio(frame)
        try:
            event = await client.expect("media", timeout=0.2)
        except TimeoutError:
            continue
        if event["pcm"] == frame:
            return
    raise AssertionError("the session stopped echoing")


async def owner(lifecycle: Recorder, client: VoiceClient, kind: m.LifecycleKind) -> str:
    event = await lifecycle.wait_for(
        m.Lifecycle, lambda e: e.kind is kind, session_id=client.session_id, timeout=10
    )
    return event.worker_id


async def test_a_killed_worker_is_replaced_and_the_session_goes_on(fresh_stack: Stack) -> None:
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_edge(wait=False)
    fresh_stack.start_worker("nova-a", wait=False)
    fresh_stack.start_worker("nova-b", wait=False)
    fresh_stack.wait_ready()
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
    await echo_ok(client)
    first = await owner(lifecycle, client, m.LifecycleKind.STARTED)

    fresh_stack.processes[first].signal(signal.SIGKILL)
    second = await owner(lifecycle, client, m.LifecycleKind.HANDED_OVER)
    assert second != first
    await echo_ok(client)
    assert not [e for e in client.events if e["event"] == "error"]
    await client.end()
    await bus.drain()


async def test_a_stopping_worker_hands_its_sessions_over_at_once(fresh_stack: Stack) -> None:
    fresh_stack.start_auth(wait=False)
    # Heartbeats would take a minute to be missed: the handover must come from the worker letting go.
    fresh_stack.start_edge(wait=False, EDGE_HEARTBEAT_TIMEOUT="60")
    fresh_stack.start_worker("nova-a", wait=False)
    fresh_stack.start_worker("nova-b", wait=False)
    fresh_stack.wait_ready()
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    first = await owner(lifecycle, client, m.LifecycleKind.STARTED)

    assert fresh_stack.processes[first].stop() == 0
    second = await owner(lifecycle, client, m.LifecycleKind.HANDED_OVER)
    assert second != first
    await echo_ok(client)
    assert not [e for e in lifecycle.of_type(m.Lifecycle) if e.kind is m.LifecycleKind.ENDED]
    await client.end()
    await bus.drain()


async def test_when_no_worker_is_left_the_client_is_told(fresh_stack: Stack) -> None:
    fresh_stack.start_spine(EDGE_START_TIMEOUT="1.0")
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    fresh_stack.processes["nova"].signal(signal.SIGKILL)
    error = await client.expect("error", timeout=10)
    assert error["code"] == "worker_lost"
    assert (await client.closed()).code == 1013


async def test_a_restarting_edge_sends_1012_and_the_client_resumes_on_another(fresh_stack: Stack) -> None:
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_worker(wait=False)
    fresh_stack.start_edge("edge-1", wait=False)
    fresh_stack.start_edge("edge-2", wait=False)
    fresh_stack.wait_ready()
    client = await VoiceClient.open(fresh_stack.ws_url("edge-1"), key=API_KEYS["alice"])
    await echo_ok(client)
    assert fresh_stack.processes["edge-1"].stop() == 0
    assert (await client.closed()).code == 1012

    url = fresh_stack.ws_url("edge-2", query=f"session={client.session_id}")
    again = await VoiceClient.open(url, key=API_KEYS["alice"], resume_token=client.resume_token)
    assert again.session_id == client.session_id
    await echo_ok(again)
    await again.end()


async def test_a_draining_edge_keeps_its_calls_until_they_end_or_the_bound_passes(fresh_stack: Stack) -> None:
    """SIGTERM (a rollout, a node drain) does not cut calls: the edge stops taking new ones (1012,
    /ready 503) while the calls it has go on; one that ends by itself ends normally, one that
    outlasts EDGE_DRAIN_TIMEOUT is closed with 1012 and resumes on another edge."""
    bound = 6.0
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_worker(wait=False)
    fresh_stack.start_edge("edge-1", wait=False, EDGE_DRAIN_TIMEOUT=str(bound))
    fresh_stack.start_edge("edge-2", wait=False)
    fresh_stack.wait_ready()
    short = await VoiceClient.open(fresh_stack.ws_url("edge-1"), key=API_KEYS["alice"])
    long = await VoiceClient.open(fresh_stack.ws_url("edge-1"), key=API_KEYS["bob"])
    await echo_ok(short)
    await echo_ok(long)

    loop = asyncio.get_running_loop()
    fresh_stack.processes["edge-1"].signal(signal.SIGTERM)
    stopped_at = loop.time()
    ready = f"{fresh_stack.http_url('edge-1')}/ready"
    async with httpx.AsyncClient() as http:
        while (await http.get(ready)).status_code != 503:
            await asyncio.sleep(0.05)
    newcomer = await refused(fresh_stack.ws_url("edge-1"), key=API_KEYS["alice"])
    assert newcomer.code == 1012
    await echo_ok(short)
    await echo_ok(long)
    await short.end()
    assert (await short.closed()).code == 1000
    await echo_ok(long)  # still served after the other call ended

    closed = await long.closed(timeout=bound + 30)
    assert closed.code == 1012
    assert loop.time() - stopped_at >= bound - 0.5
    assert fresh_stack.processes["edge-1"].stop() == 0
    url = fresh_stack.ws_url("edge-2", query=f"session={long.session_id}")
    again = await VoiceClient.open(url, key=API_KEYS["bob"], resume_token=long.resume_token)
    await echo_ok(again)
    await again.end()


async def test_a_crashed_edge_leaves_the_session_resumable_elsewhere(fresh_stack: Stack) -> None:
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_worker(wait=False, NOVA_CLIENT_TIMEOUT="1.5")
    fresh_stack.start_edge("edge-1", wait=False, EDGE_KEEPALIVE_INTERVAL="0.5")
    fresh_stack.start_edge("edge-2", wait=False, EDGE_KEEPALIVE_INTERVAL="0.5")
    fresh_stack.wait_ready()
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url("edge-1"), key=API_KEYS["alice"])
    await echo_ok(client)

    fresh_stack.processes["edge-1"].signal(signal.SIGKILL)  # no goodbye to anyone
    suspended = await lifecycle.wait_for(
        m.Lifecycle,
        lambda e: e.kind is m.LifecycleKind.SUSPENDED,
        session_id=client.session_id,
        timeout=10,
    )
    assert suspended.reason == "edge_lost"

    url = fresh_stack.ws_url("edge-2", query=f"session={client.session_id}")
    again = await VoiceClient.open(url, key=API_KEYS["alice"], resume_token=client.resume_token)
    await echo_ok(again)
    await again.end()
    await bus.drain()
