from __future__ import annotations

import os
import socket
import uuid

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import ServiceSettings


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class NovaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOVA_")

    #: An engine's entry-point name (``loopback``, ``local``, ``bedrock``, or one another package
    #: registers under ``voice_nova.engines``), or ``package.module:FactoryClass``.
    engine: str = "loopback"
    #: Sessions this worker owns at once; unset: what the engine declares for 2 cores.
    max_sessions: int | None = Field(default=None, ge=1)
    worker_id: str = Field(default_factory=_default_worker_id)
    #: Seconds between heartbeats of each session (the edge probes the worker when they are late
    #: by EDGE_HEARTBEAT_TIMEOUT and hands over when it does not answer; they also acknowledge the
    #: input received, which the edge keeps until then).
    heartbeat_interval: float = Field(default=0.25, gt=0)
    #: Seconds a session whose client dropped waits for the client to resume.
    resume_window: float = Field(default=30.0, ge=0)
    #: Seconds without anything from a session's edge (it sends keepalives) before the session
    #: is suspended as if its client dropped: the edge died.
    client_timeout: float = Field(default=10.0, gt=0)
    #: Seconds a stopping worker (SIGTERM) lets the answers in progress finish before it hands its
    #: sessions over; an answer still going then ends ``handover`` and the next worker says it
    #: again. Keep it below the pod's grace period (the Helm chart derives one from it).
    drain_timeout: float = Field(default=20.0, ge=0)
    #: Time zone of the date-and-time tool when the caller names none (an IANA name).
    timezone: str = "UTC"
    http_host: str = "127.0.0.1"
    http_port: int = 8081
    #: ``/metrics`` (see ServiceSettings.metrics_port); each service has its own default port.
    metrics_port: int = Field(default=9465, ge=0, le=65535, validation_alias="METRICS_PORT")
