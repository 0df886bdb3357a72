"""Faults injected into a running system on a 3-node NATS cluster, mid-call, with callers streaming
and typing: a session survives the loss of its worker (twice) or its edge, and loses nothing the
user said or the conversation so far; turn ids stay unique across the moves. (The figures, audio
gap and what a fault costs, come from bench/faults.py; here only what must hold.)

And NATS faults, with ten callers on the loopback engine and the transcripts service: the NATS node
the services use SIGKILLed (3-node cluster, every service given all three URLs), or the only NATS
server down 6 s and restarted on its port and store. No session closed, audio back in every one,
every typed line answered and its two transcripts stored exactly once, turn ids unique (figures:
bench/bus_faults.py)."""

from __future__ import annotations

import asyncio
import signal

import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_proto.session_state import SESSIONS_BUCKET, SessionStore
from voice_testkit.callers import Caller, stop_all
from voice_testkit.calls import Figures, start_call_services, through_fault
from voice_testkit.client import BINARY_PROTOCOL, VoiceClient
from voice_testkit.nats import NatsCluster, NatsServer
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

#: Echoes the microphone and answers typed ``user <words>`` with a final user transcript.
ENGINE = "voice_testkit.engines:EchoingScriptedFactory"
#: The production timing (the stack's defaults are slower for other tests' sake).
ENV = {
    "NOVA_ENGINE": ENGINE,
    "NOVA_HEARTBEAT_INTERVAL": "0.25",
    "EDGE_HEARTBEAT_TIMEOUT": "0.75",
    "VOICE_RECORDS_REPLICAS": "3",
}


async def owner_after(lifecycle: Recorder, session_id: str, previous: str = "") -> str:
    """The worker that took the session (first, or over from ``previous``)."""
    event = await lifecycle.wait_for(
        m.Lifecycle,
        lambda e: (
            e.kind in (m.LifecycleKind.STARTED, m.LifecycleKind.HANDED_OVER) and e.worker_id != previous
        ),
        session_id=session_id,
        timeout=15,
    )
    return event.worker_id


async def test_a_worker_killed_twice_mid_call_loses_nothing_said(cluster_stack: Stack) -> None:
    s = cluster_stack
    s.start_auth(wait=False)
    s.start_edge(wait=False, **ENV)
    for name in ("nova-a", "nova-b", "nova-c"):
        s.start_worker(name, wait=False, **ENV)
    s.wait_ready()
    bus = await s.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    callers = [await Caller.open(s.ws_url(), API_KEYS["alice"], i, type_every=0.4) for i in range(4)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.listen()) for c in callers] + [
        asyncio.create_task(c.talk(stop)) for c in callers
    ]
    try:
        for caller in callers:
            await caller.wait_echo_of(10)
        first = callers[0]
        await first.wait_typed(2)
        before_moves = first.typed[:2]

        owner = await owner_after(lifecycle, first.client.session_id)
        for _ in range(2):  # the session's worker dies, then the one that took it over
            s.processes[owner].signal(signal.SIGKILL)
            owner = await owner_after(lifecycle, first.client.session_id, previous=owner)
            for caller in callers:
                await caller.wait_echo_of(caller.frames_sent + 10)

        for caller in callers:
            caller.typing = False
            if caller.typed:
                await caller.wait_heard(caller.typed[-1])
        stop.set()
        await asyncio.gather(*tasks[len(callers) :])
        for caller in callers:
            await caller.wait_echo_of(caller.frames_sent)
            assert caller.closed is None
            assert caller.typed_lost() == []
            assert caller.frames_lost() == 0
            assert len(set(caller.user_turns)) == len(caller.user_turns)  # turn ids stay unique
        # The worker that has it now was given the conversation from before both moves.
        await first.client.send_text("recall")
        await first.wait_heard(before_moves[0], role="assistant")
        recalled = first.heard("assistant")[-1]
        assert all(text in recalled for text in before_moves)
    finally:
        await stop_all(tasks)
        await bus.drain()


async def test_an_edge_lost_mid_call_keeps_the_conversation_and_what_the_client_missed(
    cluster_stack: Stack,
) -> None:
    """A client that drops during a short answer gets the answer's final transcript when it resumes
    (on another edge), once; a killed edge's session resumes on another edge with its history, which
    a later worker handover still carries (issue 13.5); a session whose worker dies while its client
    is away is placed again, from its state, when the client resumes."""
    s = cluster_stack
    s.start_auth(wait=False)
    for name in ("edge-1", "edge-2"):
        s.start_edge(name, wait=False, **ENV)
    for name in ("nova-a", "nova-b"):
        s.start_worker(name, wait=False, **ENV)
    s.wait_ready()
    bus = await s.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    store = SessionStore(await bus.nc.jetstream().key_value(SESSIONS_BUCKET))
    key = API_KEYS["alice"]
    client = await VoiceClient.open(s.ws_url("edge-1"), key=key, protocol=BINARY_PROTOCOL)
    sid, token = client.session_id, client.resume_token
    for word in ("alpha", "beta"):
        await client.send_text(f"user {word}")
        await client.expect("transcript", text=word, stage="final")

    # Dropped while the answer plays; it ends while nobody is connected.
    await client.send_text("speak 25")
    await client.expect("turn", role="assistant", state="started")
    await client.close()
    again = await VoiceClient.open(
        s.ws_url("edge-2", f"session={sid}"), key=key, protocol=BINARY_PROTOCOL, resume_token=token
    )
    missed = await again.expect("transcript", role="assistant", stage="final")
    assert missed["text"].endswith("with 25 chunks")
    await again.send_text("user gamma")
    await again.expect("transcript", text="gamma", stage="final")
    saved = await wait_for_state(store, sid, lambda state: len(state.history) >= 4)
    assert saved.principal == "alice"

    # The edge dies with the client on it; the client resumes on the other edge.
    s.processes["edge-2"].signal(signal.SIGKILL)
    assert (await again.closed(timeout=10)).code != 1000  # no goodbye from a killed edge
    third = await VoiceClient.open(
        s.ws_url("edge-1", f"session={sid}"), key=key, protocol=BINARY_PROTOCOL, resume_token=token
    )
    # Then its worker dies: the worker that takes it over gets the conversation from edge-1, which
    # read it from the bus.
    owner = await owner_after(lifecycle, sid)
    s.processes[owner].signal(signal.SIGKILL)
    owner = await owner_after(lifecycle, sid, previous=owner)
    await third.send_text("recall")
    recalled = await third.expect("transcript", role="assistant", stage="final", timeout=10)
    for word in ("alpha", "beta", "gamma", "with 25 chunks"):
        assert word in recalled["text"]
    finals = [e for e in [*again.events, *third.events] if e.get("text", "").endswith("with 25 chunks")]
    assert len([e for e in finals if e["stage"] == "final"]) == 1

    # The client drops, and while nobody carries the session its worker dies too: the resume
    # places it again from its state in the bus, conversation and all.
    await third.close()
    await wait_for_state(store, sid, lambda state: state.updated_at > saved.updated_at)
    s.processes[owner].signal(signal.SIGKILL)
    s.start_worker("nova-c", wait=True, **ENV)
    fourth = await VoiceClient.open(
        s.ws_url("edge-1", f"session={sid}"), key=key, protocol=BINARY_PROTOCOL, resume_token=token
    )
    await fourth.send_text("recall")
    recalled = await fourth.expect("transcript", role="assistant", stage="final", timeout=10)
    for word in ("alpha", "beta", "gamma"):
        assert word in recalled["text"]
    await fourth.end()
    await bus.drain()


async def wait_for_state(store: SessionStore, sid: str, done: object) -> m.SessionState:
    assert callable(done)
    for _ in range(100):
        state = await store.get(sid)
        if state is not None and done(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"the session's state never got there: {await store.get(sid)}")


def assert_nothing_lost(figures: Figures) -> None:
    assert figures.closed == []
    assert figures.audio_back == figures.sessions
    assert figures.typed_turns_lost == 0
    assert figures.turn_ids_reused == 0
    stored = figures.stored
    assert (stored.stored, stored.duplicated) == (stored.expected, 0)
    assert stored.turn_ids_reused == 0


async def test_killing_the_nats_node_the_services_use_loses_nothing(
    cluster_stack: Stack, nats_cluster: NatsCluster
) -> None:
    start_call_services(cluster_stack)

    async def kill_the_edges_node() -> None:
        node = await asyncio.to_thread(nats_cluster.member_serving, "edge")
        await asyncio.to_thread(node.kill)

    assert_nothing_lost(await through_fault(cluster_stack, kill_the_edges_node))


async def test_six_seconds_without_nats_loses_nothing(fresh_stack: Stack, own_nats: NatsServer) -> None:
    start_call_services(fresh_stack)

    async def six_seconds_down() -> None:
        await asyncio.to_thread(own_nats.stop)
        await asyncio.sleep(6)
        await asyncio.to_thread(own_nats.start)

    assert_nothing_lost(await through_fault(fresh_stack, six_seconds_down))
