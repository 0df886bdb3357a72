"""Calls in progress while NATS fails, against real processes: ten sessions stream 20 ms frames
and type a line every 2 s (loopback engine: every frame echoes, every line is one turn) while the
NATS node the services use is SIGKILLed (a 3-node cluster, every service given all three URLs),
or the only NATS server is down for 6 s and restarted on its port and store.

Each asserts: no session closed, audio back in every session, every typed line answered and its
two transcripts stored exactly once by the transcripts service, turn ids unique. The figures
(audio gap, frames lost, ...) are measured by bench/faults.py, not asserted here.
"""

from __future__ import annotations

import asyncio

import pytest
from voice_testkit.calls import Figures, start_call_services, through_fault
from voice_testkit.nats import NatsCluster, NatsServer
from voice_testkit.stack import Stack

pytestmark = pytest.mark.stack

SESSIONS = 10


def assert_nothing_lost(figures: Figures) -> None:
    assert figures.closed == []
    assert figures.audio_back == figures.sessions
    assert figures.typed_turns_lost == 0
    assert figures.turn_ids_reused == 0
    stored = figures.stored
    assert stored is not None
    assert (stored.stored, stored.duplicated) == (stored.expected, 0)
    assert stored.turn_ids_reused == 0


async def test_killing_the_nats_node_the_services_use_loses_nothing(
    cluster_stack: Stack, nats_cluster: NatsCluster
) -> None:
    start_call_services(cluster_stack)

    async def kill_the_edges_node() -> None:
        node = await asyncio.to_thread(nats_cluster.member_serving, "edge")
        await asyncio.to_thread(node.kill)

    assert_nothing_lost(await through_fault(cluster_stack, kill_the_edges_node, sessions=SESSIONS))


async def test_six_seconds_without_nats_loses_nothing(fresh_stack: Stack, own_nats: NatsServer) -> None:
    start_call_services(fresh_stack)

    async def six_seconds_down() -> None:
        await asyncio.to_thread(own_nats.stop)
        await asyncio.sleep(6)
        await asyncio.to_thread(own_nats.start)

    assert_nothing_lost(await through_fault(fresh_stack, six_seconds_down, sessions=SESSIONS))
