"""Entry point: ``voice-transcripts`` (serve; the default) or ``voice-transcripts migrate`` (bring
the database schema up to date and exit). Configured by environment variables only.

On SIGTERM the service finishes the batch in hand (commits and acknowledges it), stops the API
and exits; what it had not acknowledged is redelivered to whichever replica runs next.
"""

from __future__ import annotations

import argparse
import functools

import structlog
from voice_proto import Bus
from voice_proto.auth import AuthClient
from voice_proto.ops import (
    Component,
    embedded_server,
    http_server,
    metrics_server,
    records_stream,
    serve,
    start_service,
    stop_on_signals,
)

from .app import Api, create_app
from .db import create_engine
from .intake import Intake
from .migrate import is_current, upgrade
from .retention import run_retention
from .settings import TranscriptsSettings
from .store import Store

log = structlog.get_logger("voice_transcripts")


async def migrate(settings: TranscriptsSettings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    log.info("database schema is current", backend=engine.dialect.name)


async def run(settings: TranscriptsSettings) -> None:
    engine = create_engine(settings.database_url)
    store = Store(engine)
    bus = Bus.for_service(settings, "transcripts")
    intake = Intake(
        bus, store, durable=settings.durable, batch_size=settings.batch_size, ack_wait=settings.ack_wait
    )

    async def prepare_database() -> None:
        if settings.migrate_on_start:
            await upgrade(engine)
        elif not await is_current(engine):
            log.error("the database schema is not current: run `voice-transcripts migrate`")

    async def ready() -> dict[str, bool]:
        return {"nats": bus.connected, "database": intake.db_ok and await store.ping()}

    auth = AuthClient(bus, timeout=settings.auth_timeout, cache_seconds=settings.auth_cache_seconds)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    app = create_app(Api(store, auth), ready, cors_origins=origins)
    components = [
        Component("database", start=prepare_database, stop=engine.dispose),
        Component("nats", start=bus.start, stop=bus.drain),
        records_stream(bus, settings),
        Component("intake", start=intake.start, run=intake.run, stop=intake.stop),
        http_server("http", embedded_server(app, settings.http_host, settings.http_port, lifespan="off")),
        metrics_server(settings),
    ]
    if settings.retention_days > 0:
        retention = functools.partial(
            run_retention,
            store,
            days=settings.retention_days,
            interval=settings.retention_interval,
            stream_max_age_days=settings.records_max_age_days,
        )
        components.append(Component("retention", run=retention))
    log.info("transcripts starting", backend=engine.dialect.name, http_port=settings.http_port)
    await serve(stop_on_signals(), *components)


def main() -> None:
    parser = argparse.ArgumentParser(prog="voice-transcripts", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "migrate"], default="serve")
    args = parser.parse_args()
    if args.command == "migrate":
        start_service("transcripts", TranscriptsSettings(), migrate, traced=False)
    else:
        start_service("transcripts", TranscriptsSettings(), run)
