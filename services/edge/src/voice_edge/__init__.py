"""The edge: browser WebSocket <-> NATS gateway; serves the built web app."""
