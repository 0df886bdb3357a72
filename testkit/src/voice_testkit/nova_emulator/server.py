"""The emulator's HTTP/2 server: TLS with ALPN h2 (all awscrt speaks for duplex streams), AWS
event-stream framing both ways, one fake model per ``invoke-with-bidirectional-stream`` request.

Writes never happen in the socket reader: a writer that waits for the peer's flow-control window
must leave the reader free to receive the WINDOW_UPDATE that opens it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import ssl
import struct
import threading
import uuid
from collections import deque
from io import BytesIO
from typing import Any
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from smithy_aws_event_stream.events import Event, EventMessage

from .certs import TlsFiles
from .model import FakeNova, ModelConfig, StreamPlan, StreamRecord
from .validator import ProtocolValidator

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/invoke-with-bidirectional-stream$")
_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"


class StreamGone(Exception):
    pass


def _message(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    return EventMessage(headers=headers, payload=json.dumps(payload).encode()).encode()


def event_frame(nova_event: dict[str, Any]) -> bytes:
    body = {"bytes": base64.b64encode(json.dumps(nova_event).encode()).decode()}
    headers = {":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"}
    return _message(headers, body)


def exception_frame(kind: str, message: str) -> bytes:
    headers = {":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"}
    return _message(headers, {"message": message})


class _Stream:
    """One request: the decoder of its body and the queue its fake model consumes."""

    def __init__(self, connection: _Connection, stream_id: int, model: FakeNova | None) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.model = model
        self.buffer = bytearray()
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 12:
            (total,) = struct.unpack_from(">I", self.buffer)
            if len(self.buffer) < total:
                return
            raw, self.buffer = bytes(self.buffer[:total]), self.buffer[total:]
            self._outer(raw)

    def _outer(self, raw: bytes) -> None:
        model = self.model
        assert model is not None
        outer = Event.decode(BytesIO(raw))
        if outer is None:
            return
        headers = outer.message.headers
        if ":chunk-signature" not in headers or ":date" not in headers:
            model.validator.violations.append(f"{model.record.label}: an unsigned input frame")
        if not outer.message.payload:
            self.inbox.put_nowait(("end", None))  # the signed empty frame: end of input
            return
        inner = Event.decode(BytesIO(outer.message.payload))
        if inner is None:
            return
        inner_headers = inner.message.headers
        if inner_headers.get(":message-type") != "event" or inner_headers.get(":event-type") != "chunk":
            model.validator.violations.append(
                f"{model.record.label}: inner frame headers {dict(inner_headers)}"
            )
            return
        try:
            document = json.loads(base64.b64decode(json.loads(inner.message.payload)["bytes"]))
        except (ValueError, KeyError, TypeError) as exc:
            model.validator.violations.append(f"{model.record.label}: undecodable input event: {exc}")
            return
        self.inbox.put_nowait(("event", document))

    async def run(self) -> None:
        model = self.model
        assert model is not None
        while True:
            kind, document = await self.inbox.get()
            if kind == "event":
                await model.receive(document)
            elif kind == "end":
                await model.input_ended()
                with contextlib.suppress(StreamGone):
                    await self.connection.end(self.stream_id)
                return
            else:  # the client reset or half-closed without the empty frame
                if model.validator.phase not in ("closed", "session_ended"):
                    model.validator.stream_failed()
                await model.close()
                return

    # The model's output side.
    async def event(self, body: dict[str, Any]) -> None:
        await self.connection.send(self.stream_id, event_frame(body))

    async def exception(self, kind: str, message: str) -> None:
        await self.connection.send(self.stream_id, exception_frame(kind, message))

    async def end(self) -> None:
        await self.connection.end(self.stream_id)

    async def reset(self) -> None:
        await self.connection.reset(self.stream_id)


class _Connection:
    def __init__(
        self, server: EmulatorServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.state = asyncio.Condition()
        self.streams: dict[int, _Stream] = {}

    async def serve(self) -> None:
        async with self.state:
            self.h2.initiate_connection()
            self.writer.write(self.h2.data_to_send())
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                async with self.state:
                    for event in self.h2.receive_data(data):
                        self._on(event)
                    self.writer.write(self.h2.data_to_send())
                    self.state.notify_all()
                await self.writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError, ssl.SSLError):
            pass
        finally:
            for stream in self.streams.values():
                stream.closed = True
                stream.inbox.put_nowait(("gone", None))
            async with self.state:
                self.state.notify_all()
            self.writer.close()

    def _on(self, event: h2.events.Event) -> None:
        match event:
            case h2.events.RequestReceived():
                self._request(event.stream_id, dict(event.headers or []))  # type: ignore[arg-type]
            case h2.events.DataReceived():
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
                stream = self.streams.get(event.stream_id or 0)
                if stream is not None and stream.model is not None:
                    stream.feed(event.data or b"")
            case h2.events.StreamEnded():
                stream = self.streams.get(event.stream_id or 0)
                if stream is not None:
                    stream.inbox.put_nowait(("half_closed", None))
            case h2.events.StreamReset():
                stream = self.streams.get(event.stream_id or 0)
                if stream is not None:
                    stream.closed = True
                    stream.inbox.put_nowait(("reset", None))

    def _request(self, stream_id: int, headers: dict[str, str]) -> None:
        path = headers.get(":path", "").split("?", 1)[0]
        match = _PATH.match(path)
        request_id = str(uuid.uuid4())
        if headers.get(":method") != "POST" or match is None:
            self._respond_error(
                stream_id, 404, "UnknownOperationException", f"no route for {path}", request_id
            )
            return
        model_id = unquote(match["model"])
        plan = self.server.next_plan()
        label = f"stream-{self.server.count_stream()}"
        record = StreamRecord(label, model_id, plan, ProtocolValidator(model_id, label))
        self.server.add_record(record)
        if headers.get("content-type") != "application/vnd.amazon.eventstream":
            record.validator.violations.append(f"{label}: content-type {headers.get('content-type')!r}")
        authorization = headers.get("authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 Credential="):
            record.validator.violations.append(f"{label}: the request is not SigV4-signed")
        record.access_key_id = authorization.removeprefix("AWS4-HMAC-SHA256 Credential=").split("/", 1)[0]
        record.security_token = headers.get("x-amz-security-token", "")
        if plan.http_status:
            record.ended = True
            self._respond_error(stream_id, plan.http_status, plan.error_type, plan.message, request_id)
            return
        stream = _Stream(self, stream_id, None)
        stream.model = FakeNova(stream, record, self.server.config)
        self.streams[stream_id] = stream
        if not plan.hold_headers:
            self.h2.send_headers(
                stream_id,
                [
                    (":status", "200"),
                    ("content-type", "application/vnd.amazon.eventstream"),
                    ("x-amzn-requestid", request_id),
                ],
            )
        stream.task = asyncio.ensure_future(stream.run())

    def _respond_error(
        self, stream_id: int, status: int, error_type: str, message: str, request_id: str
    ) -> None:
        self.h2.send_headers(
            stream_id,
            [
                (":status", str(status)),
                ("content-type", "application/json"),
                ("x-amzn-errortype", f"{error_type}:{_ERROR_NAMESPACE}"),
                ("x-amzn-requestid", request_id),
            ],
        )
        self.h2.send_data(stream_id, json.dumps({"message": message}).encode(), end_stream=True)

    async def send(self, stream_id: int, data: bytes) -> None:
        view = memoryview(data)
        async with self.state:
            while view:
                if self.streams.get(stream_id) is None or self.streams[stream_id].closed:
                    raise StreamGone
                try:
                    window = min(
                        self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size
                    )
                except h2.exceptions.StreamClosedError:
                    raise StreamGone from None
                if window <= 0:
                    await self.state.wait()
                    continue
                self.h2.send_data(stream_id, bytes(view[:window]))
                view = view[window:]
                self.writer.write(self.h2.data_to_send())
        await self.writer.drain()

    async def end(self, stream_id: int) -> None:
        async with self.state:
            stream = self.streams.get(stream_id)
            if stream is None or stream.closed:
                raise StreamGone
            stream.closed = True
            with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                self.h2.end_stream(stream_id)
                self.writer.write(self.h2.data_to_send())

    async def reset(self, stream_id: int) -> None:
        async with self.state:
            stream = self.streams.get(stream_id)
            if stream is None or stream.closed:
                return
            stream.closed = True
            with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                self.h2.reset_stream(stream_id, 0)  # NO_ERROR, as the service does
                self.writer.write(self.h2.data_to_send())


class EmulatorServer:
    """The emulator in the current event loop."""

    def __init__(self, tls: TlsFiles, config: ModelConfig | None = None) -> None:
        self.tls = tls
        self.config = config or ModelConfig()
        self.default_plan = StreamPlan()
        self._plans: deque[StreamPlan] = deque()
        self._records: list[StreamRecord] = []
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._count = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls.cert, self.tls.key)
        context.set_alpn_protocols(["h2"])
        self._server = await asyncio.start_server(self._serve, host, port, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _Connection(self, reader, writer).serve()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # --- scripting and results (safe from other threads) ------------------------------------------

    def plan(self, *plans: StreamPlan) -> None:
        """The next streams opened behave like these, in order; then like ``default_plan``."""
        with self._lock:
            self._plans.extend(plans)

    def next_plan(self) -> StreamPlan:
        with self._lock:
            return self._plans.popleft() if self._plans else self.default_plan

    def count_stream(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def add_record(self, record: StreamRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[StreamRecord]:
        with self._lock:
            return list(self._records)

    def violations(self) -> list[str]:
        return [v for record in self.records for v in record.validator.violations]
