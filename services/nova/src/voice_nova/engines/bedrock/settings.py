"""Settings of the Nova Sonic engine (``NOVA_BEDROCK_*``), apart from the worker's own.

Credentials are never settings: the SDK takes them from the standard AWS chain (environment,
profile, web identity, container or instance credentials). The region falls back to
``AWS_REGION``, and the endpoint to ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (how tests reach the
emulator).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

NOVA_2_SONIC = "amazon.nova-2-sonic-v1:0"
NOVA_SONIC_V1 = "amazon.nova-sonic-v1:0"

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly voice assistant. Keep your answers short and conversational: two or three "
    "sentences, no lists or markdown, because everything you write is spoken aloud."
)


class Sensitivity(StrEnum):
    """How soon Nova 2 takes its turn after the user pauses (HIGH about 1.5 s, LOW about 2 s)."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class BedrockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOVA_BEDROCK_", extra="ignore", env_ignore_empty=True)

    model_id: str = NOVA_2_SONIC
    #: Unset: ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the profile, else us-east-1.
    region: str | None = None
    voice: str = "matthew"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = Field(default=1024, ge=1, le=10_000)
    top_p: float = Field(default=0.9, ge=0, le=1)
    temperature: float = Field(default=0.7, ge=0, le=1)
    #: Nova 2 only (v1 has no turn-detection control and rejects the field).
    endpointing_sensitivity: Sensitivity = Sensitivity.MEDIUM
    #: What the model is told, as interactive text, to speak first when a session opens (Nova 2).
    greeting_prompt: str = "Greet the user briefly and ask how you can help."

    #: Seconds after which a stream is replaced by a fresh one, before the model's 8-minute limit.
    rotate_after: float = Field(default=360.0, gt=0)
    #: Seconds of the user's latest audio replayed into the next stream at a hand-off.
    replay_seconds: float = Field(default=3.0, ge=0, le=10)
    #: Seconds a primed next stream may wait for a turn boundary before it is primed anew.
    next_stream_max_wait: float = Field(default=25.0, gt=0)

    #: Reopenings of a failed stream in a row before the session is given up.
    max_retries: int = Field(default=3, ge=0)
    retry_base_delay: float = Field(default=0.5, ge=0)
    retry_max_delay: float = Field(default=8.0, ge=0)
    #: A stream that lived this long without failing resets the retry count.
    healthy_after: float = Field(default=20.0, gt=0)

    #: Seconds to wait for the response headers of a new stream.
    connect_timeout: float = Field(default=10.0, gt=0)
    #: Seconds an event may wait to be written before the stream is taken for dead.
    send_timeout: float = Field(default=5.0, gt=0)
    #: Seconds to let a stream answer our closing events before it is dropped.
    close_timeout: float = Field(default=2.0, gt=0)

    #: Milliseconds of audio per ``audioInput`` when silence is filled in (docs: about 32 ms).
    frame_ms: int = Field(default=32, ge=10, le=100)
    #: Milliseconds without client audio after which silence is sent in its place.
    silence_after_ms: int = Field(default=100, ge=20)

    #: Sessions per worker process: the default Bedrock quota is 20 concurrent streams per account.
    max_sessions: int = Field(default=20, ge=1)

    @property
    def is_nova_2(self) -> bool:
        return "nova-2-sonic" in self.model_id
