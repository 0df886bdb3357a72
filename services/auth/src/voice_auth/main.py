"""Entry point: ``voice-auth``, configured by environment variables only."""

from __future__ import annotations

import asyncio

import structlog
from voice_proto import Bus
from voice_proto.logs import configure_logging
from voice_proto.ops import probe_server, run_service, stop_on_signals
from voice_proto.telemetry import setup_telemetry

from .apikeys import ApiKeyStore
from .service import AuthService
from .settings import AuthSettings

log = structlog.get_logger("voice_auth")


async def run(settings: AuthSettings) -> None:
    stop = stop_on_signals()
    admins = frozenset(p.strip() for p in settings.admin_principals.split(",") if p.strip())
    keys = ApiKeyStore(settings.api_keys, admins=admins, ttl=settings.api_key_ttl)
    if not len(keys):
        log.warning("no API keys configured: every api_key credential will be refused")
    bus = await Bus.connect(settings.nats_url, "auth", retry_for=settings.nats_connect_retry)
    service = AuthService(bus, keys)
    await service.start()

    async def ready() -> dict[str, bool]:
        return {"nats": bus.connected}

    probes = probe_server(ready, settings.http_host, settings.http_port)
    probes_task = asyncio.create_task(probes.serve())
    log.info("auth ready", api_keys=len(keys), http_port=settings.http_port)
    await stop.wait()
    log.info("auth shutting down")
    await bus.drain()
    probes.should_exit = True
    await probes_task


def main() -> None:
    settings = AuthSettings()
    configure_logging("auth", settings.log_level)
    telemetry = setup_telemetry("voice-auth")
    try:
        run_service(run(settings))
    finally:
        telemetry.shutdown()
