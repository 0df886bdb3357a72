"""Liveness, readiness and metrics over HTTP, plus the process plumbing every service shares:
an embedded uvicorn server that leaves signal handling to the service, and a stop event set by
SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import uvicorn
from prometheus_client import make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from .logs import configure_logging
from .settings import ServiceSettings
from .telemetry import setup_telemetry

#: Returns the readiness checks by name; the service is ready when all are true.
ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


def probe_routes(ready: ReadyCheck) -> list[Route | Mount]:
    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(_request: Request) -> Response:
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    return [
        Route("/health", health),
        Route("/ready", readiness),
        Mount("/metrics", app=make_asgi_app()),
    ]


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a service's own event loop: the service decides what a signal means."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def embedded_server(app: Starlette, host: str, port: int, **options: object) -> EmbeddedServer:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, **options)  # type: ignore[arg-type]
    return EmbeddedServer(config)


def probe_server(ready: ReadyCheck, host: str, port: int) -> EmbeddedServer:
    return embedded_server(Starlette(routes=probe_routes(ready)), host, port, lifespan="off")


def stop_on_signals() -> asyncio.Event:
    """An event set on SIGTERM or SIGINT (the service then shuts down gracefully)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop (installed with uvicorn[standard])."""
    import uvloop

    asyncio.run(main, loop_factory=uvloop.new_event_loop)


def start_service[S: ServiceSettings](
    name: str, settings: S, run: Callable[[S], Coroutine[Any, Any, None]], *, traced: bool = True
) -> None:
    """A service's whole life: JSON logs, telemetry (``voice-<name>``), ``run`` on uvloop, and the
    telemetry's last flush on the way out. ``traced=False`` for one-off commands (migrations)."""
    configure_logging(name, settings.log_level)
    if not traced:
        run_service(run(settings))
        return
    telemetry = setup_telemetry(f"voice-{name}")
    try:
        run_service(run(settings))
    finally:
        telemetry.shutdown()
