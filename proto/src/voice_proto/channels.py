"""The subjects of the bus, each bound to its payload type and codec.

A service never spells a subject: it asks a channel for it (``IN_AUDIO.subject(sid)``) and
publishes or subscribes through :mod:`voice_proto.bus`, which encodes and decodes with the
channel's codec. The AsyncAPI document is generated from this table.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from . import messages as m

SESSION_PARAM = "sessionId"
_SESSION_TOKEN = "{" + SESSION_PARAM + "}"

#: Session ids become a subject token, so they must not hold dots, wildcards or spaces;
#: the length floor keeps them clear of fixed tokens such as ``voice.sessions``.
SESSION_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

#: Queue groups: one member answers each request.
WORKERS_QUEUE: Final = "voice-workers"
AUTH_QUEUE: Final = "voice-auth"


class ProtoDecodeError(ValueError):
    """A payload that is not a valid message of its channel (bad bytes, wrong shape, newer version)."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"undecodable payload on {subject}: {reason}")
        self.subject = subject
        self.reason = reason


class InvalidSessionId(ValueError):
    pass


def check_session_id(session_id: str) -> str:
    if not SESSION_ID_PATTERN.match(session_id):
        raise InvalidSessionId("session id must be 16-64 characters of A-Z a-z 0-9 _ -")
    return session_id


@dataclass(frozen=True, eq=False)
class Channel[T]:
    """One subject (or subject family) and the payload it carries."""

    name: str
    address: str
    payload: Any
    summary: str
    sender: str
    receivers: str
    #: For request/reply channels, the payload type of the reply.
    reply: Any = None
    queue_group: str | None = None
    #: Captured by the durable JetStream stream (see voice_proto.streams).
    durable: bool = False
    _encoder: msgspec.msgpack.Encoder = field(default_factory=msgspec.msgpack.Encoder, repr=False)
    _decoder: msgspec.msgpack.Decoder[Any] = field(init=False, repr=False)
    _reply_decoder: msgspec.msgpack.Decoder[Any] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_decoder", msgspec.msgpack.Decoder(self.payload))
        reply_decoder = msgspec.msgpack.Decoder(self.reply) if self.reply is not None else None
        object.__setattr__(self, "_reply_decoder", reply_decoder)

    @property
    def per_session(self) -> bool:
        return _SESSION_TOKEN in self.address

    def subject(self, session_id: str | None = None) -> str:
        if not self.per_session:
            return self.address
        if session_id is None:
            raise InvalidSessionId(f"{self.name} needs a session id")
        return _session_subject(self.address, session_id)

    def session_of(self, subject: str) -> str | None:
        """The session id in ``subject`` when it is one of this channel's subjects, else None."""
        if not self.per_session:
            return None
        prefix, _, suffix = self.address.partition(_SESSION_TOKEN)
        if not (subject.startswith(prefix) and subject.endswith(suffix)):
            return None
        session_id = subject[len(prefix) : len(subject) - len(suffix)]
        return session_id if SESSION_ID_PATTERN.match(session_id) else None

    def wildcard(self) -> str:
        """The subject with every session replaced by ``*`` (for taps and streams)."""
        return self.address.replace(_SESSION_TOKEN, "*")

    def encode(self, message: T) -> bytes:
        return self._encoder.encode(message)

    def decode(self, data: bytes, subject: str = "") -> T:
        message: T = _checked(self._decoder, data, subject or self.address)
        return message

    def encode_reply(self, message: Any) -> bytes:
        return self._encoder.encode(message)

    def decode_reply(self, data: bytes) -> Any:
        if self._reply_decoder is None:
            raise TypeError(f"{self.name} has no reply")
        return _checked(self._reply_decoder, data, f"reply to {self.address}")


@functools.lru_cache(maxsize=8192)
def _session_subject(address: str, session_id: str) -> str:
    # Cached: every audio frame needs its subject, and live sessions are few.
    return address.replace(_SESSION_TOKEN, check_session_id(session_id))


def _checked(decoder: msgspec.msgpack.Decoder[Any], data: bytes, subject: str) -> Any:
    try:
        message = decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise ProtoDecodeError(subject, str(exc)) from None
    if message.v > m.SCHEMA_VERSION:
        raise ProtoDecodeError(subject, f"schema version {message.v} is newer than {m.SCHEMA_VERSION}")
    return message


SESSIONS_START: Final = Channel[m.SessionStart](
    name="sessionsStart",
    address="voice.sessions.start",
    payload=m.SessionStart,
    reply=m.SessionClaim,
    queue_group=WORKERS_QUEUE,
    summary="Ask a worker to own a session; a worker with room replies with its claim. "
    "A worker at capacity leaves the queue group, and refuses if asked in the meantime.",
    sender="edge",
    receivers="nova (queue group)",
)

IN_AUDIO: Final = Channel[m.AudioIn](
    name="inAudio",
    address=f"voice.{_SESSION_TOKEN}.in.audio",
    payload=m.AudioIn,
    summary="Microphone audio, PCM16LE mono 16 kHz, with a per-session sequence number.",
    sender="edge",
    receivers="nova (the session's owner)",
)

IN_TEXT: Final = Channel[m.TextIn](
    name="inText",
    address=f"voice.{_SESSION_TOKEN}.in.text",
    payload=m.TextIn,
    summary="Text the user typed.",
    sender="edge",
    receivers="nova (the session's owner)",
)

IN_CONTROL: Final = Channel[m.Control](
    name="inControl",
    address=f"voice.{_SESSION_TOKEN}.in.control",
    payload=m.Control,
    reply=m.ControlReply,
    summary="End of utterance, hang-up, client gone, keepalive from the edge, superseded owner; "
    "resume is a request the owner answers.",
    sender="edge",
    receivers="nova (the session's owner)",
)

OUT_AUDIO: Final = Channel[m.AudioOut](
    name="outAudio",
    address=f"voice.{_SESSION_TOKEN}.out.audio",
    payload=m.AudioOut,
    summary="Assistant speech, PCM16LE mono 24 kHz, with its turn id and a sequence number.",
    sender="nova",
    receivers="edge",
)

OUT_EVENT: Final = Channel[m.OutEvent](
    name="outEvent",
    address=f"voice.{_SESSION_TOKEN}.out.event",
    payload=m.OutEvent,
    summary="Interruption, turn start/end, tool call, usage, error, heartbeat, handover, resume.",
    sender="nova",
    receivers="edge",
)

TRANSCRIPT: Final = Channel[m.Transcript](
    name="transcript",
    address=f"voice.{_SESSION_TOKEN}.transcript",
    payload=m.Transcript,
    summary="What the user and the assistant said: role, text, SPECULATIVE or FINAL, turn id.",
    sender="nova",
    receivers="edge, transcripts, any subscriber",
    durable=True,
)

LIFECYCLE: Final = Channel[m.Lifecycle](
    name="lifecycle",
    address=f"voice.{_SESSION_TOKEN}.lifecycle",
    payload=m.Lifecycle,
    summary="Session started, handed over, suspended, resumed, ended (with the reason).",
    sender="nova, edge",
    receivers="transcripts, any subscriber",
    durable=True,
)

AUTH_VALIDATE: Final = Channel[m.ValidateRequest](
    name="authValidate",
    address="auth.validate",
    payload=m.ValidateRequest,
    reply=m.ValidateReply,
    queue_group=AUTH_QUEUE,
    summary="Check a credential; the reply carries the principal and expiry, or a reason code.",
    sender="edge, transcripts",
    receivers="auth (queue group)",
)

AUTH_DEV_TOKEN: Final = Channel[m.DevTokenRequest](
    name="authDevToken",
    address="auth.dev.token",
    payload=m.DevTokenRequest,
    reply=m.DevTokenReply,
    queue_group=AUTH_QUEUE,
    summary="Development sign-in: a short-lived JWT from the dev issuer for a local user name. "
    "Refused with reason `disabled` unless the dev issuer is on.",
    sender="edge (POST /api/dev/token)",
    receivers="auth (queue group)",
)

AUTH_CONFIG: Final = Channel[m.SignInConfigRequest](
    name="authConfig",
    address="auth.config",
    payload=m.SignInConfigRequest,
    reply=m.SignInConfig,
    queue_group=AUTH_QUEUE,
    summary="Which sign-in modes exist (API keys, dev issuer, OpenID Connect) and how to reach them.",
    sender="edge (GET /api/config)",
    receivers="auth (queue group)",
)

ALL_CHANNELS: Final[tuple[Channel[Any], ...]] = (
    SESSIONS_START,
    IN_AUDIO,
    IN_TEXT,
    IN_CONTROL,
    OUT_AUDIO,
    OUT_EVENT,
    TRANSCRIPT,
    LIFECYCLE,
    AUTH_VALIDATE,
    AUTH_DEV_TOKEN,
    AUTH_CONFIG,
)
