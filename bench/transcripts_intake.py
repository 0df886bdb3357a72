"""How fast the transcripts service stores a backlog: N records waiting in VOICE_RECORDS (as after
an outage), then the intake (durable consumer, a transaction per batch, ack after commit) drains
them into SQLite or PostgreSQL. Not a test; prints records per second.

    .venv/bin/python bench/transcripts_intake.py --records 20000 --db sqlite
    .venv/bin/python bench/transcripts_intake.py --records 20000 --db postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from voice_proto import channels
from voice_proto import messages as m
from voice_proto.settings import RecordsStreamSettings
from voice_proto.streams import ensure_records_stream
from voice_testkit.databases import postgres_database, sqlite_url
from voice_testkit.nats import NatsServer
from voice_transcripts.db import create_engine
from voice_transcripts.intake import Intake
from voice_transcripts.migrate import upgrade
from voice_transcripts.store import Store


async def run(nats: NatsServer, database_url: str, records: int, sessions: int, batch: int) -> None:
    bus = await nats.connect()
    js = bus.nc.jetstream()
    await ensure_records_stream(js, RecordsStreamSettings())
    ids = [f"bench-session-{n:08d}" for n in range(sessions)]
    started = time.perf_counter()
    for sid in ids:
        await bus.publish(
            channels.LIFECYCLE,
            m.Lifecycle(kind=m.LifecycleKind.STARTED, principal="bench", at=time.time()),
            session_id=sid,
        )
    for n in range(records - sessions):
        said = m.Transcript(
            turn_id=n,
            role=m.Role.USER if n % 2 else m.Role.ASSISTANT,
            text="some words " * 8,
            stage=m.Stage.FINAL,
        )
        await bus.publish(channels.TRANSCRIPT, said, session_id=ids[n % sessions])
    await bus.flush()
    while (await js.stream_info("VOICE_RECORDS")).state.messages < records:  # noqa: ASYNC110 - polling the server
        await asyncio.sleep(0.05)
    print(f"published {records} records in {time.perf_counter() - started:.1f} s")

    engine = create_engine(database_url)
    await upgrade(engine)
    intake = Intake(js, Store(engine), durable="bench", batch_size=batch, ack_wait=30)
    started = time.perf_counter()
    await intake.start()
    while intake.committed < records:  # noqa: ASYNC110 - a benchmark polls
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await intake.stop()
    print(
        f"{engine.dialect.name}: stored {records} records in {elapsed:.1f} s"
        f" = {records / elapsed:,.0f} records/s (batch {batch})"
    )
    await engine.dispose()
    await bus.drain()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        nats = NatsServer(work).start()
        stack.callback(nats.stop)
        url = sqlite_url(work) if args.db == "sqlite" else stack.enter_context(postgres_database())
        asyncio.run(run(nats, url, args.records, args.sessions, args.batch))


if __name__ == "__main__":
    main()
