"""Settings every service shares; each service's settings object extends this one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Seconds between reconnect attempts to one server: short, a call cannot wait (nats-py's 2 s
#: default adds up to 2 s of silence to every node restart).
RECONNECT_WAIT = 0.25
#: Bytes the client holds for the server while it reconnects (nats-py's default: 2 MiB). Audio is
#: not buffered (voice_proto.bus.Bus.publish_lossy), so this holds typed text and control,
#: replayed in order once the connection is back.
RECONNECT_BUFFER = 8 * 1024 * 1024


@dataclass(frozen=True)
class NatsCredentials:
    """How a service proves who it is to NATS and checks the server: files mounted from Secrets.

    At most one of ``creds_file`` (a decentralized JWT ``.creds`` file) and ``nkey_seed_file``
    (an NKEY user's seed); ``tls_ca`` is the PEM bundle that signed the server's certificate.
    """

    creds_file: Path | None = None
    nkey_seed_file: Path | None = None
    tls_ca: Path | None = None


class ServiceSettings(BaseSettings):
    """Read from the environment only. Fields that carry a ``validation_alias`` keep their plain
    name (``NATS_URL``) whatever prefix the service adds to its own fields."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True, populate_by_name=True)

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    log_level: str = Field(default="info", validation_alias="LOG_LEVEL")
    #: Seconds to keep retrying the first NATS connection (the server may start after us).
    nats_connect_retry: float = Field(default=30.0, validation_alias="NATS_CONNECT_RETRY")
    #: Seconds between reconnect attempts to one server once connected (short: a call waits).
    nats_reconnect_wait: float = Field(default=RECONNECT_WAIT, gt=0, validation_alias="NATS_RECONNECT_WAIT")
    #: Bytes of typed text and control held for the server while reconnecting (audio never is).
    nats_reconnect_buffer: int = Field(
        default=RECONNECT_BUFFER, ge=64 * 1024, validation_alias="NATS_RECONNECT_BUFFER"
    )
    #: The service's NATS user: a JWT credentials file, or an NKEY seed file (not both).
    nats_creds: Path | None = Field(default=None, validation_alias="NATS_CREDS")
    nats_nkey_seed_file: Path | None = Field(default=None, validation_alias="NATS_NKEY_SEED_FILE")
    #: CA bundle (PEM) that signed the NATS server's certificate; TLS is then required.
    nats_tls_ca: Path | None = Field(default=None, validation_alias="NATS_TLS_CA")
    #: Where ``/metrics`` is served: a port of its own, which no Ingress publishes. Each service
    #: has its own default (so that they can share one host in development); 0 turns it off.
    metrics_host: str = Field(default="127.0.0.1", validation_alias="METRICS_HOST")
    metrics_port: int = Field(default=9464, ge=0, le=65535, validation_alias="METRICS_PORT")

    @model_validator(mode="after")
    def _one_nats_user(self) -> ServiceSettings:
        if self.nats_creds is not None and self.nats_nkey_seed_file is not None:
            raise ValueError("set NATS_CREDS or NATS_NKEY_SEED_FILE, not both")
        return self

    def nats_credentials(self) -> NatsCredentials:
        return NatsCredentials(
            creds_file=self.nats_creds, nkey_seed_file=self.nats_nkey_seed_file, tls_ca=self.nats_tls_ca
        )


class RecordsStreamSettings(BaseSettings):
    """The limits of the VOICE_RECORDS stream, read by every service that may create it (whichever
    starts first does, and the others keep what it made), so they must all read the same values."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True, populate_by_name=True)

    records_max_age_days: float = Field(default=30.0, gt=0, validation_alias="VOICE_RECORDS_MAX_AGE_DAYS")
    #: Copies of the stream in a NATS cluster. Unset: as many as the cluster can hold, up to 3
    #: (1 on a single server). A change applies to an existing stream too (voice_proto.streams).
    records_replicas: int | None = Field(default=None, ge=1, le=5, validation_alias="VOICE_RECORDS_REPLICAS")
