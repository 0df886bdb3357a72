"""The bus side: reads VOICE_RECORDS through a durable pull consumer and stores each batch.

A batch is acknowledged only after its transaction committed; if the database fails, the batch
is handed back (nak with a delay) and retried, so nothing is lost, and because storing is
idempotent (see store.py) a redelivered record never becomes a second row. A record that can
never be decoded is terminated (no redelivery) and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import metrics, trace
from sqlalchemy.exc import SQLAlchemyError
from voice_proto import ProtoDecodeError
from voice_proto.streams import Record, decode_record, records_consumer
from voice_proto.tracecontext import context_from

from .store import Store

log = structlog.get_logger("voice_transcripts.intake")
tracer = trace.get_tracer("voice_transcripts")
_meter = metrics.get_meter("voice_transcripts")
_stored = _meter.create_counter("voice_transcripts_records", description="Records committed, by kind")
_rejected = _meter.create_counter("voice_transcripts_undecodable", description="Records that never decode")

#: Seconds between consumer-info polls for the lag gauge while idle.
_LAG_POLL = 5.0


class Intake:
    def __init__(
        self, js: JetStreamContext, store: Store, *, durable: str, batch_size: int, ack_wait: float
    ) -> None:
        self._js = js
        self._store = store
        self._durable = durable
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._stopping = asyncio.Event()
        #: True while a batch is being stored and acknowledged (stop lets it finish).
        self._handling = False
        self._task: asyncio.Task[None] | None = None
        #: Records in the stream this consumer has not acknowledged yet (delivered or not).
        self.lag = 0
        #: False while the database refuses writes (readiness).
        self.db_ok = True
        self.committed = 0
        _meter.create_observable_gauge(
            "voice_transcripts_consumer_lag",
            callbacks=[lambda _options: [metrics.Observation(self.lag, {"consumer": durable})]],
            description="Records of VOICE_RECORDS not yet stored and acknowledged by this consumer",
        )

    async def start(self) -> None:
        self._subscription = await records_consumer(self._js, self._durable, ack_wait=self._ack_wait)
        await self._poll_lag()
        self._task = asyncio.create_task(self._run(), name="intake")

    async def stop(self) -> None:
        """Finish the batch in hand (commit and acknowledge it), then stop fetching.

        A fetch or a lag poll in progress is cancelled rather than waited out (with NATS gone it
        would wait for its timeout): nothing is lost, since records are acknowledged only after
        their commit and storing them twice changes nothing.
        """
        self._stopping.set()
        if self._task is not None:
            if not self._handling:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._subscription.unsubscribe()

    async def _run(self) -> None:
        assert self._subscription is not None
        last_poll = time.monotonic()
        while not self._stopping.is_set():
            try:
                batch = await self._subscription.fetch(self._batch_size, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                batch = []
            except nats.errors.Error as exc:
                log.warning("fetch failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            if batch:
                self._handling = True
                try:
                    await self._handle(batch)
                finally:
                    self._handling = False
            if not batch or time.monotonic() - last_poll > _LAG_POLL:
                await self._poll_lag()
                last_poll = time.monotonic()

    async def _handle(self, batch: list[Msg]) -> None:
        records: list[Record] = []
        delivered: list[Msg] = []
        for msg in batch:
            try:
                records.append(decode_record(msg))
                delivered.append(msg)
            except ProtoDecodeError as exc:
                _rejected.add(1)
                log.warning("record dropped: it does not decode", subject=msg.subject, error=exc.reason)
                await msg.term()
        spans = [
            tracer.start_span(
                "transcripts.store",
                context=context_from(record.headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={"session.id": record.session_id, "stream.seq": record.stream_seq},
            )
            for record in records
        ]
        try:
            new_turns = await self._store.apply(records)
        except (SQLAlchemyError, OSError) as exc:
            self.db_ok = False
            log.error("cannot store records; they will be redelivered", error=str(exc), count=len(records))
            for span in spans:
                span.set_status(trace.StatusCode.ERROR, "database")
                span.end()
            for msg in delivered:
                await msg.nak(delay=2.0)
            await asyncio.sleep(1.0)
            return
        self.db_ok = True
        for span in spans:
            span.end()
        # Acknowledged only now that the rows are committed.
        for msg in delivered:
            await msg.ack()
        self.committed += len(records)
        for record in records:
            _stored.add(1, {"kind": type(record.message).__name__})
        if records:
            self.lag = records[-1].pending
            log.debug("records stored", records=len(records), new_turns=new_turns, pending=self.lag)

    async def _poll_lag(self) -> None:
        if self._subscription is None:
            return
        try:
            info = await self._subscription.consumer_info()
        except (nats.errors.Error, TimeoutError) as exc:
            log.info("consumer info unavailable", error=str(exc))
            return
        self.lag = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
