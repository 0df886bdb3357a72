"""Durable records (transcripts, lifecycle) published to JetStream and kept until the stream
acknowledged them.

A record goes out at once, in order with everything else the connection publishes (so a client
still hears its transcript before the turn's end), with a ``Nats-Msg-Id`` of its own. It stays in a
bounded buffer until the stream's acknowledgement arrives; one not acknowledged within
``ack_timeout`` (a leader election, a node lost, the connection away) is sent again with the same
id, which the stream drops if it already holds it (its duplicate window, voice_proto.streams). Core
subscribers (the edge) may so see a record twice: the bus drops a repeated id on delivery
(voice_proto.bus).

What is lost, and said so in the log and the ``voice_records_dropped`` counter: the oldest records
when more than ``limit`` wait, and records not acknowledged within ``give_up_after`` seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry import metrics

from .streams import DUPLICATE_WINDOW

log = structlog.get_logger("voice_proto.records")
_meter = metrics.get_meter("voice_proto.records")
_dropped = _meter.create_counter(
    "voice_records_dropped",
    description="Durable records given up before the stream acknowledged them, by why",
)
_resent = _meter.create_counter(
    "voice_records_resent", description="Durable records sent again because no acknowledgement came in time"
)

MSG_ID_HEADER = "Nats-Msg-Id"


@dataclass
class _Pending:
    subject: str
    payload: bytes
    headers: dict[str, str]
    first_sent: float
    #: The acknowledgement of the latest send; None while not sent (the connection was away).
    ack: asyncio.Future[PubAck] | None = None
    sent_at: float = 0.0
    next_try: float = 0.0
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


class DurablePublisher:
    """Sends records to JetStream and resends them until acknowledged (see the module docstring).

    ``nc`` is read each time (a bus replaces its client when it connects). ``publish`` never
    blocks on the stream; ``flush`` waits, within a bound, for what is still unacknowledged.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        limit: int = 10_000,
        ack_timeout: float = 2.0,
        retry_wait: float = 0.1,
        give_up_after: float = DUPLICATE_WINDOW - 20.0,
        service: str = "",
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext | None = None
        self._limit = limit
        self._ack_timeout = ack_timeout
        self._retry_wait = retry_wait
        self._give_up_after = give_up_after
        self._service = service
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._watcher: asyncio.Task[None] | None = None
        self._empty = asyncio.Event()
        self._empty.set()
        #: Records given up, and records sent more than once, since start (for tests and pages).
        self.dropped = 0
        self.resent = 0

    def bind(self, nc: NATS) -> None:
        """Use this client from now on (the bus connected a new one)."""
        if nc is not self._nc:
            self._nc = nc
            self._js = None

    @property
    def pending(self) -> int:
        """Records sent or waiting to be, not yet acknowledged."""
        return len(self._pending)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Send a record now (or as soon as the connection is back) and keep it until acknowledged.
        ``headers`` get the record's ``Nats-Msg-Id``."""
        msg_id = uuid.uuid4().hex
        now = time.monotonic()
        record = _Pending(subject, payload, {**headers, MSG_ID_HEADER: msg_id}, first_sent=now)
        while len(self._pending) >= self._limit:
            _, oldest = self._pending.popitem(last=False)
            self._give_up(oldest, "buffer_full")
        self._pending[msg_id] = record
        self._empty.clear()
        if self._nc.is_connected:
            await self._send(record)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="durable-records")

    async def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every record is acknowledged; False if some are not."""
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float) -> None:
        """Flush within ``timeout``, then stop resending; what is left is logged as lost."""
        if not await self.flush(timeout):
            for record in list(self._pending.values()):
                self._give_up(record, "closed")
            self._pending.clear()
            self._empty.set()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            # Room for every record we may hold, so publish_async never waits for a slot.
            self._js = self._nc.jetstream(publish_async_max_pending=self._limit + 1)
        return self._js

    async def _send(self, record: _Pending) -> None:
        if record.ack is not None and not record.ack.done():
            record.ack.cancel()  # frees its slot; a late acknowledgement of it is ignored
        record.attempts += 1
        record.sent_at = time.monotonic()
        try:
            record.ack = await self._jetstream().publish_async(
                record.subject, record.payload, headers=record.headers
            )
        except (nats.errors.Error, OSError) as exc:  # the connection went away meanwhile
            record.ack = None
            record.errors.append(repr(exc))
            record.next_try = time.monotonic() + self._retry_wait

    async def _watch(self) -> None:
        """Settle acknowledged records, resend the rest when due, until none is left."""
        while self._pending:
            await asyncio.sleep(self._retry_wait)
            now = time.monotonic()
            for msg_id, record in list(self._pending.items()):
                if record.ack is not None and record.ack.done():
                    error = None if record.ack.cancelled() else record.ack.exception()
                    if error is None and not record.ack.cancelled():
                        del self._pending[msg_id]
                        continue
                    record.errors.append(repr(error))
                    record.ack = None
                    # No stream answered (none yet, or its leader is being elected): back off.
                    record.next_try = now + min(self._retry_wait * 2**record.attempts, 2.0)
                if now - record.first_sent > self._give_up_after:
                    del self._pending[msg_id]
                    self._give_up(record, "timeout")
                    continue
                due = (record.ack is None and now >= record.next_try) or (
                    record.ack is not None and now - record.sent_at > self._ack_timeout
                )
                if due and self._nc.is_connected:
                    if record.attempts:
                        self.resent += 1
                        _resent.add(1, {"service": self._service})
                    await self._send(record)
            if not self._pending:
                self._empty.set()
        self._empty.set()

    def _give_up(self, record: _Pending, why: str) -> None:
        if record.ack is not None and not record.ack.done():
            record.ack.cancel()
        self.dropped += 1
        _dropped.add(1, {"service": self._service, "why": why})
        log.error(
            "durable record lost: the stream did not acknowledge it",
            subject=record.subject,
            why=why,
            attempts=record.attempts,
            last_error=record.errors[-1] if record.errors else None,
        )
