"""The engine's metrics (names in voice_proto.telemetry_names): tokens (per session and in total),
streams opened (by reason: start, retry, rotation), failures. Turn latency is the worker's, for every
engine (voice_nova.turn_trace)."""

from __future__ import annotations

from opentelemetry import metrics
from voice_proto.telemetry import counter, histogram
from voice_proto.telemetry_names import Metrics

_meter = metrics.get_meter("voice_nova.bedrock")

tokens = counter(_meter, Metrics.BEDROCK_TOKENS)
session_tokens = histogram(_meter, Metrics.BEDROCK_SESSION_TOKENS)
streams = counter(_meter, Metrics.BEDROCK_STREAMS)
failures = counter(_meter, Metrics.BEDROCK_STREAM_FAILURES)
