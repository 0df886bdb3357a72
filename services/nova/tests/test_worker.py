"""The worker against a real NATS server, driven the way the edge drives it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from voice_nova.engine import Engine, EngineContext, EngineFactory, SessionSetup
from voice_nova.engines.loopback import LoopbackEngine, LoopbackFactory
from voice_nova.worker import Worker
from voice_proto import Bus, NoResponders, channels
from voice_proto import messages as m
from voice_proto.session_state import SessionStore
from voice_testkit.engines import ScriptedFactory, chunk_is_late, chunk_turn
from voice_testkit.nats import NatsEndpoint
from voice_testkit.recorder import Recorder

type MakeWorker = Callable[..., Awaitable[Worker]]

CONTEXT = EngineContext.with_default_tools()


@pytest.fixture
async def edge_bus(nats_endpoint: NatsEndpoint) -> AsyncIterator[Bus]:
    bus = await nats_endpoint.connect()
    yield bus
    await bus.drain()


@pytest.fixture
async def make_worker(nats_endpoint: NatsEndpoint) -> AsyncIterator[MakeWorker]:
    workers: list[tuple[Worker, Bus]] = []

    async def make(factory: EngineFactory | None = None, **options: Any) -> Worker:
        # As the worker's own NATS user: what the worker does must be within its permissions.
        bus = await nats_endpoint.connect("nova")
        settings: dict[str, Any] = {
            "worker_id": f"w{len(workers)}",
            "max_sessions": 4,
            "heartbeat_interval": 0.1,
            "resume_window": 5.0,
        }
        settings.update(options)
        worker = Worker(bus, factory or LoopbackFactory(CONTEXT), **settings)
        await worker.start()
        await bus.flush()
        workers.append((worker, bus))
        return worker

    yield make
    for worker, bus in workers:
        if not worker.draining:
            await worker.drain()
        await bus.drain()


_counter = iter(range(10**6))


def new_sid() -> str:
    return f"worker-test-{next(_counter):08d}"


async def start(bus: Bus, sid: str, principal: str = "alice") -> m.SessionClaim:
    claim: m.SessionClaim = await bus.request(
        channels.SESSIONS_START, m.SessionStart(session_id=sid, principal=principal), timeout=2
    )
    return claim


async def control(bus: Bus, sid: str, kind: m.ControlKind) -> None:
    await bus.publish(channels.IN_CONTROL, m.Control(kind=kind), session_id=sid)


async def test_claims_up_to_capacity_then_leaves_the_queue_group(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    worker = await make_worker(max_sessions=2)
    first, second = new_sid(), new_sid()
    assert (await start(edge_bus, first)).accepted
    assert (await start(edge_bus, second)).accepted
    await asyncio.sleep(0.1)  # the claim manager leaves the group
    with pytest.raises(NoResponders):
        await start(edge_bus, new_sid())
    await control(edge_bus, first, m.ControlKind.HANGUP)
    for _ in range(50):
        if worker.has_room and len(worker.sessions) == 1:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    claim = await start(edge_bus, new_sid())
    assert claim.accepted
    assert claim.worker_id == worker.worker_id


async def test_a_repeated_start_gets_the_same_claim(edge_bus: Bus, make_worker: MakeWorker) -> None:
    await make_worker()
    sid = new_sid()
    first = await start(edge_bus, sid)
    again = await start(edge_bus, sid)
    assert again.accepted
    assert again.resume_token == first.resume_token


async def test_a_claim_and_a_resume_say_what_the_engine_can_do(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    await make_worker(ScriptedFactory(CONTEXT))
    sid = new_sid()
    claim = await start(edge_bus, sid)
    assert claim.capabilities == ["text_input"]
    assert (await start(edge_bus, sid)).capabilities == ["text_input"]  # the repeated claim too
    resume = m.Control(kind=m.ControlKind.RESUME, token=claim.resume_token, principal="alice", conn_id="c2")
    reply: m.ControlReply = await edge_bus.request(channels.IN_CONTROL, resume, session_id=sid, timeout=2)
    assert reply == m.ControlReply(ok=True, capabilities=["text_input"], next_turn_id=1)


async def test_loopback_echoes_unchanged_with_sequence_numbers(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    await make_worker()
    sid = new_sid()
    out = await Recorder().listen(edge_bus, channels.OUT_AUDIO, sid)
    assert (await start(edge_bus, sid)).accepted
    frames = [bytes([i]) * 640 for i in range(5)]
    for seq, pcm in enumerate(frames, 1):
        await edge_bus.publish(channels.IN_AUDIO, m.AudioIn(seq=seq, pcm=pcm), session_id=sid)
    await out.wait_for(m.AudioOut, lambda a: a.seq == 5)
    assert [a.pcm for a in out.of_type(m.AudioOut)] == frames
    assert [a.seq for a in out.of_type(m.AudioOut)] == [1, 2, 3, 4, 5]


async def test_hangup_ends_with_lifecycle(edge_bus: Bus, make_worker: MakeWorker) -> None:
    worker = await make_worker()
    sid = new_sid()
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    await start(edge_bus, sid)
    await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.STARTED)
    await control(edge_bus, sid, m.ControlKind.HANGUP)
    ended = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED)
    assert ended.reason == "hangup"
    assert ended.principal == "alice"
    assert ended.worker_id == worker.worker_id
    assert sid not in worker.sessions


async def test_client_gone_then_resume(edge_bus: Bus, make_worker: MakeWorker) -> None:
    await make_worker()
    sid = new_sid()
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    events = await Recorder().listen(edge_bus, channels.OUT_EVENT, sid)
    claim = await start(edge_bus, sid)
    await control(edge_bus, sid, m.ControlKind.CLIENT_GONE)
    await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.SUSPENDED)

    async def resume(token: str, principal: str = "alice") -> m.ControlReply:
        request = m.Control(kind=m.ControlKind.RESUME, token=token, principal=principal, conn_id="conn2")
        reply: m.ControlReply = await edge_bus.request(
            channels.IN_CONTROL, request, session_id=sid, timeout=2
        )
        return reply

    assert await resume("not-the-token") == m.ControlReply(ok=False, reason="bad_token")
    assert await resume(claim.resume_token, principal="mallory") == m.ControlReply(
        ok=False, reason="wrong_principal"
    )
    assert (await resume(claim.resume_token)).ok
    await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.RESUMED)
    assert (await events.wait_for(m.Resumed)).conn_id == "conn2"


async def test_an_unresumed_session_ends_after_the_window(edge_bus: Bus, make_worker: MakeWorker) -> None:
    worker = await make_worker(resume_window=0.2)
    sid = new_sid()
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    claim = await start(edge_bus, sid)
    await control(edge_bus, sid, m.ControlKind.CLIENT_GONE)
    ended = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED, timeout=3)
    assert ended.reason == "client_gone"
    assert sid not in worker.sessions
    with pytest.raises(NoResponders):
        await edge_bus.request(
            channels.IN_CONTROL,
            m.Control(kind=m.ControlKind.RESUME, token=claim.resume_token, principal="alice"),
            session_id=sid,
            timeout=1,
        )


async def test_no_audio_of_an_interrupted_turn_is_published(edge_bus: Bus, make_worker: MakeWorker) -> None:
    await make_worker(ScriptedFactory(CONTEXT))
    sid = new_sid()
    out = await Recorder().listen(edge_bus, channels.OUT_AUDIO, sid)
    events = await Recorder().listen(edge_bus, channels.OUT_EVENT, sid)
    await start(edge_bus, sid)
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="speak 200"), session_id=sid)
    await out.wait_for(m.AudioOut, lambda a: a.seq == 10)
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="interrupt"), session_id=sid)
    await events.wait_for(m.Interrupted)
    await events.wait_for(m.TurnEnded)
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="speak 3"), session_id=sid)
    await events.wait_for(m.TurnEnded, lambda e: e.turn_id == 2)
    published = out.of_type(m.AudioOut)
    # The engine emitted three chunks of turn 1 after reporting the interruption: none was published.
    assert not [a for a in published if chunk_is_late(a.pcm)]
    turns = [chunk_turn(a.pcm) for a in published]
    assert 10 <= turns.count(1) < 200
    assert turns == [1] * turns.count(1) + [2, 2, 2]


async def test_fatal_engine_error_ends_the_session(edge_bus: Bus, make_worker: MakeWorker) -> None:
    await make_worker(ScriptedFactory(CONTEXT))
    sid = new_sid()
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    events = await Recorder().listen(edge_bus, channels.OUT_EVENT, sid)
    await start(edge_bus, sid)
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="fail"), session_id=sid)
    error = await events.wait_for(m.ErrorEvent)
    assert error.fatal
    assert error.code == "scripted_failure"
    ended = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED)
    assert ended.reason == "engine_error"


class _BrokenEngine(LoopbackEngine):
    async def start(self) -> None:
        raise RuntimeError("model unavailable")


class _BrokenFactory(LoopbackFactory):
    def create(self, setup: SessionSetup) -> Engine:
        return _BrokenEngine()


async def test_an_engine_that_cannot_start_refuses_the_claim(edge_bus: Bus, make_worker: MakeWorker) -> None:
    worker = await make_worker(_BrokenFactory(CONTEXT))
    claim = await start(edge_bus, new_sid())
    assert not claim.accepted
    assert claim.reason == "engine_failed"
    assert not worker.sessions


async def test_heartbeats_and_drain_hands_sessions_back(edge_bus: Bus, make_worker: MakeWorker) -> None:
    worker = await make_worker()
    sid = new_sid()
    events = await Recorder().listen(edge_bus, channels.OUT_EVENT, sid)
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    await start(edge_bus, sid)
    beat = await events.wait_for(m.Heartbeat)
    assert beat.worker_id == worker.worker_id
    await worker.drain()
    handover = await events.wait_for(m.HandoverRequested)
    assert handover.reason == "worker_shutdown"
    assert not [e for e in lifecycle.of_type(m.Lifecycle) if e.kind is m.LifecycleKind.ENDED]
    with pytest.raises(NoResponders):
        await start(edge_bus, new_sid())


async def test_a_session_whose_edge_falls_silent_is_suspended(edge_bus: Bus, make_worker: MakeWorker) -> None:
    await make_worker(client_timeout=0.3)
    sid = new_sid()
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    await start(edge_bus, sid)
    for _ in range(3):  # keepalives hold it
        await control(edge_bus, sid, m.ControlKind.KEEPALIVE)
        await asyncio.sleep(0.15)
    assert not lifecycle.of_type(m.Lifecycle, sid)[1:]
    suspended = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.SUSPENDED)
    assert suspended.reason == "edge_lost"


async def test_a_worker_taking_a_session_over_makes_the_old_owner_step_down(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    old = await make_worker(max_sessions=1)
    sid = new_sid()
    out = await Recorder().listen(edge_bus, channels.OUT_AUDIO, sid)
    lifecycle = await Recorder().listen(edge_bus, channels.LIFECYCLE, sid)
    first = await start(edge_bus, sid)
    assert first.worker_id == old.worker_id
    await asyncio.sleep(0.1)  # the full worker leaves the queue group
    new = await make_worker()
    # The edge missed heartbeats (say, a network blip) and places the session again.
    request = m.SessionStart(
        session_id=sid, principal="alice", handover=True, resume_token=first.resume_token
    )
    claim: m.SessionClaim = await edge_bus.request(channels.SESSIONS_START, request, timeout=2)
    assert claim.worker_id == new.worker_id
    assert claim.resume_token == first.resume_token
    for _ in range(50):
        if not old.sessions:
            break
        await asyncio.sleep(0.02)
    assert not old.sessions
    await edge_bus.publish(channels.IN_AUDIO, m.AudioIn(seq=1, pcm=b"\x07\x00" * 80), session_id=sid)
    await out.wait_for(m.AudioOut)
    await asyncio.sleep(0.3)
    assert len(out.of_type(m.AudioOut)) == 1  # one owner, one echo
    kinds = [e.kind for e in lifecycle.of_type(m.Lifecycle)]
    assert m.LifecycleKind.ENDED not in kinds
    assert m.LifecycleKind.HANDED_OVER in kinds


class SlowStartEngine(LoopbackEngine):
    """Loopback, but its start takes a while, as an engine's that loads or connects does."""

    async def start(self) -> None:
        await asyncio.sleep(0.3)


class SlowStartFactory(EngineFactory):
    def create(self, setup: SessionSetup) -> Engine:
        return SlowStartEngine()


async def test_the_claim_that_fills_the_worker_is_answered(edge_bus: Bus, make_worker: MakeWorker) -> None:
    await make_worker(SlowStartFactory(CONTEXT), max_sessions=2)
    claims = await asyncio.gather(start(edge_bus, new_sid()), start(edge_bus, new_sid()))
    assert [claim.accepted for claim in claims] == [True, True]


async def test_heartbeats_acknowledge_input_and_a_probe_is_answered(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    await make_worker(ScriptedFactory(CONTEXT))
    sid = new_sid()
    events = await Recorder().listen(edge_bus, channels.OUT_EVENT, sid)
    await start(edge_bus, sid)
    await edge_bus.publish(channels.IN_AUDIO, m.AudioIn(seq=7, pcm=b"\x00\x00" * 160), session_id=sid)
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="user hello", seq=3), session_id=sid)
    beat = await events.wait_for(m.Heartbeat, lambda b: b.audio_seq == 7 and b.text_seq == 3)
    assert beat.worker_id == "w0"
    probe = m.Control(kind=m.ControlKind.KEEPALIVE)
    reply = await edge_bus.request(channels.IN_CONTROL, probe, session_id=sid, timeout=2)
    assert reply == m.ControlReply(ok=True)


async def test_a_resumed_client_gets_what_it_missed_in_order_once(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    """The client dropped during an answer: the turn's events and final transcript that came after
    what its edge last sent it are sent again (the final transcript as ``MissedTranscript``, so the
    records keep it once), in their order; what it had received is not."""
    await make_worker(ScriptedFactory(CONTEXT))
    sid = new_sid()
    events = await Recorder().listen(edge_bus, channels.OUT_EVENT, sid)
    transcripts = await Recorder().listen(edge_bus, channels.TRANSCRIPT, sid)
    claim = await start(edge_bus, sid)
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="speak 2", seq=1), session_id=sid)
    await events.wait_for(m.TurnEnded, lambda e: e.turn_id == 1)
    greeting_end = events.of_type(m.TurnEnded)[0].seq
    greeting_final = transcripts.of_type(m.Transcript)[-1].seq
    await edge_bus.publish(channels.IN_TEXT, m.TextIn(text="speak 5", seq=2), session_id=sid)
    started = await events.wait_for(m.TurnStarted, lambda e: e.turn_id == 2)
    gone = m.Control(
        kind=m.ControlKind.CLIENT_GONE,
        delivered_event_seq=started.seq,  # the client saw the answer start, then dropped
        delivered_transcript_seq=greeting_final,
    )
    await edge_bus.publish(channels.IN_CONTROL, gone, session_id=sid)
    ended = await events.wait_for(m.TurnEnded, lambda e: e.turn_id == 2)
    final = await transcripts.wait_for(m.Transcript, lambda t: t.turn_id == 2 and t.stage is m.Stage.FINAL)
    before = len(events.messages)

    resume = m.Control(kind=m.ControlKind.RESUME, token=claim.resume_token, principal="alice", conn_id="c2")
    assert (await edge_bus.request(channels.IN_CONTROL, resume, session_id=sid, timeout=2)).ok
    await events.wait_for(m.TurnEnded, lambda e: len(events.of_type(m.TurnEnded)) == 3)
    again = [e for _, e in events.messages[before:] if not isinstance(e, (m.Heartbeat, m.Resumed))]
    assert again == [m.MissedTranscript(transcript=final), ended]
    assert greeting_end < started.seq
    assert len(transcripts.of_type(m.Transcript)) == len({t.seq for t in transcripts.of_type(m.Transcript)})


async def test_a_session_that_ends_has_its_state_deleted_one_handed_back_keeps_it(
    edge_bus: Bus, make_worker: MakeWorker
) -> None:
    """So that a resume after the end (the window passed) cannot place it again from its state."""
    worker = await make_worker()
    store = await SessionStore.ensure(edge_bus.nc.jetstream())
    ended, kept = new_sid(), new_sid()
    for sid in (ended, kept):
        await store.put(sid, m.SessionState(principal="alice"))
        await start(edge_bus, sid)
    await control(edge_bus, ended, m.ControlKind.HANGUP)
    for _ in range(100):
        if await store.get(ended) is None:
            break
        await asyncio.sleep(0.05)
    assert await store.get(ended) is None
    await worker.drain()  # hands the other back: it goes on elsewhere
    assert await store.get(kept) == m.SessionState(principal="alice")
