"""Entry point: ``voice-analytics``, configured by environment variables only."""

from __future__ import annotations

import asyncio

import structlog
from voice_proto import Bus
from voice_proto.auth import AuthClient
from voice_proto.ops import embedded_server, start_service, stop_on_signals
from voice_proto.streams import ensure_records_stream

from .app import create_app
from .consumer import consume
from .settings import AnalyticsSettings
from .stats import StatsStore

log = structlog.get_logger("voice_analytics")


async def run(settings: AnalyticsSettings) -> None:
    stop = stop_on_signals()
    store = await StatsStore.open(settings.database)
    bus = await Bus.connect(
        settings.nats_url,
        "analytics",
        retry_for=settings.nats_connect_retry,
        credentials=settings.nats_credentials(),
    )
    js = bus.nc.jetstream()
    await ensure_records_stream(js, settings)
    consuming = asyncio.create_task(consume(js, store, settings.durable, stop))

    async def ready() -> dict[str, bool]:
        return {"nats": bus.connected, "consuming": not consuming.done()}

    auth = AuthClient(bus, timeout=settings.auth_timeout, cache_seconds=60)
    server = embedded_server(
        create_app(store, auth, ready), settings.http_host, settings.http_port, lifespan="off"
    )
    serving = asyncio.create_task(server.serve())
    log.info("analytics ready", http_port=settings.http_port, durable=settings.durable)
    await asyncio.wait({consuming, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await consuming
    server.should_exit = True
    await serving
    await bus.drain()
    await store.close()


def main() -> None:
    start_service("analytics", AnalyticsSettings(), run)
