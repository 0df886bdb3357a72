"""An OTLP/HTTP trace receiver inside the test: the services export to it, the test reads spans."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    start_ns: int = 0
    end_ns: int = 0
    #: ``(trace_id, span_id)`` of each span this one links to.
    links: tuple[tuple[str, str], ...] = ()
    #: OTLP status code: 0 unset, 1 ok, 2 error.
    status: int = 0
    resource: dict[str, Any] | None = None

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/v1/traces":
                    receiver._ingest(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(ExportTraceServiceResponse().SerializeToString())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _ingest(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                            status=span.status.code,
                            resource=resource,
                        )
                    )
        with self._lock:
            self.spans.extend(spans)

    def find(self, name: str, attributes: dict[str, Any] | None = None) -> list[ReceivedSpan]:
        attributes = attributes or {}
        with self._lock:
            return [
                s
                for s in self.spans
                if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
            ]

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def tree(self, trace_id: str) -> str:
        """The trace as indented text: ``name [service] attributes``, children under parents."""
        spans = sorted(self.in_trace(trace_id), key=lambda s: s.start_ns)
        ids = {s.span_id for s in spans}
        lines: list[str] = []

        def render(parent: str | None, depth: int) -> None:
            for span in spans:
                root = span.parent_span_id not in ids
                if (parent is None and root) or (parent is not None and span.parent_span_id == parent):
                    shown = {k: v for k, v in span.attributes.items() if not k.startswith("messaging.")}
                    lines.append(
                        f"{'  ' * depth}{span.name} [{span.service}] {span.duration_ms:.1f} ms {shown}"
                    )
                    render(span.span_id, depth + 1)

        render(None, 0)
        return "\n".join(lines)

    def wait_for(
        self, name: str, attributes: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> ReceivedSpan:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(name, attributes)
            if found:
                return found[0]
            time.sleep(0.05)
        raise TimeoutError(f"no span {name} {attributes} received; got {[s.name for s in self.spans]}")

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
