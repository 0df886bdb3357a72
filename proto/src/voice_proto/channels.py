"""The subjects of the bus, each bound to its payload type and codec.

A service never spells a subject: it asks a channel for it (``IN_AUDIO.subject(sid)``) and
publishes or subscribes through :mod:`voice_proto.bus`, which encodes and decodes with the
channel's codec. The AsyncAPI document is generated from this table.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum
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


class Service(StrEnum):
    """Who is on the bus: each service connects with its own NATS user, whose permissions
    (voice_proto.permissions) are derived from the senders and receivers of this table."""

    EDGE = "edge"
    NOVA = "nova"
    AUTH = "auth"
    TRANSCRIPTS = "transcripts"
    #: The recorder (services/recordings): reads the audio stream and the records stream.
    RECORDINGS = "recordings"
    #: The example subscriber (examples/analytics): a team's own reader of the records stream.
    ANALYTICS = "analytics"


def inbox_prefix(name: str) -> str:
    """The reply inbox prefix of a connection named ``name``: a service's replies come to its own,
    which no other service may subscribe to (voice_proto.permissions)."""
    return f"_INBOX.{name}"


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
    #: Who publishes (or requests) on it.
    senders: tuple[Service, ...]
    #: Who subscribes to it on core NATS (readers of the records stream are not listed here: they
    #: read ``durable`` channels through JetStream).
    receivers: tuple[Service, ...]
    #: For request/reply channels, the payload type of the reply.
    reply: Any = None
    queue_group: str | None = None
    #: Captured by the durable JetStream stream (see voice_proto.streams).
    durable: bool = False
    #: Captured by the audio stream of the recorder (``VOICE_AUDIO``, voice_proto.streams), when
    #: recordings are on.
    recorded: bool = False
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

    def describe_parties(self) -> str:
        """Who sends and who receives, in words (for the AsyncAPI document)."""
        receivers = ", ".join(self.receivers) or "nobody on core NATS"
        if self.queue_group:
            receivers += f" (queue group {self.queue_group})"
        elif self.per_session and Service.NOVA in self.receivers:
            receivers += " (the session's owner)"
        if self.durable:
            receivers += "; captured by the records stream for any subscriber"
        if self.recorded:
            receivers += "; captured by the audio stream when recordings are on"
        return f"Sent by {', '.join(self.senders)}; received by {receivers}."

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


def covering_wildcard(subjects: list[str]) -> str:
    """The narrowest subject that covers all of ``subjects``: their common leading tokens plus
    ``>`` (or the one subject itself). A subscription to several channels of a session uses it, so
    a NATS user allowed to receive those channels is allowed this wildcard too."""
    if len(subjects) == 1:
        return subjects[0]
    common: list[str] = []
    for tokens in zip(*(s.split(".") for s in subjects), strict=False):
        if len(set(tokens)) != 1:
            break
        common.append(tokens[0])
    return ".".join([*common, ">"])


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
    senders=(Service.EDGE,),
    receivers=(Service.NOVA,),
)

IN_AUDIO: Final = Channel[m.AudioIn](
    name="inAudio",
    address=f"voice.{_SESSION_TOKEN}.in.audio",
    payload=m.AudioIn,
    summary="Microphone audio, PCM16LE mono 16 kHz, with a per-session sequence number.",
    senders=(Service.EDGE,),
    receivers=(Service.NOVA,),
    recorded=True,
)

IN_TEXT: Final = Channel[m.TextIn](
    name="inText",
    address=f"voice.{_SESSION_TOKEN}.in.text",
    payload=m.TextIn,
    summary="Text the user typed.",
    senders=(Service.EDGE,),
    receivers=(Service.NOVA,),
)

IN_CONTROL: Final = Channel[m.Control](
    name="inControl",
    address=f"voice.{_SESSION_TOKEN}.in.control",
    payload=m.Control,
    reply=m.ControlReply,
    summary="End of utterance, hang-up, client gone, keepalive from the edge, superseded owner; "
    "resume is a request the owner answers. A worker that takes a session over sends SUPERSEDED "
    "to the previous owner.",
    senders=(Service.EDGE, Service.NOVA),
    receivers=(Service.NOVA,),
)

OUT_AUDIO: Final = Channel[m.AudioOut](
    name="outAudio",
    address=f"voice.{_SESSION_TOKEN}.out.audio",
    payload=m.AudioOut,
    summary="Assistant speech, PCM16LE mono 24 kHz, with its turn id and a sequence number.",
    senders=(Service.NOVA,),
    receivers=(Service.EDGE,),
    recorded=True,
)

OUT_EVENT: Final = Channel[m.OutEvent](
    name="outEvent",
    address=f"voice.{_SESSION_TOKEN}.out.event",
    payload=m.OutEvent,
    summary="Interruption, turn start/end, tool call, usage, error, heartbeat, handover, resume.",
    senders=(Service.NOVA,),
    receivers=(Service.EDGE,),
    recorded=True,
)

TRANSCRIPT: Final = Channel[m.Transcript](
    name="transcript",
    address=f"voice.{_SESSION_TOKEN}.transcript",
    payload=m.Transcript,
    summary="What the user and the assistant said: role, text, SPECULATIVE or FINAL, turn id.",
    senders=(Service.NOVA,),
    receivers=(Service.EDGE,),
    durable=True,
)

LIFECYCLE: Final = Channel[m.Lifecycle](
    name="lifecycle",
    address=f"voice.{_SESSION_TOKEN}.lifecycle",
    payload=m.Lifecycle,
    summary="Session started, handed over, suspended, resumed, ended (with the reason).",
    senders=(Service.NOVA, Service.EDGE),
    receivers=(),
    durable=True,
)

AUTH_VALIDATE: Final = Channel[m.ValidateRequest](
    name="authValidate",
    address="auth.validate",
    payload=m.ValidateRequest,
    reply=m.ValidateReply,
    queue_group=AUTH_QUEUE,
    summary="Check a credential; the reply carries the principal and expiry, or a reason code.",
    senders=(Service.EDGE, Service.TRANSCRIPTS, Service.RECORDINGS, Service.ANALYTICS),
    receivers=(Service.AUTH,),
)

AUTH_DEV_TOKEN: Final = Channel[m.DevTokenRequest](
    name="authDevToken",
    address="auth.dev.token",
    payload=m.DevTokenRequest,
    reply=m.DevTokenReply,
    queue_group=AUTH_QUEUE,
    summary="Development sign-in: a short-lived JWT from the dev issuer for a local user name. "
    "Refused with reason `disabled` unless the dev issuer is on.",
    senders=(Service.EDGE,),
    receivers=(Service.AUTH,),
)

AUTH_CONFIG: Final = Channel[m.SignInConfigRequest](
    name="authConfig",
    address="auth.config",
    payload=m.SignInConfigRequest,
    reply=m.SignInConfig,
    queue_group=AUTH_QUEUE,
    summary="Which sign-in modes exist (API keys, dev issuer, OpenID Connect) and how to reach them.",
    senders=(Service.EDGE,),
    receivers=(Service.AUTH,),
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
