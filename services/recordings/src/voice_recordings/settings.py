from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import RecordsStreamSettings, ServiceSettings


class RecordingsSettings(ServiceSettings, RecordsStreamSettings):
    model_config = SettingsConfigDict(env_prefix="RECORDINGS_")

    http_host: str = "127.0.0.1"
    http_port: int = 8084
    #: ``/metrics`` (see ServiceSettings.metrics_port); each service has its own default port.
    metrics_port: int = Field(default=9469, ge=0, le=65535, validation_alias="METRICS_PORT")
    #: ``nats``: the JetStream object store (embedded default); ``s3``: an S3 bucket.
    storage: Literal["nats", "s3"] = "nats"
    #: Object keys start with it: ``<prefix>/YYYY/MM/DD/<principal>/<session>.ogg``.
    prefix: str = "recordings"
    s3_bucket: str = ""
    s3_region: str | None = None
    #: An S3-compatible server instead of AWS (MinIO, a test server).
    s3_endpoint_url: str | None = None
    #: Create the bucket at start when it is missing (an S3-compatible server in development;
    #: in production the bucket is made with its policies, and the role may not create buckets).
    s3_create_bucket: bool = False
    #: Bytes the NATS object store bucket may hold (-1: no limit of its own).
    object_store_max_bytes: int = Field(default=-1, ge=-1)
    #: Copies of the object store, catalogue and audio stream in a NATS cluster.
    replicas: int = Field(default=1, ge=1, le=5)
    #: Seconds a URL to a recording's audio stays valid (S3 presigned, or this API's own).
    url_seconds: int = Field(default=300, ge=10, le=86_400)
    #: Signs this API's own audio URLs; every replica needs the same one (a random one otherwise).
    url_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    #: VOICE_AUDIO limits: seconds it keeps audio (longer than a call plus a recorder restart)...
    audio_max_age: float = Field(default=3600.0, gt=0)
    #: ... and bytes (the oldest audio goes first; about 90 kB per minute of a call).
    audio_max_bytes: int = Field(default=1 << 30, gt=0)
    #: The consumers' name on both streams (one recorder reads each stream).
    durable: str = "recordings"
    #: Seconds a delivered message may stay unacknowledged: longer than any call.
    ack_wait: float = Field(default=4 * 3600.0, gt=0)
    #: Messages delivered and not acknowledged at most (-1: no limit); open calls hold theirs.
    max_ack_pending: int = Field(default=-1, ge=-1)
    #: Seconds after a session's end during which late audio is still awaited.
    settle: float = Field(default=2.0, ge=0)
    #: A session with no message for this long is stored as it is (its end was never seen);
    #: longer than the edge's resume window, so a resumed session stays one recording.
    idle_timeout: float = Field(default=900.0, gt=0)
    #: Niceness the recorder runs at (0-19): it is never in a hurry, so on a machine it shares with
    #: the edge and the workers (./run, compose) it gives way to the voice path.
    nice: int = Field(default=10, ge=0, le=19)
    #: Seconds the recorder lets audio gather between reads (fewer, fuller batches: less CPU).
    gather: float = Field(default=0.25, ge=0, le=5)
    #: Opus bit rate of the stereo recording (bits per second).
    bitrate: int = Field(default=32_000, ge=6_000, le=510_000)
    #: Recordings encoded at once at most (each takes a core while it runs).
    encode_concurrency: int = Field(default=1, ge=1, le=16)
    #: Recordings whose session started longer ago than this are deleted (0: kept forever); the
    #: same as the transcripts' retention (TRANSCRIPTS_RETENTION_DAYS).
    retention_days: float = Field(default=90.0, ge=0)
    retention_interval: float = Field(default=3600.0, gt=0)
    auth_timeout: float = Field(default=2.0, gt=0)
    auth_cache_seconds: float = Field(default=60.0, ge=0)
    #: Comma-separated origins allowed to call the API from a browser (CORS); empty: none.
    cors_origins: str = ""
