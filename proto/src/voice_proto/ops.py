"""Liveness and readiness over HTTP, ``/metrics`` on a port of its own, plus the process plumbing
every service shares: an embedded uvicorn server that leaves signal handling to the service, a stop
event set by SIGTERM/SIGINT, and ``serve``, which runs a service as a list of components.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .bus import Bus
from .logs import configure_logging
from .settings import RecordsStreamSettings, ServiceSettings
from .streams import ensure_records_stream
from .telemetry import setup_telemetry

log = structlog.get_logger("voice_proto.ops")

#: Returns the readiness checks by name; the service is ready when all are true.
ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


#: Where every service serves its metrics, exactly (no redirect, no trailing slash).
METRICS_PATH = "/metrics"
#: Paths of probes and scrapes: they never make spans.
UNTRACED_PATHS = frozenset({"/health", "/ready", METRICS_PATH})


def untraced(scope: MutableMapping[str, Any]) -> bool:
    """True for a probe or a scrape: what an HTTP app's telemetry leaves out. Every FastAPI app of
    the platform is made with ``telemetry={"exclude": untraced}`` (FastAPI's built-in telemetry
    then makes spans for requests and WebSocket connections, none for probes and scrapes)."""
    return scope.get("path") in UNTRACED_PATHS


def probe_routes(ready: ReadyCheck) -> list[Route]:
    """``/health`` (the process lives) and ``/ready`` (its checks pass); neither makes spans."""

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(_request: Request) -> Response:
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    return [Route("/health", health), Route("/ready", readiness)]


async def _metrics(_request: Request) -> Response:
    # generate_latest walks every collector (the OpenTelemetry reader among them): off the loop.
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_app() -> Starlette:
    """Prometheus's text format at exactly ``/metrics``, and nothing else."""
    return Starlette(routes=[Route(METRICS_PATH, _metrics, methods=["GET"])])


def metrics_server(settings: ServiceSettings) -> Component:
    """The service's ``/metrics`` on ``METRICS_HOST:METRICS_PORT``, a port apart from the one its
    API or WebSocket is published on (an Ingress never exposes it). Nothing when the port is 0."""
    if settings.metrics_port == 0:
        return Component("metrics (off)")
    server = embedded_server(metrics_app(), settings.metrics_host, settings.metrics_port, lifespan="off")
    return http_server("metrics", server)


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


@dataclass(frozen=True)
class Component:
    """One part of a service, for :func:`serve`. Every callable is optional.

    ``start`` runs in order with the other components' (a service's bus before what uses it).
    ``run`` is started as a task once ``start`` returned and is expected to last until the service
    stops: its end (return or raise) before then is the component dying. ``stop`` runs in reverse
    order; a component with a ``run`` but no ``stop`` has its task cancelled instead, and one with
    both has its task awaited after ``stop`` (which must make it end).
    """

    name: str
    start: Callable[[], Awaitable[object]] | None = None
    run: Callable[[], Awaitable[object]] | None = None
    stop: Callable[[], Awaitable[object]] | None = None


def http_server(name: str, server: EmbeddedServer) -> Component:
    """An embedded uvicorn server as a component: it serves until the service stops; a server that
    cannot bind its port (uvicorn exits) or stops serving stops the service."""

    async def stop() -> None:
        server.should_exit = True

    return Component(name, run=server.serve, stop=stop)


def records_stream(bus: Bus, limits: RecordsStreamSettings) -> Component:
    """Makes sure at start that the VOICE_RECORDS stream exists (``bus`` is connected by then)."""

    async def ensure() -> None:
        await ensure_records_stream(
            bus.nc.jetstream(), max_age_days=limits.records_max_age_days, replicas=limits.records_replicas
        )

    return Component("records stream", start=ensure)


class ServiceFailed(Exception):
    """A component of a service failed to start, or died while the service ran."""


async def serve(stop: asyncio.Event, *components: Component) -> None:
    """Start ``components`` in order, run until ``stop`` is set or any component dies, then stop them
    in reverse order (each stop runs even when an earlier one failed). ``stop`` is set when the
    service stops for any reason, so that what watches it stops too.

    Raises ServiceFailed (after stopping what had started) when a ``start`` raised, a ``run`` ended
    before the service stopped, or a ``stop`` raised; each failure is logged with its component.
    """
    failed: list[str] = []
    async with asyncio.TaskGroup() as tasks, contextlib.AsyncExitStack() as stack:
        for component in components:
            if stop.is_set():
                break
            if component.start is not None:
                try:
                    await component.start()
                except Exception:
                    log.exception("component failed to start", component=component.name)
                    failed.append(component.name)
                    stop.set()
                    break
            running = None
            if component.run is not None:
                running = tasks.create_task(
                    _run(component, component.run, stop, failed), name=f"component-{component.name}"
                )
            stack.push_async_callback(_stop, component, running, failed)
        else:
            log.info("service ready", components=[component.name for component in components])
        await stop.wait()
        log.info("service stopping", failed=failed or None)
    if failed:
        raise ServiceFailed(f"failed: {', '.join(dict.fromkeys(failed))}")


async def _run(
    component: Component, run: Callable[[], Awaitable[object]], stop: asyncio.Event, failed: list[str]
) -> None:
    try:
        await run()
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        return
    # SystemExit too: uvicorn exits when it cannot bind its port, and that must stop the service
    # in order, not tear the event loop down.
    except (Exception, SystemExit):
        if stop.is_set():
            log.warning("component failed while stopping", component=component.name, exc_info=True)
            return
        log.exception("component died", component=component.name)
        failed.append(component.name)
        stop.set()
        return
    if not stop.is_set():
        log.error("component ended while the service runs", component=component.name)
        failed.append(component.name)
        stop.set()


async def _stop(component: Component, running: asyncio.Task[None] | None, failed: list[str]) -> None:
    stopped = False
    if component.stop is not None:
        try:
            await component.stop()
            stopped = True
        except Exception:
            log.exception("component failed to stop", component=component.name)
            failed.append(component.name)
    if running is not None:
        if not stopped:  # nothing else will make it end
            running.cancel()
        await asyncio.wait((running,))


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop (installed with uvicorn[standard])."""
    import uvloop

    asyncio.run(main, loop_factory=uvloop.new_event_loop)


def start_service[S: ServiceSettings](
    name: str, settings: S, run: Callable[[S], Coroutine[Any, Any, None]], *, traced: bool = True
) -> None:
    """A service's whole life: JSON logs, telemetry (``voice-<name>``), ``run`` on uvloop, and the
    telemetry's last flush on the way out. ``traced=False`` for one-off commands (migrations).

    Exits with status 1 when ``run`` raises ServiceFailed (what failed is logged already)."""
    configure_logging(name, settings.log_level)
    telemetry = setup_telemetry(f"voice-{name}") if traced else None
    try:
        run_service(run(settings))
    except ServiceFailed:
        sys.exit(1)
    finally:
        if telemetry is not None:
            telemetry.shutdown()
