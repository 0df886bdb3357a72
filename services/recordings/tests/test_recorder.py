"""The recorder on a real NATS server, connected as the recordings NATS user (the permissions of
the channel table): a session's audio and events become one stereo recording with its index; a
recorder that stops mid-call without storing anything (as after SIGKILL: nothing acknowledged) is
followed by one that records the whole call; sessions never authorised are not recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
import pytest
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_proto.channels import Service
from voice_proto.ops import Component
from voice_proto.streams import ensure_audio_stream, ensure_records_stream
from voice_recordings.catalogue import Catalogue
from voice_recordings.encode import decode_ogg
from voice_recordings.recorder import Recorder, RecorderConfig
from voice_recordings.store import NatsObjectStore
from voice_testkit.nats import NatsServer

SID = "recorder-test-session-01"
FRAME = 320  # 20 ms at 16 kHz


def tone(freq: float, samples: int, rate: int, amplitude: int = 8000) -> bytes:
    t = np.arange(samples)
    return (np.sin(2 * np.pi * freq * t / rate) * amplitude).astype("<i2").tobytes()


def config(**overrides: object) -> RecorderConfig:
    values: dict[str, object] = {
        "durable": "recordings",
        "prefix": "recordings",
        "bitrate": 32_000,
        "encode_concurrency": 1,
        "settle": 0.3,
        "idle_timeout": 60.0,
        "ack_wait": 3600.0,
        "max_ack_pending": -1,
        "records_lookback": 3600.0,
    }
    values.update(overrides)
    return RecorderConfig(**values)  # type: ignore[arg-type]


@dataclass
class Running:
    recorder: Recorder
    catalogue: Catalogue
    store: NatsObjectStore
    task: asyncio.Task[object]

    async def stop(self) -> None:
        await self.recorder.stop()
        await self.task


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def buses(own_nats: NatsServer) -> AsyncIterator[dict[Service, Bus]]:
    connected = {
        role: await own_nats.connect(role.value) for role in (Service.RECORDINGS, Service.EDGE, Service.NOVA)
    }
    js = connected[Service.RECORDINGS].nc.jetstream()
    await ensure_records_stream(js)
    await ensure_audio_stream(js, max_age_seconds=600, max_bytes=64 << 20)
    yield connected
    for bus in connected.values():
        await bus.drain()


async def start_recorder(bus: Bus, **overrides: object) -> Running:
    js = bus.nc.jetstream
    store = NatsObjectStore(js, max_bytes=-1)
    catalogue = Catalogue(js)
    recorder = Recorder(bus, store, catalogue, config(**overrides))
    for part in (Component("store", start=store.start), Component("catalogue", start=catalogue.start)):
        assert part.start is not None
        await part.start()
    await recorder.start()
    return Running(recorder, catalogue, store, asyncio.create_task(recorder.run()))


async def lifecycle(nova: Bus, kind: m.LifecycleKind, session_id: str = SID, **fields: object) -> None:
    message = m.Lifecycle(kind=kind, principal="alice", at=asyncio.get_running_loop().time(), **fields)  # type: ignore[arg-type]
    await nova.publish(channels.LIFECYCLE, message, session_id=session_id)


async def speak_user(edge: Bus, frames: int, start_seq: int = 0, session_id: str = SID) -> None:
    """``frames`` of 20 ms, paced in real time as a microphone sends them."""
    pcm = tone(440, FRAME * frames, m.INPUT_RATE)
    for i in range(frames):
        frame = m.AudioIn(seq=start_seq + i, pcm=pcm[i * FRAME * 2 : (i + 1) * FRAME * 2])
        await edge.publish(channels.IN_AUDIO, frame, session_id=session_id)
        await asyncio.sleep(0.02)


async def answer(nova: Bus, turn_id: int, seconds: float) -> None:
    """An assistant's answer as engines send it: all at once, faster than it plays."""
    await nova.publish(
        channels.OUT_EVENT, m.TurnStarted(turn_id=turn_id, role=m.Role.ASSISTANT), session_id=SID
    )
    chunk = int(0.1 * m.OUTPUT_RATE)
    pcm = tone(1000, int(seconds * m.OUTPUT_RATE), m.OUTPUT_RATE)
    for seq, start in enumerate(range(0, len(pcm), chunk * 2)):
        out = m.AudioOut(seq=seq, turn_id=turn_id, pcm=pcm[start : start + chunk * 2])
        await nova.publish(channels.OUT_AUDIO, out, session_id=SID)


async def conversation(edge: Bus, nova: Bus, *, until_interrupt: bool = True) -> None:
    """0.6 s of the user, a 3 s answer interrupted after about 1 s."""
    await lifecycle(nova, m.LifecycleKind.STARTED)
    await nova.publish(channels.OUT_EVENT, m.TurnStarted(turn_id=1, role=m.Role.USER), session_id=SID)
    await speak_user(edge, 30)
    await nova.publish(channels.OUT_EVENT, m.TurnEnded(turn_id=1, role=m.Role.USER), session_id=SID)
    said = m.Transcript(turn_id=1, role=m.Role.USER, text="what time is it", stage=m.Stage.FINAL)
    await nova.publish(channels.TRANSCRIPT, said, session_id=SID)
    await answer(nova, 2, 3.0)
    if not until_interrupt:
        return
    await asyncio.sleep(1.0)


async def finish(edge: Bus, nova: Bus) -> None:
    await nova.publish(channels.OUT_EVENT, m.Interrupted(turn_id=2), session_id=SID)
    reply = m.Transcript(
        turn_id=2, role=m.Role.ASSISTANT, text="it is", stage=m.Stage.FINAL, interrupted=True
    )
    await nova.publish(channels.TRANSCRIPT, reply, session_id=SID)
    await speak_user(edge, 10, start_seq=30)
    await lifecycle(nova, m.LifecycleKind.ENDED, reason=m.EndReason.HANGUP)


def check_recording(data: bytes, turns: list[dict[str, object]]) -> None:
    samples, rate = decode_ogg(data)
    assert samples.shape[0] == 2
    seconds = samples.shape[1] / rate
    # 0.6 s of user, about 1 s of answer, 0.2 s of user; the end waits for nothing.
    assert 1.6 < seconds < 2.6, seconds
    left, right = np.abs(samples[0]), np.abs(samples[1])
    window = rate // 10

    def loud(channel: np.ndarray, at: float) -> bool:
        start = int(at * rate)
        return float(channel[start : start + window].mean()) > 0.05

    assert loud(left, 0.2), "the user is on the left"
    assert not loud(right, 0.2)
    assert loud(right, 1.0), "the assistant is on the right"
    assert not loud(left, 1.0)
    by_role = {(t["role"], t["turnId"]): t for t in turns}
    user, assistant = by_role[("user", 1)], by_role[("assistant", 2)]
    assert user["text"] == "what time is it"
    assert assistant["interrupted"] is True
    assert float(user["start"]) <= 0.1  # type: ignore[arg-type]
    assert 0.5 < float(assistant["start"]) < 0.9  # type: ignore[arg-type]
    # Cut at the interruption, about 1 s after the answer began (not its 3 s).
    assert 1.3 < float(assistant["end"]) < 2.1  # type: ignore[arg-type]
    end = int(float(assistant["end"]) * rate)  # type: ignore[arg-type]
    assert float(right[end + window : end + 3 * window].mean()) < 0.01, "audio after the stop"


async def test_a_call_becomes_one_stereo_recording_with_its_index(buses: dict[Service, Bus]) -> None:
    edge, nova = buses[Service.EDGE], buses[Service.NOVA]
    running = await start_recorder(buses[Service.RECORDINGS])
    await conversation(edge, nova)
    await finish(edge, nova)
    await until(lambda: running.recorder.stored == 1)
    entry = await running.catalogue.get(SID)
    assert entry is not None
    assert entry.principal == "alice"
    assert entry.key.startswith("recordings/")
    assert entry.key.endswith(f"/alice/{SID}.ogg")
    data = await running.store.read(entry.key)
    assert len(data) == entry.size
    check_recording(data, entry.turns)
    await running.stop()
    # Everything is acknowledged once the recording is stored.
    js = buses[Service.RECORDINGS].nc.jetstream()
    for stream in ("VOICE_AUDIO", "VOICE_RECORDS"):
        info = await js.consumer_info(stream, "recordings")
        assert (info.num_pending, info.num_ack_pending) == (0, 0), stream


async def test_a_recorder_gone_mid_call_loses_nothing(buses: dict[Service, Bus]) -> None:
    edge, nova = buses[Service.EDGE], buses[Service.NOVA]
    first = await start_recorder(buses[Service.RECORDINGS])
    await conversation(edge, nova)
    await until(lambda: first.recorder.open_sessions == 1)
    await first.stop()  # nothing of the open call was acknowledged: as if it had been killed
    await finish(edge, nova)  # while no recorder runs
    second = await start_recorder(buses[Service.RECORDINGS])
    await until(lambda: second.recorder.stored == 1)
    entry = await second.catalogue.get(SID)
    assert entry is not None
    check_recording(await second.store.read(entry.key), entry.turns)
    await second.stop()


async def test_sessions_not_authorised_or_opted_out_are_not_recorded(buses: dict[Service, Bus]) -> None:
    edge, nova = buses[Service.EDGE], buses[Service.NOVA]
    running = await start_recorder(buses[Service.RECORDINGS], idle_timeout=1.0)
    unauthorised, opted_out = "recorder-test-no-auth-01", "recorder-test-opt-out-1"
    await speak_user(edge, 5, session_id=unauthorised)
    await lifecycle(nova, m.LifecycleKind.STARTED, session_id=opted_out, recorded=False)
    await speak_user(edge, 5, session_id=opted_out)
    await lifecycle(nova, m.LifecycleKind.ENDED, session_id=opted_out)
    # A heartbeat of a session the recorder never saw opens nothing and holds nothing back.
    beat = m.Heartbeat(worker_id="w1")
    await nova.publish(channels.OUT_EVENT, beat, session_id="recorder-test-heartbeat")
    await until(lambda: running.recorder.open_sessions == 0)
    assert running.recorder.stored == 0
    assert await running.catalogue.entries() == []
    js = buses[Service.RECORDINGS].nc.jetstream()
    for _ in range(100):
        info = await js.consumer_info("VOICE_AUDIO", "recordings")
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.1)
    assert info.num_ack_pending == 0, "acknowledgements held back"
    await running.stop()
