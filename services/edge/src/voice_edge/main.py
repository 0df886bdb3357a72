"""Entry point: ``voice-edge``, configured by environment variables only.

On SIGTERM the edge stops accepting, waits for its calls to end (up to EDGE_DRAIN_TIMEOUT), closes
the rest with 1012 (they reconnect and resume on another edge), then stops the HTTP server.
"""

from __future__ import annotations

from voice_proto.ops import (
    Component,
    embedded_server,
    http_server,
    metrics_server,
    serve,
    start_service,
    stop_on_signals,
)

from .app import create_app
from .gateway import Edge
from .settings import EdgeSettings


async def run(settings: EdgeSettings) -> None:
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
    await serve(
        stop_on_signals(),
        # The app connects the edge to NATS as it starts (its lifespan).
        http_server("http", server),
        metrics_server(settings),
        # Stops first: clients are closed with 1012 while the server still runs.
        Component("sessions", stop=edge.shutdown),
    )


def main() -> None:
    start_service("edge", EdgeSettings(), run)
