"""Entry point: ``voice-edge``, configured by environment variables only.

On SIGTERM the edge stops accepting, waits for its calls to end (up to EDGE_DRAIN_TIMEOUT), closes
the rest with 1012 (they reconnect and resume on another edge), then stops the HTTP server.
"""

from __future__ import annotations

import asyncio

import structlog
from voice_proto.ops import embedded_server, start_service, stop_on_signals

from .app import create_app
from .gateway import Edge
from .settings import EdgeSettings

log = structlog.get_logger("voice_edge")


async def run(settings: EdgeSettings) -> None:
    stop = stop_on_signals()
    edge = Edge(settings)
    app = create_app(settings, edge)
    # Our own frame limit answers oversized frames with an error event; the server's limit is a backstop.
    server = embedded_server(
        app,
        settings.host,
        settings.port,
        ws_max_size=max(4 * settings.max_frame_bytes, 1 << 20),
        ws_ping_interval=20.0,
        # Audio barely compresses; deflating every frame costs both ends CPU for nothing.
        ws_per_message_deflate=False,
    )
    serving = asyncio.create_task(server.serve())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not serving.done():
        log.info("edge shutting down", sessions=len(edge.sessions))
        await edge.shutdown()
        server.should_exit = True
    await serving


def main() -> None:
    start_service("edge", EdgeSettings(), run)
