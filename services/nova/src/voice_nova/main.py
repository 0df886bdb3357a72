"""Entry point: ``voice-nova``, configured by environment variables only."""

from __future__ import annotations

import asyncio

import structlog
from voice_proto import Bus
from voice_proto.ops import probe_server, start_service, stop_on_signals

from .engine import engine_factory
from .settings import NovaSettings
from .worker import Worker

log = structlog.get_logger("voice_nova")


async def run(settings: NovaSettings) -> None:
    stop = stop_on_signals()
    factory = engine_factory(settings.engine, settings)
    await factory.load()
    bus = await Bus.connect(
        settings.nats_url,
        "nova",
        retry_for=settings.nats_connect_retry,
        credentials=settings.nats_credentials(),
    )
    worker = Worker(
        bus,
        factory,
        worker_id=settings.worker_id,
        max_sessions=settings.max_sessions or factory.default_max_sessions,
        heartbeat_interval=settings.heartbeat_interval,
        resume_window=settings.resume_window,
        client_timeout=settings.client_timeout,
    )
    await worker.start()

    async def ready() -> dict[str, bool]:
        # The probe server starts once the engine has loaded, so this is "engine loaded and NATS
        # connected". A full worker stays ready: PodDisruptionBudgets count ready pods, and it takes
        # no claims anyway (it has left the queue group); how full it is is a metric.
        return {"nats": bus.connected}

    probes = probe_server(ready, settings.http_host, settings.http_port)
    probes_task = asyncio.create_task(probes.serve())
    log.info(
        "worker ready",
        worker_id=settings.worker_id,
        engine=settings.engine,
        max_sessions=worker.max_sessions,
        http_port=settings.http_port,
    )
    await stop.wait()
    log.info("worker shutting down", sessions=len(worker.sessions))
    await worker.drain()
    await bus.drain()
    await factory.aclose()
    probes.should_exit = True
    await probes_task


def main() -> None:
    start_service("nova", NovaSettings(), run)
