"""W3C trace context in NATS headers.

Every message carries ``traceparent`` (and ``tracestate`` when there is one) so that the spans
of the edge, the worker and the model call of one session land in one trace.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def headers_for(context: Context | None = None) -> dict[str, str] | None:
    """The trace headers of ``context`` (default: the current one), or None when nothing is traced."""
    span = trace.get_current_span(context)
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def context_from(headers: Mapping[str, str] | None) -> Context:
    """The remote parent context carried in ``headers`` (an empty context when there is none)."""
    if not headers:
        return Context()
    return _PROPAGATOR.extract(headers)


def trace_id_hex(context: Context | None = None) -> str:
    span_context = trace.get_current_span(context).get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""
