"""The platform's telemetry vocabulary: every span name, span attribute key and metric (name, kind,
unit, labels, description) in one place, so that services, dashboards, alert rules and the metrics
catalogue (docs/metrics.md) all spell them the same way.

Span names are ``<service>.<what>``; attributes follow the OpenTelemetry semantic conventions where
one exists (``messaging.*``, ``gen_ai.*``) and the platform's own keys (``session.id``,
``turn.id``) otherwise. Metric names are Prometheus names as scraped: counters end in ``_total``
(the exporter adds it), histograms and gauges carry their unit in the name (``_seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Span(StrEnum):
    """Span names."""

    EDGE_SESSION = "edge.session"
    EDGE_HANDOVER = "edge.handover"
    #: One turn of one session (its own trace, linked to the session's).
    TURN = "turn"
    #: What the edge carried for a turn: the client's input, the answer's output.
    EDGE_TURN_INPUT = "edge.turn.input"
    EDGE_TURN_OUTPUT = "edge.turn.output"
    NOVA_SESSION = "nova.session"
    #: The worker's part of a turn, with the engine's stages below it.
    NOVA_TURN = "nova.turn"
    #: Offline engine stages.
    ENDPOINTING = "nova.endpointing"
    SPEECH_TO_TEXT = "nova.speech_to_text"
    RESPONDER = "nova.responder"
    SYNTHESIS = "nova.synthesis"
    #: Nova Sonic: the model's answer on the bidirectional stream (gen_ai conventions).
    MODEL_STREAM = "nova.model"
    NOVA_STREAM_SETUP = "nova.stream.setup"
    NOVA_ROTATION = "nova.rotation"
    TOOL = "nova.tool"
    AUTH_VALIDATE = "auth.validate"
    TRANSCRIPTS_STORE = "transcripts.store"


class Attr(StrEnum):
    """Span attribute keys (and log keys where they match)."""

    SESSION_ID = "session.id"
    SESSION_RESUME = "session.resume"
    SESSION_OUTCOME = "session.outcome"
    SESSION_END_REASON = "session.end_reason"
    SESSION_HANDOVER = "session.handover"
    CLIENT_PROTOCOL = "client.protocol"
    WORKER_ID = "worker.id"
    PLACEMENT = "placement.outcome"
    TURN_ID = "turn.id"
    TURN_OPENED_BY = "turn.opened_by"
    TURN_INTERRUPTED = "turn.interrupted"
    TURN_OUTCOME = "turn.outcome"
    #: End of the user's speech (or the typed text's arrival) to the answer's first audio, ms.
    TURN_FIRST_AUDIO_MS = "turn.first_audio_ms"
    #: The model's own share: from the final transcript to the first audio, ms.
    TURN_MODEL_LATENCY_MS = "turn.model_latency_ms"
    ENGINE = "engine.name"
    TOOL_NAME = "tool.name"
    TOOL_CALL_ID = "tool.call_id"
    TOOL_OK = "tool.ok"
    AUTH_SCHEME = "auth.scheme"
    AUTH_OUTCOME = "auth.outcome"
    REASON = "reason"
    STREAM_SEQ = "stream.seq"
    # OpenTelemetry messaging conventions.
    MESSAGING_SYSTEM = "messaging.system"
    MESSAGING_DESTINATION = "messaging.destination.name"
    MESSAGING_OPERATION_TYPE = "messaging.operation.type"
    MESSAGING_OPERATION_NAME = "messaging.operation.name"
    # OpenTelemetry gen_ai conventions.
    GEN_AI_PROVIDER = "gen_ai.provider.name"
    GEN_AI_OPERATION = "gen_ai.operation.name"
    GEN_AI_MODEL = "gen_ai.request.model"
    GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
    GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"


#: ``messaging.system`` of every bus span.
MESSAGING_SYSTEM_NATS = "nats"
#: ``gen_ai.provider.name`` of Nova Sonic.
GEN_AI_PROVIDER_BEDROCK = "aws.bedrock"


class TurnOutcome(StrEnum):
    """``outcome`` of ``voice_turns_total``: how a turn ended."""

    ANSWERED = "answered"
    INTERRUPTED = "interrupted"
    #: Opened but nothing was said back (an empty transcript, silence).
    EMPTY = "empty"
    FAILED = "failed"


class Placement(StrEnum):
    """``outcome`` of ``voice_edge_placements_total``: what became of a connection the edge admitted
    to the protocol step (refusals before the credential count under ``voice_edge_refusals``)."""

    PLACED = "placed"
    NO_WORKER = "no_worker"
    AUTH_REFUSED = "auth_refused"
    AUTH_UNAVAILABLE = "auth_unavailable"
    RESUMED = "resumed"
    RESUME_REFUSED = "resume_refused"


@dataclass(frozen=True)
class Metric:
    """One metric as Prometheus scrapes it. ``instrument`` is the name given to OpenTelemetry (the
    exporter appends ``_total`` to counters); ``alert`` says what an operator watches it for."""

    name: str
    kind: Literal["counter", "histogram", "gauge"]
    unit: str
    labels: tuple[str, ...]
    description: str
    alert: str = ""

    @property
    def instrument(self) -> str:
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name

    @property
    def otel_unit(self) -> str:
        """The unit given to OpenTelemetry (UCUM); ``1`` for counts."""
        return {"seconds": "s", "messages": "1", "sessions": "1", "tokens": "1", "": "1"}.get(
            self.unit, self.unit
        )


#: Latency buckets (seconds) of the turn histograms: voice answers live between 0.2 and 3 s.
FIRST_AUDIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
AUTH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Metrics:
    """Every metric a service of the platform exports (the catalogue in docs/metrics.md)."""

    FIRST_AUDIO = Metric(
        "voice_turn_first_audio_seconds",
        "histogram",
        "seconds",
        ("engine",),
        "From the end of the user's speech (or a typed message's arrival) to the answer's first audio",
        "p95 above 1.5 s for 5 minutes",
    )
    TURNS = Metric(
        "voice_turns_total",
        "counter",
        "",
        ("engine", "outcome"),
        "Turns the workers finished, by outcome (answered, interrupted, empty, failed)",
        "failed above 5 % of all turns",
    )
    WORKER_SESSIONS = Metric(
        "voice_worker_sessions", "gauge", "sessions", ("worker",), "Sessions this worker owns"
    )
    WORKER_CAPACITY = Metric(
        "voice_worker_capacity",
        "gauge",
        "sessions",
        ("worker",),
        "Sessions this worker can own at once (NOVA_MAX_SESSIONS)",
        "sum(sessions) / sum(capacity) above 80 %",
    )
    WORKER_CLAIMS = Metric(
        "voice_worker_claims_total", "counter", "", ("outcome",), "Session start requests, by outcome"
    )
    EDGE_SESSIONS = Metric("voice_edge_sessions", "gauge", "sessions", (), "Live WebSocket sessions")
    EDGE_PLACEMENTS = Metric(
        "voice_edge_placements_total",
        "counter",
        "",
        ("outcome",),
        "Connections by placement outcome (placed, no_worker, auth_refused, auth_unavailable, "
        "resumed, resume_refused)",
        "no_worker or auth_unavailable above 0 for 5 minutes",
    )
    EDGE_REFUSALS = Metric(
        "voice_edge_refusals_total", "counter", "", ("reason",), "Connections refused, by reason"
    )
    AUTH_VALIDATIONS = Metric(
        "voice_auth_validations_total",
        "counter",
        "",
        ("scheme", "outcome"),
        "Credentials validated, by scheme and outcome (ok or the refusal)",
    )
    AUTH_VALIDATION_DURATION = Metric(
        "voice_auth_validation_duration_seconds",
        "histogram",
        "seconds",
        ("scheme",),
        "Time to validate one credential inside the auth service",
    )
    CONSUMER_LAG = Metric(
        "voice_consumer_lag_messages",
        "gauge",
        "messages",
        ("consumer",),
        "Records of VOICE_RECORDS a durable consumer has not acknowledged yet",
        "above 1000 for 10 minutes (the consumer falls behind)",
    )
    TRANSCRIPTS_RECORDS = Metric(
        "voice_transcripts_records_total", "counter", "", ("kind",), "Records committed, by kind"
    )
    TRANSCRIPTS_UNDECODABLE = Metric(
        "voice_transcripts_undecodable_total", "counter", "", (), "Records that never decode"
    )
    BUS_DECODE_ERRORS = Metric(
        "voice_bus_decode_errors_total",
        "counter",
        "",
        ("channel", "service"),
        "Payloads that did not decode, by channel (a sender on another contract version)",
        "any, after a deployment",
    )
    BUS_HANDLER_ERRORS = Metric(
        "voice_bus_handler_errors_total", "counter", "", ("channel", "service"), "Bus handlers that raised"
    )
    RECORDINGS_STORED = Metric(
        "voice_recordings_stored_total", "counter", "", ("storage",), "Recordings stored, by storage"
    )
    RECORDINGS_AUDIO_SECONDS = Metric(
        "voice_recordings_audio_seconds_total", "counter", "seconds", (), "Seconds of audio recorded"
    )
    RECORDINGS_DROPPED = Metric(
        "voice_recordings_dropped_total",
        "counter",
        "",
        ("reason",),
        "Sessions not recorded, by reason (unauthorised, opted_out, ...)",
    )
    BEDROCK_TOKENS = Metric(
        "voice_nova_bedrock_tokens_total", "counter", "", ("direction",), "Model tokens, by direction"
    )
    BEDROCK_SESSION_TOKENS = Metric(
        "voice_nova_bedrock_session_tokens",
        "histogram",
        "tokens",
        ("direction",),
        "Model tokens one session used, by direction",
    )
    BEDROCK_STREAMS = Metric(
        "voice_nova_bedrock_streams_total",
        "counter",
        "",
        ("reason",),
        "Model streams opened, by reason (start, retry, rotation)",
    )
    BEDROCK_STREAM_FAILURES = Metric(
        "voice_nova_bedrock_stream_failures_total",
        "counter",
        "",
        ("code", "retried"),
        "Model streams that failed, by code and whether retried",
        "any not retried (retried=false) in 5 minutes",
    )

    @classmethod
    def all(cls) -> list[Metric]:
        return [value for value in vars(cls).values() if isinstance(value, Metric)]
