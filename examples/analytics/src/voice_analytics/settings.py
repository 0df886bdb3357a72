from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import RecordsStreamSettings, ServiceSettings


class AnalyticsSettings(ServiceSettings, RecordsStreamSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_")

    #: A SQLite file: the statistics and the stream sequences already counted.
    database: Path = Path(".data/analytics.db")
    http_host: str = "127.0.0.1"
    http_port: int = 8085
    #: ``/metrics`` (see ServiceSettings.metrics_port); each service has its own default port.
    metrics_port: int = Field(default=9468, ge=0, le=65535, validation_alias="METRICS_PORT")
    #: This subscriber's durable consumer: its own position in the stream, apart from any other's.
    durable: str = "analytics"
    auth_timeout: float = Field(default=2.0, gt=0)
