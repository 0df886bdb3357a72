"""The bus side: this subscriber's own durable consumer on VOICE_RECORDS; a batch is acknowledged
only after its counts are committed."""

from __future__ import annotations

import asyncio

import aiosqlite
import nats.errors
import structlog
from nats.js import JetStreamContext
from voice_proto import ProtoDecodeError
from voice_proto.streams import RECORDS_STREAM, Record, decode_record, records_consumer

from .stats import StatsStore

log = structlog.get_logger("voice_analytics")


async def consume(js: JetStreamContext, store: StatsStore, durable: str, stop: asyncio.Event) -> None:
    subscription = await records_consumer(js, durable)
    while not stop.is_set():
        try:
            batch = await subscription.fetch(100, timeout=1.0)
        except (nats.errors.TimeoutError, TimeoutError):
            info = await js.stream_info(RECORDS_STREAM)
            await store.forget_before(info.state.first_seq)
            continue
        records: list[Record] = []
        counted = []
        for msg in batch:
            try:
                records.append(decode_record(msg))
                counted.append(msg)
            except ProtoDecodeError as exc:
                log.warning("record dropped", subject=msg.subject, error=exc.reason)
                await msg.term()
        try:
            await store.count(records)
        except aiosqlite.Error as exc:
            log.error("cannot count; the batch comes again", error=str(exc))
            for msg in counted:
                await msg.nak(delay=2.0)
            continue
        for msg in counted:
            await msg.ack()
    await subscription.unsubscribe()
