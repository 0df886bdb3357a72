"""Entry point: ``voice-recordings``. Configured by environment variables only (RECORDINGS_*).

On SIGTERM the recorder finishes the recording it is storing, stops reading and exits; the sessions
still open stay unacknowledged in the streams, and the next recorder reads them from their start.
Run one recorder per NATS deployment (it repositions its consumers at start); the API scales freely.
"""

from __future__ import annotations

import functools
import os

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
from voice_proto.streams import ensure_audio_stream

from .app import Api, create_app
from .catalogue import Catalogue
from .recorder import Recorder, RecorderConfig
from .retention import run_retention
from .settings import RecordingsSettings
from .store import NatsObjectStore, RecordingStore, S3Location, S3Store

log = structlog.get_logger("voice_recordings")


def make_store(settings: RecordingsSettings, bus: Bus) -> RecordingStore:
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("RECORDINGS_STORAGE=s3 needs RECORDINGS_S3_BUCKET")
        location = S3Location(
            settings.s3_bucket, settings.s3_region, settings.s3_endpoint_url, settings.s3_create_bucket
        )
        return S3Store(location)
    return NatsObjectStore(
        lambda: bus.nc.jetstream(), max_bytes=settings.object_store_max_bytes, replicas=settings.replicas
    )


def recorder_config(settings: RecordingsSettings) -> RecorderConfig:
    return RecorderConfig(
        durable=settings.durable,
        prefix=settings.prefix,
        bitrate=settings.bitrate,
        encode_concurrency=settings.encode_concurrency,
        settle=settings.settle,
        idle_timeout=settings.idle_timeout,
        ack_wait=settings.ack_wait,
        max_ack_pending=settings.max_ack_pending,
        records_lookback=settings.audio_max_age,
        gather=settings.gather,
    )


async def run(settings: RecordingsSettings) -> None:
    if settings.nice:
        os.nice(settings.nice)  # a recording is not live: the voice path comes first
    bus = Bus.for_service(settings, "recordings")
    store = make_store(settings, bus)
    catalogue = Catalogue(lambda: bus.nc.jetstream(), replicas=settings.replicas)
    recorder = Recorder(bus, store, catalogue, recorder_config(settings))

    async def audio_stream() -> None:
        await ensure_audio_stream(
            bus.nc.jetstream(),
            max_age_seconds=settings.audio_max_age,
            max_bytes=settings.audio_max_bytes,
            replicas=settings.replicas,
        )

    async def ready() -> dict[str, bool]:
        return {
            "nats": bus.connected,
            "storage": recorder.store_ok and await store.ping(),
            "catalogue": await catalogue.ping(),
        }

    auth = AuthClient(bus, timeout=settings.auth_timeout, cache_seconds=settings.auth_cache_seconds)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    api = Api(store, catalogue, auth, url_secret=settings.url_secret, url_seconds=settings.url_seconds)
    app = create_app(api, ready, cors_origins=origins)
    components = [
        Component("nats", start=bus.start, stop=bus.drain),
        records_stream(bus, settings),
        Component("audio stream", start=audio_stream),
        Component(f"storage ({store.name})", start=store.start),
        Component("catalogue", start=catalogue.start),
        Component("recorder", start=recorder.start, run=recorder.run, stop=recorder.stop),
        http_server("http", embedded_server(app, settings.http_host, settings.http_port, lifespan="off")),
        metrics_server(settings),
    ]
    if settings.retention_days > 0:
        retention = functools.partial(
            run_retention,
            store,
            catalogue,
            days=settings.retention_days,
            interval=settings.retention_interval,
        )
        components.append(Component("retention", run=retention))
    log.info("recordings starting", storage=store.name, http_port=settings.http_port)
    await serve(stop_on_signals(), *components)


def main() -> None:
    start_service("recordings", RecordingsSettings(), run)
