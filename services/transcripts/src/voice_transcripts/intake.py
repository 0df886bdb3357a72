"""The bus side: reads VOICE_RECORDS through a durable pull consumer and stores each batch.

A batch is acknowledged only after its transaction committed; if the database fails, the batch
is handed back (nak with a delay) and retried, so nothing is lost, and because storing is
idempotent (see store.py) a redelivered record never becomes a second row. A record that can
never be decoded is terminated (no redelivery) and counted. The loop itself is
``voice_proto.streams.consume_records`` (which also keeps the consumer's lag); this module adds the
store, its spans and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import metrics, trace
from sqlalchemy.exc import SQLAlchemyError
from voice_proto import Bus, ProtoDecodeError
from voice_proto import messages as m
from voice_proto.streams import Record, consume_records, records_consumer
from voice_proto.telemetry import counter
from voice_proto.telemetry_names import MESSAGING_SYSTEM_NATS, Attr, Metrics, Span
from voice_proto.tracecontext import context_from

from .store import Store

log = structlog.get_logger("voice_transcripts.intake")
tracer = trace.get_tracer("voice_transcripts")
_meter = metrics.get_meter("voice_transcripts")
_stored = counter(_meter, Metrics.TRANSCRIPTS_RECORDS)
_rejected = counter(_meter, Metrics.TRANSCRIPTS_UNDECODABLE)

#: What a failing database raises: the batch is handed back and retried.
_STORE_ERRORS = (SQLAlchemyError, OSError)


class Intake:
    def __init__(self, bus: Bus, store: Store, *, durable: str, batch_size: int, ack_wait: float) -> None:
        self._bus = bus
        self._store = store
        self._durable = durable
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._stopping = asyncio.Event()
        #: False while the database refuses writes (readiness).
        self.db_ok = True
        self.committed = 0

    async def start(self) -> None:
        """Bind the durable consumer (on the bus, which is connected by now)."""
        self._subscription = await records_consumer(
            self._bus.nc.jetstream(), self._durable, ack_wait=self._ack_wait
        )

    async def run(self) -> None:
        """Store batches until :meth:`stop`, then let go of the consumer."""
        assert self._subscription is not None, "Intake.start() was not awaited"
        try:
            await consume_records(
                self._subscription,
                self._apply,
                retry_on=_STORE_ERRORS,
                stop=self._stopping,
                batch_size=self._batch_size,
                rejected=_count_rejected,
            )
        finally:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._subscription.unsubscribe()

    async def stop(self) -> None:
        """Make :meth:`run` return once the batch in hand is committed and acknowledged.

        A fetch or a lag poll in progress is cancelled rather than waited out: nothing is lost,
        since records are acknowledged only after their commit and storing them twice changes
        nothing.
        """
        self._stopping.set()

    async def _apply(self, records: list[Record]) -> None:
        spans = [
            tracer.start_span(
                Span.TRANSCRIPTS_STORE,
                context=context_from(record.headers),
                kind=trace.SpanKind.CONSUMER,
                attributes=_attributes(record),
            )
            for record in records
        ]
        try:
            new_turns = await self._store.apply(records)
        except _STORE_ERRORS:
            self.db_ok = False
            for span in spans:
                span.set_status(trace.StatusCode.ERROR, "database")
                span.end()
            raise
        self.db_ok = True
        for span in spans:
            span.end()
        self.committed += len(records)
        for record in records:
            _stored.add(1, {"kind": type(record.message).__name__})
        if records:
            log.debug(
                "records stored", records=len(records), new_turns=new_turns, pending=records[-1].pending
            )


def _attributes(record: Record) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        Attr.SESSION_ID: record.session_id,
        Attr.STREAM_SEQ: record.stream_seq,
        Attr.MESSAGING_SYSTEM: MESSAGING_SYSTEM_NATS,
        Attr.MESSAGING_OPERATION_TYPE: "process",
    }
    if isinstance(record.message, m.Transcript):
        attributes[Attr.TURN_ID] = record.message.turn_id
    return attributes


def _count_rejected(_msg: Msg, _error: ProtoDecodeError) -> None:
    _rejected.add(1)
