"""The bus side: this subscriber's own durable consumer on VOICE_RECORDS. ``consume_records`` does
the rest: a batch is acknowledged only after ``StatsStore.count`` committed it, and handed back
(redelivered) when the database fails."""

from __future__ import annotations

import asyncio

import aiosqlite
from voice_proto import Bus
from voice_proto.streams import RECORDS_STREAM, consume_records, records_consumer

from .stats import StatsStore


class Consumer:
    def __init__(self, bus: Bus, store: StatsStore, durable: str) -> None:
        self._bus = bus
        self._store = store
        self._durable = durable
        self._stop = asyncio.Event()
        #: True while records are read (readiness).
        self.running = False

    async def run(self) -> None:
        """Count records until :meth:`stop`; the batch in hand is finished first."""
        js = self._bus.nc.jetstream()
        subscription = await records_consumer(js, self._durable)

        async def forget_what_the_stream_dropped() -> None:
            await self._store.forget_before((await js.stream_info(RECORDS_STREAM)).state.first_seq)

        self.running = True
        try:
            await consume_records(
                subscription,
                self._store.count,
                retry_on=(aiosqlite.Error,),
                stop=self._stop,
                housekeeping=forget_what_the_stream_dropped,
            )
        finally:
            self.running = False
            await subscription.unsubscribe()

    async def stop(self) -> None:
        self._stop.set()
