"""The bus on a NATS cluster and across outages: a list of servers in NATS_URL, reconnection to
another member when the one in use dies, credentials refused at once, audio dropped (not queued)
while the connection is away, text queued and delivered when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from voice_dev.natsauth import new_user_seed
from voice_dev.natsserver import free_port
from voice_proto import Bus, BusError, CredentialsRefused, Delivery, channels
from voice_proto import messages as m
from voice_proto.bus import server_urls
from voice_proto.settings import NatsCredentials, ServiceSettings
from voice_testkit.nats import NatsCluster, NatsServer

SID = "bus-cluster-session-0001"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_nats_url_may_list_a_clusters_servers() -> None:
    assert server_urls("tls://a:4222") == ["tls://a:4222"]
    assert server_urls(" tls://a:4222, tls://b:4222 ,tls://c:4222") == [
        "tls://a:4222",
        "tls://b:4222",
        "tls://c:4222",
    ]
    with pytest.raises(ValueError, match="no server"):
        server_urls(" , ")


async def test_a_service_given_the_cluster_carries_on_when_its_member_dies(
    nats_cluster: NatsCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert nats_cluster.auth is not None
    for name, value in nats_cluster.endpoint.env("edge").items():
        monkeypatch.setenv(name, value)
    edge = Bus.for_service(ServiceSettings(), "edge")
    await edge.start()
    member = nats_cluster.member_of(edge)
    # The watcher sits on another member, which stays up.
    other = next(node for node in nats_cluster.members if node is not member)
    watcher = await other.connect()
    try:
        received: asyncio.Queue[str] = asyncio.Queue()

        async def on_text(text: m.TextIn, _delivery: Delivery) -> None:
            await received.put(text.text)

        await watcher.subscribe(channels.IN_TEXT, on_text, session_id=SID)
        await watcher.flush()
        await edge.publish(channels.IN_TEXT, m.TextIn(text="before"), session_id=SID)
        assert await asyncio.wait_for(received.get(), 5) == "before"

        member.kill()
        await until(lambda: edge.disconnects == 1)
        # Sent once the member is gone: delivered through the member the edge moved to.
        await edge.publish(channels.IN_TEXT, m.TextIn(text="during"), session_id=SID)
        assert await asyncio.wait_for(received.get(), 10) == "during"
        assert nats_cluster.member_of(edge) is not member
        assert edge.away_within(10)
    finally:
        await edge.drain()
        await watcher.drain()


async def test_refused_credentials_end_the_connect_at_once(own_nats: NatsServer, tmp_path: Path) -> None:
    """nats-py would retry a refusal forever; the service must exit saying why instead."""
    assert own_nats.auth is not None
    stranger = tmp_path / "stranger.nk"
    stranger.write_bytes(new_user_seed())
    credentials = NatsCredentials(nkey_seed_file=stranger, tls_ca=own_nats.auth.ca_file())
    began = time.monotonic()
    with pytest.raises(CredentialsRefused, match="refused the credentials of edge"):
        await asyncio.wait_for(Bus.connect(own_nats.url, "edge", credentials=credentials, retry_for=30), 20)
    assert time.monotonic() - began < 20


async def test_no_server_up_within_the_retry_time_is_an_error() -> None:
    url = f"nats://127.0.0.1:{free_port()},nats://127.0.0.1:{free_port()}"
    with pytest.raises(BusError, match="cannot reach NATS"):
        await asyncio.wait_for(Bus.connect(url, "edge", retry_for=1.0), 10)


async def test_while_nats_is_away_audio_is_dropped_and_text_waits(own_nats: NatsServer) -> None:
    edge = await own_nats.connect("edge", reconnect_buffer=64 * 1024)
    try:
        own_nats.stop()
        await until(lambda: not edge.connected)
        frame = m.AudioIn(seq=1, pcm=bytes(640))
        # Far more audio than the reconnect buffer holds: none of it is queued, nothing raises.
        sent = [await edge.publish_lossy(channels.IN_AUDIO, frame, session_id=SID) for _ in range(500)]
        assert not any(sent)
        await edge.publish(channels.IN_TEXT, m.TextIn(text="typed while away"), session_id=SID)

        own_nats.start()
        watcher = await own_nats.connect()
        received: asyncio.Queue[str] = asyncio.Queue()

        async def on_text(text: m.TextIn, _delivery: Delivery) -> None:
            await received.put(text.text)

        await watcher.subscribe(channels.IN_TEXT, on_text, session_id=SID)
        await watcher.flush()
        # The edge's queued text reaches the server when it reconnects, which may be before or
        # after the watcher subscribed: publish once more after, and expect both when in order.
        await until(lambda: edge.connected)
        await edge.publish(channels.IN_TEXT, m.TextIn(text="after"), session_id=SID)
        seen = [await asyncio.wait_for(received.get(), 5)]
        if seen[0] != "after":
            seen.append(await asyncio.wait_for(received.get(), 5))
        assert seen[-1] == "after"
        await watcher.drain()
    finally:
        await edge.drain()
