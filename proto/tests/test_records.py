"""Durable records on a 3-node cluster: the stream holds three copies unless told otherwise, a
changed replica setting reaches a stream that exists, and records published while the stream's
leader dies are all stored, once."""

from __future__ import annotations

import asyncio

import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_proto.streams import RECORDS_STREAM, RecordsStreamError, ensure_records_stream
from voice_testkit.nats import NatsCluster, NatsServer

SID = "records-test-session-01"


async def test_replicas_default_to_what_the_server_holds_and_follow_the_setting(
    nats_cluster: NatsCluster, own_nats: NatsServer
) -> None:
    single = await own_nats.connect()
    js = single.nc.jetstream()
    await ensure_records_stream(js)
    assert (await js.stream_info(RECORDS_STREAM)).config.num_replicas == 1
    await js.delete_stream(RECORDS_STREAM)
    with pytest.raises(RecordsStreamError, match="VOICE_RECORDS_REPLICAS"):
        await ensure_records_stream(js, replicas=3)
    await single.drain()

    bus = await nats_cluster.connect()
    js = bus.nc.jetstream()
    await ensure_records_stream(js, replicas=1)  # as an older release made it
    assert (await js.stream_info(RECORDS_STREAM)).config.num_replicas == 1
    await ensure_records_stream(js)  # unset: as many as the cluster holds
    assert (await js.stream_info(RECORDS_STREAM)).config.num_replicas == 3
    await ensure_records_stream(js, replicas=1)  # the operator's setting wins, either way
    assert (await js.stream_info(RECORDS_STREAM)).config.num_replicas == 1
    await bus.drain()


async def test_records_published_while_the_stream_leader_dies_are_stored_once(
    nats_cluster: NatsCluster,
) -> None:
    admin = await nats_cluster.connect()
    js = admin.nc.jetstream()
    await ensure_records_stream(js)
    info = await js.stream_info(RECORDS_STREAM)
    assert info.cluster is not None
    leader = next(
        node
        for node in nats_cluster.members
        if node.cluster and node.cluster.server_name == info.cluster.leader
    )
    # The worker sits on the leader: it loses its connection and the stream's leader at once
    # (and goes on through the members the server announced).
    worker = await leader.connect("nova")
    total = 200
    for seq in range(1, total + 1):
        said = m.Transcript(turn_id=seq, role=m.Role.USER, text=f"line {seq}", stage=m.Stage.FINAL)
        await worker.publish(channels.TRANSCRIPT, said, session_id=SID)
        if seq == total // 4:
            leader.kill()
        await asyncio.sleep(0.01)
    assert await worker.records.flush(30), f"{worker.records.pending} records never acknowledged"
    assert worker.records.dropped == 0

    stored = await js.stream_info(RECORDS_STREAM)
    assert stored.state.messages == total
    turns = []
    for seq in range(1, total + 1):
        msg = await js.get_msg(RECORDS_STREAM, seq)
        assert msg.subject is not None
        assert msg.data is not None
        turns.append(channels.TRANSCRIPT.decode(msg.data, msg.subject).turn_id)
    assert sorted(turns) == list(range(1, total + 1))
    await worker.drain()
    await admin.drain()
