"""The edge's metrics (names in voice_proto.telemetry_names): live sessions, refusals before a
credential was checked, and what became of each connection that was (placement outcomes)."""

from __future__ import annotations

from opentelemetry import metrics, trace
from voice_proto.telemetry import counter
from voice_proto.telemetry_names import Attr, Metrics, Placement

meter = metrics.get_meter("voice_edge")
refusals = counter(meter, Metrics.EDGE_REFUSALS)
_placements = counter(meter, Metrics.EDGE_PLACEMENTS)

#: Outcomes that are the platform failing the caller (the span gets error status).
_FAILURES = frozenset({Placement.NO_WORKER, Placement.AUTH_UNAVAILABLE})


def count_placement(outcome: Placement, span: trace.Span | None = None) -> None:
    """Count a placement outcome and put it on ``span`` (default: the current one, the
    ``edge.session`` span), with error status when the platform failed the caller."""
    _placements.add(1, {"outcome": outcome.value})
    span = span or trace.get_current_span()
    span.set_attribute(Attr.PLACEMENT, outcome.value)
    if outcome in _FAILURES:
        span.set_status(trace.StatusCode.ERROR, outcome.value)
