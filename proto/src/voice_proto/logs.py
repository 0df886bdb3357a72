"""structlog JSON logs with the session id, turn id and trace id bound: ``session_id`` and
``turn_id`` where the code bound them (structlog contextvars; the worker binds a turn's id where
the turn opens) or the current span carries ``turn.id``, ``trace_id`` from the current span."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from opentelemetry import trace

from .telemetry_names import Attr


def _add_trace_ids(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span()
    span_context = span.get_span_context()
    if span_context.is_valid and "trace_id" not in event:
        event["trace_id"] = format(span_context.trace_id, "032x")
        event["span_id"] = format(span_context.span_id, "016x")
    # Inside a turn's span (the SDK's spans show their attributes), the turn's id.
    turn_id = (getattr(span, "attributes", None) or {}).get(Attr.TURN_ID)
    if turn_id is not None and "turn_id" not in event:
        event["turn_id"] = turn_id
    return event


def configure_logging(service: str, level: str = "info") -> None:
    """JSON lines on stderr, for structlog and for libraries logging through the standard module."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            lambda _l, _m, event: {"service": service, **event},
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
