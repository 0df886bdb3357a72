"""Entry point: ``voice-transcripts`` (serve; the default) or ``voice-transcripts migrate`` (bring
the database schema up to date and exit). Configured by environment variables only.

On SIGTERM the service finishes the batch in hand (commits and acknowledges it), stops the API
and exits; what it had not acknowledged is redelivered to whichever replica runs next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import structlog
from voice_proto import Bus
from voice_proto.auth import AuthClient
from voice_proto.ops import embedded_server, start_service, stop_on_signals
from voice_proto.streams import ensure_records_stream

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


async def serve(settings: TranscriptsSettings) -> None:
    stop = stop_on_signals()
    engine = create_engine(settings.database_url)
    if settings.migrate_on_start:
        await upgrade(engine)
    elif not await is_current(engine):
        log.error("the database schema is not current: run `voice-transcripts migrate`")
    store = Store(engine)
    bus = await Bus.connect(
        settings.nats_url,
        "transcripts",
        retry_for=settings.nats_connect_retry,
        credentials=settings.nats_credentials(),
    )
    js = bus.nc.jetstream()
    await ensure_records_stream(js, settings)
    intake = Intake(
        js, store, durable=settings.durable, batch_size=settings.batch_size, ack_wait=settings.ack_wait
    )
    await intake.start()

    async def ready() -> dict[str, bool]:
        return {"nats": bus.connected, "database": intake.db_ok and await store.ping()}

    auth = AuthClient(bus, timeout=settings.auth_timeout, cache_seconds=settings.auth_cache_seconds)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    app = create_app(Api(store, auth), ready, cors_origins=origins)
    server = embedded_server(app, settings.http_host, settings.http_port, lifespan="off")
    serving = asyncio.create_task(server.serve())
    retention = None
    if settings.retention_days > 0:
        retention = asyncio.create_task(
            run_retention(
                store,
                days=settings.retention_days,
                interval=settings.retention_interval,
                stream_max_age_days=settings.records_max_age_days,
            )
        )
    log.info("transcripts ready", backend=engine.dialect.name, http_port=settings.http_port, lag=intake.lag)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    log.info("transcripts shutting down")
    await intake.stop()
    if retention is not None:
        retention.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retention
    server.should_exit = True
    await serving
    await bus.drain()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="voice-transcripts", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "migrate"], default="serve")
    args = parser.parse_args()
    if args.command == "migrate":
        start_service("transcripts", TranscriptsSettings(), migrate, traced=False)
    else:
        start_service("transcripts", TranscriptsSettings(), serve)
