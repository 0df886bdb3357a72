"""A WebSocket client that speaks the browser protocol, for tests and benchmarks.

It speaks it in the edge's own types (``voice_edge.protocol``): what it sends is built from the
client message structs, and every event it receives must decode as a server event, so an edge that
leaves its protocol fails the test that hears it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from voice_edge import protocol as p
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

JSON_PROTOCOL = p.JSON_PROTOCOL
BINARY_PROTOCOL = p.BINARY_PROTOCOL

_encoder = msgspec.json.Encoder()
_events: msgspec.json.Decoder[p.ServerEvent] = msgspec.json.Decoder(p.ServerEvent)


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class VoiceClient:
    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.session: dict[str, Any] = {}
        #: Every event received, in order (media events carry ``pcm`` bytes).
        self.events: list[dict[str, Any]] = []
        #: How the server closed the connection, once ``until_closed`` saw it.
        self.closed_by: Closed | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        key: str | None = None,
        bearer: str | None = None,
        protocol: str = JSON_PROTOCOL,
        resume_token: str | None = None,
        subprotocols: list[str] | None = None,
        wait_session: bool = True,
    ) -> VoiceClient:
        """Connect; unless ``wait_session`` is false, wait for the session event (raises Closed)."""
        offered = subprotocols
        if offered is None:
            offered = [protocol]
            if key is not None:
                offered.append(f"key.{key}")
            if bearer is not None:
                offered.append(f"bearer.{bearer}")
            if resume_token is not None:
                offered.append(f"resume.{resume_token}")
        ws = await connect(url, subprotocols=offered, max_size=None, open_timeout=10)  # type: ignore[arg-type]
        client = cls(ws, protocol)
        if wait_session:
            first = await client.recv(timeout=10)
            if first.get("event") != "session":
                raise AssertionError(f"first event was {first}")
            client.session = first
        return client

    @property
    def session_id(self) -> str:
        return str(self.session["sessionId"])

    @property
    def resume_token(self) -> str:
        return str(self.session["resumeToken"])

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        try:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "") from None
        event = {"event": "media", "pcm": frame} if isinstance(frame, bytes) else _event(frame)
        self.events.append(event)
        return event

    async def until_closed(self) -> AsyncIterator[dict[str, Any]]:
        """Every event as it arrives, until the server closes (``closed_by`` then says how)."""
        while True:
            try:
                yield await self.recv(timeout=3600)
            except Closed as closed:
                self.closed_by = closed
                return

    async def expect(self, name: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The next event called ``name`` (with these field values), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {name} event {fields or ''} within {timeout}s")
            event = await self.recv(remaining)
            if event.get("event") == name and all(event.get(k) == v for k, v in fields.items()):
                return event

    async def closed(self, timeout: float = 5.0) -> Closed:
        """Read until the server closes; returns the close code and reason."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.recv(max(0.01, deadline - loop.time()))
            except Closed as closed:
                return closed

    async def send_audio(self, pcm: bytes, *, end_of_utterance: bool = False) -> None:
        if self.protocol == BINARY_PROTOCOL:
            if pcm:
                await self.ws.send(pcm)
            if end_of_utterance:
                await self.send(p.ClientAudio(end_of_utterance=True))
            return
        await self.send(p.ClientAudio(pcm, end_of_utterance))

    async def send(self, message: p.ClientMessage) -> None:
        await self.ws.send(_encoder.encode(message).decode())

    async def send_json(self, message: dict[str, Any]) -> None:
        """A client message given by its JSON fields; it must be one of the protocol (send_raw
        sends anything)."""
        await self.send(msgspec.convert(message, p.ClientMessage))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def send_text(self, text: str) -> None:
        await self.send(p.ClientText(text))

    async def end(self) -> None:
        await self.send(p.ClientEnd())

    async def close(self) -> None:
        await self.ws.close()


def _event(frame: str) -> dict[str, Any]:
    """A server text frame as its JSON fields (media: ``pcm`` bytes instead of base64 ``data``)."""
    try:
        event = _events.decode(frame)
    except msgspec.DecodeError as exc:
        raise AssertionError(f"the edge sent an event outside its protocol ({exc}): {frame[:200]}") from None
    if isinstance(event, p.MediaEvent):
        return {"event": "media", "pcm": event.data}
    fields: dict[str, Any] = msgspec.to_builtins(event)
    return fields


async def refused(url: str, **kwargs: Any) -> Closed:
    """Connect expecting the server to close before any session event; returns how it closed."""
    try:
        client = await VoiceClient.open(url, **kwargs)
    except Closed as closed:
        return closed
    await client.close()
    raise AssertionError(f"the connection was accepted: {client.session}")
