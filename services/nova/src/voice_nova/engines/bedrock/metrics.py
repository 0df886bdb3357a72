"""The engine's metrics: tokens (per session and in total), streams opened, failures, rotations."""

from __future__ import annotations

from opentelemetry import metrics

_meter = metrics.get_meter("voice_nova.bedrock")

tokens = _meter.create_counter(
    "voice_nova_bedrock_tokens", description="Model tokens, by direction (input/output)"
)
session_tokens = _meter.create_histogram(
    "voice_nova_bedrock_session_tokens", description="Model tokens one session used, by direction"
)
streams = _meter.create_counter(
    "voice_nova_bedrock_streams", description="Model streams opened, by reason (start, retry, rotation)"
)
failures = _meter.create_counter(
    "voice_nova_bedrock_stream_failures", description="Model streams that failed, by code and whether retried"
)
first_audio = _meter.create_histogram(
    "voice_nova_bedrock_first_audio_seconds",
    unit="s",
    description="From the end of the user's speech to the model's first audio of the answer",
)
