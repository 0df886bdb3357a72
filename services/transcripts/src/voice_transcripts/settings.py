from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import RecordsStreamSettings, ServiceSettings


class TranscriptsSettings(ServiceSettings, RecordsStreamSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSCRIPTS_")

    #: SQLite (a file; the embedded default) or PostgreSQL (``postgresql://user@host/db``).
    database_url: str = "sqlite+aiosqlite:///.data/transcripts.db"
    #: Bring the schema to the latest Alembic revision at start-up (else: ``voice-transcripts migrate``).
    migrate_on_start: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = 8083
    #: ``/metrics`` (see ServiceSettings.metrics_port); each service has its own default port.
    metrics_port: int = Field(default=9467, ge=0, le=65535, validation_alias="METRICS_PORT")
    #: The durable consumer's name: every replica of this service shares it (and the work).
    durable: str = "transcripts"
    #: Records committed per transaction at most.
    batch_size: int = Field(default=200, ge=1, le=1000)
    #: Seconds before JetStream redelivers a record that was not acknowledged.
    ack_wait: float = Field(default=30.0, gt=0)
    #: Sessions that started longer ago than this are deleted (0: kept forever).
    retention_days: float = Field(default=90.0, ge=0)
    #: Seconds between retention sweeps.
    retention_interval: float = Field(default=3600.0, gt=0)
    auth_timeout: float = Field(default=2.0, gt=0)
    #: Longest a positive auth answer is reused (never past its own expiry).
    auth_cache_seconds: float = Field(default=60.0, ge=0)
    #: Comma-separated origins allowed to call the API from a browser (CORS); empty: none.
    cors_origins: str = ""
