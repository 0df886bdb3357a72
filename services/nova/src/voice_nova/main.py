"""Entry point: ``voice-nova``, configured by environment variables only."""

from __future__ import annotations

import structlog
from voice_proto import Bus
from voice_proto.ops import (
    Component,
    http_server,
    metrics_server,
    probe_server,
    serve,
    start_service,
    stop_on_signals,
)

from .engine import EngineContext, engine_factory
from .settings import NovaSettings
from .worker import Worker

log = structlog.get_logger("voice_nova")


async def run(settings: NovaSettings) -> None:
    factory = engine_factory(settings.engine, EngineContext.with_default_tools(settings.timezone))
    bus = Bus.for_service(settings, "nova")
    worker = Worker(
        bus,
        factory,
        worker_id=settings.worker_id,
        max_sessions=settings.max_sessions or factory.default_max_sessions,
        heartbeat_interval=settings.heartbeat_interval,
        resume_window=settings.resume_window,
        client_timeout=settings.client_timeout,
        drain_timeout=settings.drain_timeout,
    )

    async def ready() -> dict[str, bool]:
        # The probe server starts once the engine has loaded, so this is "engine loaded and NATS
        # connected". A full worker stays ready: PodDisruptionBudgets count ready pods, and it takes
        # no claims anyway (it has left the queue group); how full it is is a metric.
        return {"nats": bus.connected}

    log.info(
        "worker starting",
        worker_id=settings.worker_id,
        engine=settings.engine,
        max_sessions=worker.max_sessions,
        http_port=settings.http_port,
    )
    await serve(
        stop_on_signals(),
        Component("engine", start=factory.load, stop=factory.aclose),
        Component("nats", start=bus.start, stop=bus.drain),
        # Stopping hands every session back to the edge, which places it on another worker.
        Component("worker", start=worker.start, stop=worker.drain),
        http_server("probes", probe_server(ready, settings.http_host, settings.http_port)),
        metrics_server(settings),
    )


def main() -> None:
    start_service("nova", NovaSettings(), run)
