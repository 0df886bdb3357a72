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
