"""Entry point: ``voice-analytics``, configured by environment variables only."""

from __future__ import annotations

import structlog
from voice_proto import Bus, ops
from voice_proto.auth import AuthClient

from .app import create_app
from .consumer import Consumer
from .settings import AnalyticsSettings
from .stats import StatsStore

log = structlog.get_logger("voice_analytics")


async def run(settings: AnalyticsSettings) -> None:
    store = StatsStore(settings.database)
    bus = Bus.for_service(settings, "analytics")
    consumer = Consumer(bus, store, settings.durable)

    async def ready() -> dict[str, bool]:
        return {"nats": bus.connected, "consuming": consumer.running}

    app = create_app(store, AuthClient(bus, timeout=settings.auth_timeout, cache_seconds=60), ready)
    log.info("analytics starting", http_port=settings.http_port, durable=settings.durable)
    server = ops.embedded_server(app, settings.http_host, settings.http_port, lifespan="off")
    # Started in this order, stopped in reverse; if any of them dies, the service stops.
    await ops.serve(
        ops.stop_on_signals(),
        ops.Component("database", start=store.open, stop=store.close),
        ops.Component("nats", start=bus.start, stop=bus.drain),
        ops.records_stream(bus, settings),
        ops.Component("records", run=consumer.run, stop=consumer.stop),
        ops.http_server("http", server),
        ops.metrics_server(settings),
    )


def main() -> None:
    ops.start_service("analytics", AnalyticsSettings(), run)
