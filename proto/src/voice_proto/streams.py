"""The durable JetStream streams: VOICE_RECORDS captures transcripts and lifecycle events (always),
VOICE_AUDIO both audio directions and the worker's events (only when recordings are on); and how a
subscriber reads the records.

Whichever service needs the stream creates it at start-up (idempotently), so a subscriber that was
down catches up and nothing is lost. Audio is core NATS, latency first: only the recorder
(services/recordings) creates VOICE_AUDIO, a short-lived stream over the audio subjects, so that a
deployment without recordings pays nothing for it.
The records' age limit applies when the stream is created; afterwards an operator's setting is
kept, and only subjects the contract added are merged in, so services built with different
defaults never fight over the stream's configuration. Its replicas follow VOICE_RECORDS_REPLICAS
(unset: as many as the cluster holds, up to three), also on a stream that exists.

A subscriber is three calls: ``ensure_records_stream``, ``records_consumer`` under a durable name
of its own, and ``consume_records`` with what it does with a batch of records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import nats.errors
import nats.js.api
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError
from opentelemetry import metrics

from . import messages as m
from .channels import ALL_CHANNELS, LIFECYCLE, TRANSCRIPT, ProtoDecodeError
from .telemetry import gauge
from .telemetry_names import Metrics

RECORDS_STREAM = "VOICE_RECORDS"
#: Both audio directions and the worker's events (interruptions, turns), for the recorder.
AUDIO_STREAM = "VOICE_AUDIO"
#: The recorder's NATS object store bucket (the embedded storage of recordings) and the key-value
#: bucket of its catalogue (one entry per recording).
RECORDINGS_BUCKET = "recordings"
RECORDINGS_CATALOGUE = "recordings-catalogue"

log = structlog.get_logger("voice_proto.streams")

#: Records each durable consumer of this process has not acknowledged yet (delivered or not), by
#: consumer name: ``voice_consumer_lag_messages``, kept by :func:`consume_records`.
consumer_lag: dict[str, int] = {}
_lag_gauge = gauge(
    metrics.get_meter("voice_proto.streams"),
    Metrics.CONSUMER_LAG,
    lambda: [metrics.Observation(lag, {"consumer": name}) for name, lag in consumer_lag.items()],
)


def records_subjects() -> list[str]:
    return [channel.wildcard() for channel in ALL_CHANNELS if channel.durable]


#: Copies of the stream when the operator does not say: as many as the cluster can hold, up to this.
AUTO_REPLICAS_MAX = 3


class RecordsStreamError(Exception):
    """The stream cannot be made as the settings say (the message says why and what to change)."""


def records_stream_config(*, max_age_days: float = 30.0, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=RECORDS_STREAM,
        description="Transcripts and lifecycle events of every voice session",
        subjects=records_subjects(),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=max_age_days * 86_400,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW,
    )


#: Seconds in which the stream drops a record whose ``Nats-Msg-Id`` it already holds, so that a
#: publisher may resend a record whose acknowledgement it did not get (voice_proto.records).
DUPLICATE_WINDOW = 120.0


def audio_subjects() -> list[str]:
    return [channel.wildcard() for channel in ALL_CHANNELS if channel.recorded]


def audio_stream_config(*, max_age_seconds: float, max_bytes: int, replicas: int = 1) -> StreamConfig:
    """VOICE_AUDIO: limits only (the recorder acknowledges what it stored, and age and size bound
    the rest); ``no_ack``, so a publish on a captured subject is never answered by the stream."""
    return StreamConfig(
        name=AUDIO_STREAM,
        description="Audio of both directions and worker events of every voice session, for recordings",
        subjects=audio_subjects(),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age_seconds,
        max_bytes=max_bytes,
        num_replicas=replicas,
        no_ack=True,
    )


async def ensure_audio_stream(
    js: JetStreamContext, *, max_age_seconds: float, max_bytes: int, replicas: int = 1
) -> None:
    """Create VOICE_AUDIO, or bring its subjects and limits to these (the recorder owns it)."""
    config = audio_stream_config(max_age_seconds=max_age_seconds, max_bytes=max_bytes, replicas=replicas)
    try:
        info = await js.stream_info(AUDIO_STREAM)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:  # another replica created it a moment ago
            info = await js.stream_info(AUDIO_STREAM)
    current = info.config
    if (current.subjects, current.max_age, current.max_bytes) != (
        config.subjects,
        config.max_age,
        config.max_bytes,
    ):
        await js.update_stream(
            current.evolve(subjects=config.subjects, max_age=config.max_age, max_bytes=config.max_bytes)
        )


async def ensure_records_stream(
    js: JetStreamContext, *, max_age_days: float = 30.0, replicas: int | None = None
) -> None:
    """Create the stream, or add the subjects it lacks; safe to call from every replica at once.

    ``max_age_days`` applies only when this call creates the stream. ``replicas`` (every service
    that may create it reads ``VOICE_RECORDS_REPLICAS``): None, as many as the cluster can hold up
    to three (one on a single server), and an existing stream with fewer is raised to that; a
    number, exactly that many, and an existing stream with another count is changed to it.

    Raises RecordsStreamError when the stream does not exist and cannot be created with the
    replicas asked for (say three on a single server). A change of an existing stream that the
    server refuses is logged as an error saying why, and the stream is left as it was.
    """
    wanted = [replicas] if replicas is not None else list(range(AUTO_REPLICAS_MAX, 0, -1))
    try:
        info = await js.stream_info(RECORDS_STREAM)
    except NotFoundError:
        created_meanwhile = await _create(js, max_age_days, wanted, explicit=replicas is not None)
        if created_meanwhile is None:
            return
        info = created_meanwhile
    existing = list(info.config.subjects or [])
    missing = [subject for subject in records_subjects() if subject not in existing]
    config = info.config
    if missing:
        config = config.evolve(subjects=existing + missing)
        await js.update_stream(config)
    have = config.num_replicas or 1
    if replicas is None:
        candidates = [count for count in wanted if count > have]
    else:
        candidates = [replicas] if replicas != have else []
    reasons: list[str] = []
    for count in candidates:
        try:
            await js.update_stream(config.evolve(num_replicas=count))
        except nats.js.errors.APIError as exc:
            reasons.append(f"{count}: {exc.description}")
            continue
        log.info("records stream replicas changed", stream=RECORDS_STREAM, replicas=count, was=have)
        return
    if replicas is not None and reasons:
        log.error(
            "the records stream keeps its replicas: the server refused the change",
            stream=RECORDS_STREAM,
            replicas=have,
            wanted=replicas,
            reason=reasons[0],
        )


async def _create(
    js: JetStreamContext, max_age_days: float, wanted: list[int], *, explicit: bool
) -> nats.js.api.StreamInfo | None:
    """Create the stream with the first count of ``wanted`` the cluster can hold; the stream's
    info when another service created it meanwhile, None when this call did."""
    reasons: list[str] = []
    for count in wanted:
        try:
            await js.add_stream(records_stream_config(max_age_days=max_age_days, replicas=count))
            log.info("records stream created", stream=RECORDS_STREAM, replicas=count)
            return None
        except nats.js.errors.APIError as exc:
            if exc.err_code == _STREAM_NAME_IN_USE:
                return await js.stream_info(RECORDS_STREAM)  # another service created it a moment ago
            reasons.append(f"{count}: {exc.description}")
    hint = "set VOICE_RECORDS_REPLICAS to what the NATS cluster can hold" if explicit else ""
    raise RecordsStreamError(
        f"cannot create {RECORDS_STREAM} with replicas {'; '.join(reasons)}. {hint}".strip()
    )


#: JetStream's error code for "stream name already in use with a different configuration".
_STREAM_NAME_IN_USE = 10058


async def records_consumer(
    js: JetStreamContext, durable: str, *, ack_wait: float = 30.0, max_ack_pending: int = 1000
) -> JetStreamContext.PullSubscription:
    """A durable pull consumer of the whole stream, from its first message, acked one by one.

    The durable name is the subscriber's identity: the server remembers what it acknowledged, so
    after a restart it gets what it had not acknowledged yet (again, if it had received it).
    """
    await js.add_consumer(
        RECORDS_STREAM,
        ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            max_deliver=-1,
        ),
    )
    return await js.pull_subscribe_bind(durable, RECORDS_STREAM)


@dataclass(frozen=True)
class Record:
    """One message of the stream, decoded, with where it sits in the stream."""

    session_id: str
    #: The stream sequence: unique in the stream and the same on every redelivery, unlike the
    #: publisher's ``seq``, which restarts when another worker takes a session over.
    stream_seq: int
    #: When the server stored it (the server's clock).
    stored_at: datetime
    message: m.Transcript | m.Lifecycle
    headers: dict[str, str] | None
    #: Messages left in the stream for this consumer after this one.
    pending: int


def decode_record(msg: Msg) -> Record:
    """Raises ProtoDecodeError for a subject or payload that is not a record of the contract."""
    for channel in (TRANSCRIPT, LIFECYCLE):
        session_id = channel.session_of(msg.subject)
        if session_id is not None:
            message = channel.decode(msg.data, msg.subject)
            metadata = msg.metadata
            return Record(
                session_id=session_id,
                stream_seq=metadata.sequence.stream,
                stored_at=metadata.timestamp,
                message=message,
                headers=msg.headers,
                pending=metadata.num_pending,
            )
    raise ProtoDecodeError(msg.subject, "not a transcript or lifecycle subject")


async def consume_records(
    subscription: JetStreamContext.PullSubscription,
    apply: Callable[[list[Record]], Awaitable[object]],
    *,
    retry_on: tuple[type[Exception], ...],
    stop: asyncio.Event,
    batch_size: int = 100,
    housekeeping: Callable[[], Awaitable[object]] | None = None,
    housekeeping_every: float = 5.0,
    rejected: Callable[[Msg, ProtoDecodeError], object] | None = None,
) -> None:
    """Read batches of records until ``stop`` is set, acknowledging each batch only after ``apply``.

    Per batch: every message is decoded; one that never decodes is terminated (no redelivery) and
    handed to ``rejected``. ``apply`` gets the records (it must be idempotent: delivery is at least
    once; key by ``Record.stream_seq``). When it returns, the batch is acknowledged; when it raises
    one of ``retry_on`` (the store is down), the batch is handed back (nak, redelivered after
    2 s) and the error logged; any other exception ends the loop and propagates.
    ``housekeeping`` (forgetting old sequences) runs after a fetch that found nothing, and at least
    every ``housekeeping_every`` seconds under load; a NATS error in it is logged. The consumer's
    lag (``voice_consumer_lag_messages``) is read from the consumer then, and from each batch.

    Setting ``stop`` cancels a fetch or housekeeping in progress (with NATS gone either would wait
    for its timeout), never a batch in hand.
    """
    consumer = await _poll_lag(subscription, "")
    last_housekeeping = time.monotonic()
    while not stop.is_set():
        try:
            batch = await _unless_stopped(subscription.fetch(batch_size, timeout=1.0), stop)
        except (nats.errors.TimeoutError, TimeoutError):
            batch = []
        except nats.errors.Error as exc:
            log.warning("fetch failed", error=str(exc))
            await _unless_stopped(asyncio.sleep(1.0), stop)
            continue
        if batch is None:
            return
        if batch:
            await _apply_batch(batch, apply, retry_on, rejected)
            if consumer:
                consumer_lag[consumer] = batch[-1].metadata.num_pending
        if not batch or time.monotonic() - last_housekeeping > housekeeping_every:
            consumer = await _unless_stopped(_poll_lag(subscription, consumer), stop) or consumer
            if housekeeping is not None:
                try:
                    await _unless_stopped(housekeeping(), stop)
                except (nats.errors.Error, TimeoutError) as exc:  # the bus is away: next time
                    log.warning("records housekeeping failed", error=str(exc))
            last_housekeeping = time.monotonic()


async def _poll_lag(subscription: JetStreamContext.PullSubscription, consumer: str) -> str:
    """Read the consumer's lag into ``consumer_lag``; its name (``consumer`` when unreachable)."""
    try:
        info = await subscription.consumer_info()
    except (nats.errors.Error, TimeoutError) as exc:
        log.info("consumer info unavailable", error=str(exc))
        return consumer
    consumer_lag[info.name] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    return info.name


async def _apply_batch(
    batch: list[Msg],
    apply: Callable[[list[Record]], Awaitable[object]],
    retry_on: tuple[type[Exception], ...],
    rejected: Callable[[Msg, ProtoDecodeError], object] | None,
) -> None:
    records: list[Record] = []
    delivered: list[Msg] = []
    for msg in batch:
        try:
            records.append(decode_record(msg))
            delivered.append(msg)
        except ProtoDecodeError as exc:
            log.warning("record dropped: it does not decode", subject=msg.subject, error=exc.reason)
            if rejected is not None:
                rejected(msg, exc)
            await msg.term()
    try:
        await apply(records)
    except retry_on as exc:
        log.error("cannot apply records; they will be redelivered", error=str(exc), count=len(records))
        for msg in delivered:
            await msg.nak(delay=2.0)
        # The batch comes back after the nak delay; fetching sooner finds only newer records.
        await asyncio.sleep(1.0)
        return
    for msg in delivered:
        await msg.ack()


async def _unless_stopped[T](work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """What ``work`` returns, or None when ``stop`` is set first (``work`` is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        stopped.cancel()
        raise
    stopped.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()  # retrieved: whatever it ended with no longer matters
    return None
