"""The durable JetStream stream that captures transcripts and lifecycle events.

Whichever service needs it creates or updates it at start-up (idempotently), so a subscriber that
was down catches up and nothing is lost. Audio is not captured: it is core NATS, latency first.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from .channels import ALL_CHANNELS

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


async def ensure_records_stream(
    js: JetStreamContext, *, max_age_days: float = 30.0, replicas: int = 1
) -> None:
    config = records_stream_config(max_age_days=max_age_days, replicas=replicas)
    try:
        await js.add_stream(config)
    except BadRequestError:
        # It exists (perhaps with older settings): bring it in line.
        await js.update_stream(config)
