"""Settings every service shares; each service's settings object extends this one."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment only. Fields that carry a ``validation_alias`` keep their plain
    name (``NATS_URL``) whatever prefix the service adds to its own fields."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True, populate_by_name=True)

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    log_level: str = Field(default="info", validation_alias="LOG_LEVEL")
    #: Seconds to keep retrying the first NATS connection (the server may start after us).
    nats_connect_retry: float = Field(default=30.0, validation_alias="NATS_CONNECT_RETRY")


class RecordsStreamSettings(BaseSettings):
    """The limits of the VOICE_RECORDS stream, read by every service that may create it (whichever
    starts first does, and the others keep what it made), so they must all read the same values."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True, populate_by_name=True)

    records_max_age_days: float = Field(default=30.0, gt=0, validation_alias="VOICE_RECORDS_MAX_AGE_DAYS")
    #: Copies of the stream in a NATS cluster (up to 3; 1 on a single server).
    records_replicas: int = Field(default=1, ge=1, le=5, validation_alias="VOICE_RECORDS_REPLICAS")
