"""The durable JetStream stream that captures transcripts and lifecycle events, and how a
subscriber reads it.

Whichever service needs the stream creates it at start-up (idempotently), so a subscriber that was
down catches up and nothing is lost. Audio is not captured: it is core NATS, latency first.
Limits (age, replicas) apply when the stream is created; afterwards an operator's settings are
kept, and only subjects the contract added are merged in, so services built with different
defaults never fight over the stream's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from . import messages as m
from .channels import ALL_CHANNELS, LIFECYCLE, TRANSCRIPT, ProtoDecodeError
from .settings import RecordsStreamSettings

RECORDS_STREAM = "VOICE_RECORDS"


def records_subjects() -> list[str]:
    return [channel.wildcard() for channel in ALL_CHANNELS if channel.durable]


def records_stream_config(*, max_age_days: float = 30.0, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=RECORDS_STREAM,
        description="Transcripts and lifecycle events of every voice session",
        subjects=records_subjects(),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=max_age_days * 86_400,
        num_replicas=replicas,
        duplicate_window=120,
    )


async def ensure_records_stream(js: JetStreamContext, limits: RecordsStreamSettings) -> None:
    """Create the stream, or add the subjects it lacks; safe to call from every replica at once."""
    config = records_stream_config(max_age_days=limits.records_max_age_days, replicas=limits.records_replicas)
    try:
        info = await js.stream_info(RECORDS_STREAM)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:  # another service created it a moment ago
            info = await js.stream_info(RECORDS_STREAM)
    existing = list(info.config.subjects or [])
    missing = [subject for subject in config.subjects or [] if subject not in existing]
    if missing:
        await js.update_stream(info.config.evolve(subjects=existing + missing))


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
