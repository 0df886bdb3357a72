"""A session's tie to its worker, on a fake clock: keepalives, heartbeats, handover when the worker
falls silent or lets the session go, and the end when no worker is left. Placement goes over a
real NATS server to a worker's side of ``voice.sessions.start`` played by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from nats.js.api import StreamConfig
from voice_edge import protocol as p
from voice_edge.outcome import CloseRequest, Outcome
from voice_edge.settings import EdgeSettings
from voice_edge.worker_link import EngineTraits, WorkerLink
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_testkit.clock import FakeClock
from voice_testkit.nats import NatsServer
from voice_testkit.ports import RecordedSession
from voice_testkit.recorder import Recorder

SID = "link-test-session-000001"
HISTORY = [m.HistoryTurn(role=m.Role.USER, text="what time is it")]
HEARTBEAT_TIMEOUT = 4.0


@pytest.fixture
async def workers(own_bus: Bus) -> Recorder:
    """The workers' side of ``voice.sessions.start``: every request is claimed."""
    claim = m.SessionClaim(accepted=True, worker_id="w1", resume_token="tok")
    return await Recorder().listen(own_bus, channels.SESSIONS_START, answer=lambda _start: claim)


async def starts(workers: Recorder, count: int) -> list[m.SessionStart]:
    """The first ``count`` requests to place the session (waits for them)."""
    await workers.wait_for(m.SessionStart, lambda _s: len(workers.of_type(m.SessionStart)) >= count)
    return workers.of_type(m.SessionStart)


@pytest.fixture
async def to_worker(own_bus: Bus) -> Recorder:
    """What the edge says to the session's worker and about the session."""
    recorder = await Recorder().listen(own_bus, channels.IN_CONTROL, SID)
    return await recorder.listen(own_bus, channels.LIFECYCLE, SID)


class Link:
    def __init__(
        self,
        bus: Bus,
        *,
        keepalive_interval: float = 1000.0,
        capabilities: tuple[str, ...] = (),
        bus_outage_limit: float = 15.0,
        owner: str = "",
        replay_seconds: float = 3.0,
    ) -> None:
        self.clock = FakeClock()
        self.session = RecordedSession()
        settings = EdgeSettings(
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            keepalive_interval=keepalive_interval,
            start_timeout=1.0,
            bus_outage_limit=bus_outage_limit,
            probe_timeout=0.3,
            replay_seconds=replay_seconds,
        )
        self.link = WorkerLink(
            bus,
            SID,
            settings=settings,
            handover_request=self.handover_request,
            tell=self.session.tell,
            close=self.session.close,
            engine=EngineTraits(list(capabilities)),
            owner=owner,
            clock=self.clock,
        )
        self.task: asyncio.Task[None] | None = None

    def handover_request(self) -> m.SessionStart:
        return m.SessionStart(session_id=SID, principal="alice", handover=True, history=HISTORY, greet=False)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.link.run())
        await self.clock.sleeping(2)  # the keepalive and the heartbeat watch

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def link(own_bus: Bus) -> AsyncIterator[Link]:
    link = Link(own_bus)
    await link.start()
    yield link
    await link.stop()


async def test_keepalives_tell_the_worker_that_the_edge_still_serves_the_session(
    own_bus: Bus, to_worker: Recorder
) -> None:
    link = Link(own_bus, keepalive_interval=1.5)
    await link.start()
    try:
        await link.clock.advance(1.5)
        await to_worker.wait_for(m.Control, lambda c: c.kind is m.ControlKind.KEEPALIVE)
        await link.clock.advance(1.5)
        await link.clock.sleeping(2)
        await to_worker.wait_for(m.Control, lambda _c: len(to_worker.of_type(m.Control)) == 2)
        assert {c.kind for c in to_worker.of_type(m.Control)} == {m.ControlKind.KEEPALIVE}
    finally:
        await link.stop()


async def test_heartbeats_keep_the_session_on_its_worker(link: Link, workers: Recorder) -> None:
    for _ in range(3):
        await link.clock.advance(HEARTBEAT_TIMEOUT - 1)
        link.link.heartbeat(m.Heartbeat(worker_id="w1"))
    await link.clock.advance(HEARTBEAT_TIMEOUT - 1)
    assert workers.of_type(m.SessionStart) == []
    assert link.session.told == []


async def test_a_silent_worker_hands_the_session_over_with_its_finished_turns(
    link: Link, workers: Recorder
) -> None:
    await link.clock.advance(HEARTBEAT_TIMEOUT)
    [start] = await starts(workers, 1)
    assert start.handover
    assert start.history == HISTORY
    assert not start.greet
    # The new worker's claim counts as its first heartbeat.
    await link.clock.sleeping(2)
    await link.clock.advance(HEARTBEAT_TIMEOUT - 0.5)
    assert len(workers.of_type(m.SessionStart)) == 1
    await link.clock.advance(0.5)
    await starts(workers, 2)
    assert link.session.told == []
    assert link.session.closes == []


async def test_after_a_handover_the_link_has_the_new_workers_engine_and_the_client_is_not_told(
    own_bus: Bus,
) -> None:
    claim = m.SessionClaim(
        accepted=True, worker_id="w2", resume_token="tok", capabilities=["tools"], output_rate=m.INPUT_RATE
    )
    workers = await Recorder().listen(own_bus, channels.SESSIONS_START, answer=lambda _start: claim)
    link = Link(own_bus, capabilities=("text_input", "tools"))
    await link.start()
    try:
        assert link.link.engine == EngineTraits(["text_input", "tools"], m.OUTPUT_RATE)
        link.link.released()
        await starts(workers, 1)
        await link.clock.sleeping(2)  # back to watching the new worker
        assert link.link.engine == EngineTraits(["tools"], m.INPUT_RATE)
        assert link.session.told == []
        assert link.session.closes == []
    finally:
        await link.stop()


async def test_a_worker_that_lets_the_session_go_hands_it_over_at_once(link: Link, workers: Recorder) -> None:
    link.link.released()
    [start] = await starts(workers, 1)  # no time passed
    assert start.session_id == SID
    assert link.clock.monotonic() == 0
    assert link.session.closes == []


async def test_when_no_worker_takes_the_session_the_client_is_told_and_the_session_closes(
    link: Link, to_worker: Recorder
) -> None:
    link.link.released()  # and nobody answers voice.sessions.start

    async def retry_until_closed() -> None:
        while not link.session.closes:
            await link.clock.sleeping(2)
            await link.clock.advance(0.2)

    await asyncio.wait_for(retry_until_closed(), 10)
    assert link.session.closes == [CloseRequest(p.Close.TRY_AGAIN_LATER, "worker lost", Outcome.FAILED)]
    assert link.session.told == [
        p.ErrorEvent(p.ErrorCode.WORKER_LOST, "the session's worker stopped and no other is available")
    ]
    ended = await to_worker.wait_for(m.Lifecycle)
    assert (ended.kind, ended.reason, ended.principal) == (m.LifecycleKind.ENDED, "worker_lost", "alice")
    assert 1.0 <= link.clock.monotonic() < 1.5  # the start timeout
    assert link.task is not None
    await asyncio.wait_for(link.task, 5)  # the link is done


async def test_controls_reach_the_sessions_worker(link: Link, to_worker: Recorder) -> None:
    await link.link.control(m.ControlKind.HANGUP, reason="auth_expired")
    control = await to_worker.wait_for(m.Control)
    assert (control.kind, control.reason) == (m.ControlKind.HANGUP, "auth_expired")


async def test_only_the_owners_heartbeats_keep_the_session_where_it_is(
    own_bus: Bus, workers: Recorder
) -> None:
    link = Link(own_bus, owner="w1")
    await link.start()
    try:
        await link.clock.advance(HEARTBEAT_TIMEOUT - 1)
        link.link.heartbeat(m.Heartbeat(worker_id="w0"))  # a previous owner, still beating
        await link.clock.advance(1)
        await starts(workers, 1)
    finally:
        await link.stop()


async def test_a_late_owner_that_answers_the_probe_keeps_the_session(own_bus: Bus, workers: Recorder) -> None:
    probes = await Recorder().listen(
        own_bus, channels.IN_CONTROL, SID, answer=lambda _control: m.ControlReply(ok=True)
    )
    link = Link(own_bus)
    await link.start()
    try:
        await link.clock.advance(HEARTBEAT_TIMEOUT)
        probe = await probes.wait_for(m.Control)
        assert probe.kind is m.ControlKind.KEEPALIVE
        await link.clock.sleeping(2)  # watching again
        assert workers.of_type(m.SessionStart) == []
    finally:
        await link.stop()


async def test_what_a_dead_owner_did_not_acknowledge_goes_to_the_next_in_order(
    own_bus: Bus, workers: Recorder
) -> None:
    """Input the owner acknowledged in a heartbeat is not sent again; the rest, audio and typed
    text, reaches the new owner in the order the user sent it, then input flows on to it."""
    inputs = await Recorder().listen(own_bus, channels.IN_AUDIO, SID)
    await inputs.listen(own_bus, channels.IN_TEXT, SID)
    # A stream that captures the input, as the recorder's does: it keeps each frame once.
    js = own_bus.nc.jetstream()
    await js.add_stream(StreamConfig(name="CAPTURE", subjects=[channels.IN_AUDIO.subject(SID)], no_ack=True))
    link = Link(own_bus)
    await link.start()
    try:
        for n in range(1, 4):
            await link.link.send_audio(bytes([n]) * 640)
        await link.link.send_text("hello")
        link.link.heartbeat(m.Heartbeat(worker_id="w1", audio_seq=2, text_seq=0))
        await link.link.send_audio(bytes([4]) * 640)
        await inputs.wait_for(m.AudioIn, lambda a: a.seq == 4)
        assert [t.seq for t in link.link.replay.pending()] == [3, 1, 4]

        await link.clock.advance(HEARTBEAT_TIMEOUT)  # nobody answers the probe: no responders
        await starts(workers, 1)
        await link.clock.sleeping(2)  # placed, replayed, watching the new owner
        await link.link.send_text("still there?")
        await inputs.wait_for(m.TextIn, lambda t: t.seq == 2)
        assert [a.seq for a in inputs.of_type(m.AudioIn)] == [1, 2, 3, 4, 3, 4]
        assert [t.text for t in inputs.of_type(m.TextIn)] == ["hello", "hello", "still there?"]
        assert (await js.stream_info("CAPTURE")).state.messages == 4
        assert link.session.closes == []
    finally:
        await link.stop()


async def test_the_audio_kept_for_the_next_owner_is_bounded(own_bus: Bus) -> None:
    link = Link(own_bus, replay_seconds=0.1)  # 3,200 bytes of 16 kHz PCM16
    for _ in range(10):
        await link.link.send_audio(b"\x00" * 640)
    await link.link.send_text("kept")
    pending = link.link.replay.pending()
    assert [type(e) for e in pending] == [m.AudioIn] * 5 + [m.TextIn]
    assert [e.seq for e in pending] == [6, 7, 8, 9, 10, 1]
    assert link.link.replay.dropped_audio == 5
    link.link.heartbeat(m.Heartbeat(worker_id="w1", audio_seq=10, text_seq=1))
    assert link.link.replay.pending() == []


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Real time: the bus's own reconnection does not follow the fake clock."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_losing_the_bus_is_not_losing_the_worker_and_typed_input_waits(
    own_nats: NatsServer, own_bus: Bus, link: Link, workers: Recorder
) -> None:
    typed = await Recorder().listen(own_bus, channels.IN_TEXT, SID)
    own_nats.stop()
    await until(lambda: not own_bus.connected)
    await link.link.send_text("typed while away")
    await link.link.send_audio(b"\x00\x00")  # worth nothing late: dropped, not kept
    assert link.link.audio_dropped == 1
    # Twice the heartbeat timeout without a heartbeat, but the edge's own connection is the one
    # away: nobody is declared lost, nothing is closed.
    await link.clock.advance(2 * HEARTBEAT_TIMEOUT)
    assert link.session.closes == []
    assert link.session.told == []

    own_nats.start()
    await until(lambda: own_bus.connected)
    # A round trip: the server has the recorder's subscription again before anything is replayed
    # (on a loaded machine "connected" can come before the resent SUB is processed).
    await own_bus.flush()
    await link.clock.sleeping(2)
    # The worker gets a full timeout from the reconnection to be heard again.
    await link.clock.advance(HEARTBEAT_TIMEOUT - 0.5)
    assert workers.of_type(m.SessionStart) == []
    # It was only the bus: the worker is there, and gets what it did not acknowledge.
    link.link.heartbeat(m.Heartbeat(worker_id="w1", audio_seq=0, text_seq=0))
    text = await typed.wait_for(m.TextIn)
    assert (text.text, text.seq) == ("typed while away", 1)
    # A worker that stays silent once the bus is back is still moved.
    await link.clock.advance(HEARTBEAT_TIMEOUT)
    await starts(workers, 1)
    assert link.session.closes == []


async def test_a_bus_outage_past_the_limit_tells_the_client_to_resume(
    own_nats: NatsServer, own_bus: Bus
) -> None:
    link = Link(own_bus, bus_outage_limit=10.0)
    await link.start()
    try:
        own_nats.stop()
        await until(lambda: not own_bus.connected)
        await link.clock.advance(HEARTBEAT_TIMEOUT)
        await link.clock.sleeping(2)
        assert link.session.closes == []
        await link.clock.advance(10.0)
        assert link.task is not None
        await asyncio.wait_for(link.task, 5)
        assert link.session.closes == [
            CloseRequest(p.Close.SERVICE_RESTART, "bus unavailable", Outcome.BUS_LOST)
        ]
        assert link.session.told == []
    finally:
        await link.stop()
