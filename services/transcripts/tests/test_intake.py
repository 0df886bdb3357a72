"""The intake on a real NATS server: while the database refuses writes nothing is acknowledged,
and once it works again every record is stored, once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from voice_proto import channels
from voice_proto import messages as m
from voice_proto.settings import RecordsStreamSettings
from voice_proto.streams import ensure_records_stream
from voice_testkit.databases import sqlite_url
from voice_testkit.nats import NatsServer
from voice_transcripts.db import create_engine
from voice_transcripts.intake import Intake
from voice_transcripts.migrate import upgrade
from voice_transcripts.store import Store

SID = "intake-test-session-0001"


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_nothing_is_acknowledged_before_it_is_stored(own_nats: NatsServer, tmp_path: Path) -> None:
    bus = await own_nats.connect()
    js = bus.nc.jetstream()
    await ensure_records_stream(js, RecordsStreamSettings())
    engine = create_engine(sqlite_url(tmp_path))  # no schema yet: every write fails
    store = Store(engine)
    intake = Intake(js, store, durable="intake-test", batch_size=10, ack_wait=30)
    await intake.start()
    await bus.publish(
        channels.LIFECYCLE,
        m.Lifecycle(kind=m.LifecycleKind.STARTED, principal="alice", at=1.0),
        session_id=SID,
    )
    for text in ("one", "two", "three"):
        said = m.Transcript(turn_id=1, role=m.Role.USER, text=text, stage=m.Stage.FINAL)
        await bus.publish(channels.TRANSCRIPT, said, session_id=SID)
    await bus.flush()
    await until(lambda: not intake.db_ok)
    assert intake.committed == 0

    await upgrade(engine)  # the database comes back
    await until(lambda: intake.committed == 4)
    assert intake.db_ok
    assert [t.text for t in await store.turns(SID)] == ["one", "two", "three"]
    await intake.stop()
    info = await js.consumer_info("VOICE_RECORDS", "intake-test")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    await engine.dispose()
    await bus.drain()
