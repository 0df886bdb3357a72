"""The browser protocol of ``/ws``, as types: offered subprotocols, client messages, server events.

Two subprotocols: ``voice.v1`` (JSON text frames, audio base64) and ``voice.v1.binary`` (audio as
binary frames both ways, everything else JSON text); :mod:`voice_edge.codec` frames each. The
credential travels as another offered subprotocol because browsers cannot set headers on a
WebSocket; it is never echoed back.

Client messages are msgspec structs tagged by ``type``, server events structs tagged by ``event``,
with camelCase wire names. :mod:`voice_edge.schema` generates the JSON Schema the web app and the
test client are checked against (``web/src/net/protocol.schema.json``).
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from voice_proto import messages as m
from voice_proto.auth import Credential, Refusal, classify_refusal

from .codes import Close as Close
from .codes import ErrorCode as ErrorCode

JSON_PROTOCOL = "voice.v1"
BINARY_PROTOCOL = "voice.v1.binary"
PROTOCOLS = (JSON_PROTOCOL, BINARY_PROTOCOL)


class ProtocolError(Exception):
    """A client message the edge cannot take, as the ``error`` event's code and message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- the offer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """What the client offered: the protocol to speak, its credential, a resume token."""

    protocol: str
    credential: Credential | None
    resume_token: str = ""
    #: The subprotocol the server answers with: only ever one the client offered, never a secret
    #: (none for a client that offered only its key).
    selected: str | None = None


def parse_offer(offered: list[str]) -> Offer:
    """Read the offered subprotocols.

    ``key.<api-key>``, ``bearer.<jwt>`` and ``resume.<token>`` carry secrets. For compatibility with
    clients that send only their API key as the one subprotocol, a single offer that is none of
    the above and not ``voice.*`` is taken as an API key (and the protocol is ``voice.v1``).
    """
    protocol = ""
    credential: Credential | None = None
    resume_token = ""
    for item in offered:
        if item in PROTOCOLS:
            protocol = protocol or item
        elif item.startswith("key.") and len(item) > 4:
            credential = Credential(m.CredentialScheme.API_KEY, item[4:])
        elif item.startswith("bearer.") and len(item) > 7:
            credential = Credential(m.CredentialScheme.BEARER, item[7:])
        elif item.startswith("resume.") and len(item) > 7:
            resume_token = item[7:]
    if len(offered) == 1 and not protocol and credential is None and not resume_token:
        only = offered[0]
        if not only.startswith("voice."):
            return Offer(JSON_PROTOCOL, Credential(m.CredentialScheme.API_KEY, only))
    return Offer(protocol, credential, resume_token, selected=protocol or None)


def refusal_close(reason: str) -> tuple[int, str]:
    """The close code and reason for a refused credential: the client's fault, or the server's."""
    match classify_refusal(reason):
        case Refusal.RATE_LIMITED:
            return Close.RATE_LIMITED, "too many failed sign-ins"
        case Refusal.UNAVAILABLE:
            return Close.TRY_AGAIN_LATER, "authentication unavailable"
    return Close.UNAUTHORIZED, f"unauthorized: {reason or 'refused'}"


# --- client -> server -------------------------------------------------------------------------


class ClientAudio(msgspec.Struct, tag="audio", tag_field="type", rename="camel", frozen=True):
    """Microphone audio, PCM16LE mono 16 kHz; `data` may be empty when `endOfUtterance` is true."""

    pcm: Annotated[bytes, Meta(description="base64 PCM16LE (binary frames on voice.v1.binary)")] = (
        msgspec.field(default=b"", name="data")
    )
    end_of_utterance: Annotated[bool, Meta(description="the user finished speaking")] = False


class ClientText(msgspec.Struct, tag="text", tag_field="type", frozen=True):
    """Typed instead of spoken."""

    text: Annotated[
        str, Meta(pattern=r"\S", description="not blank; at most EDGE_MAX_TEXT_CHARS (2000) characters")
    ]


class ClientEnd(msgspec.Struct, tag="end", tag_field="type", frozen=True):
    """End the session (the server closes with 1000)."""


class ClientAuth(msgspec.Struct, tag="auth", tag_field="type", frozen=True):
    """A fresh token for the same principal, sent before the current one expires."""

    token: Annotated[str, Meta(min_length=1, description="a JWT")]


class ClientPlayed(msgspec.Struct, tag="played", tag_field="type", rename="camel", frozen=True):
    """After a `stop`: how much of the interrupted turn's audio was played before the flush, so
    that the turn's final transcript holds only what the person heard."""

    turn_id: Annotated[int, Meta(ge=0, description="the turn of the `stop`")]
    played_ms: Annotated[float, Meta(ge=0, description="milliseconds of the turn's audio played")]


type ClientMessage = ClientAudio | ClientText | ClientEnd | ClientAuth | ClientPlayed

_client_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)


def check_pcm(pcm: bytes) -> bytes:
    if len(pcm) % 2:
        raise ProtocolError(ErrorCode.ODD_PCM_LENGTH, "PCM16 audio needs an even number of bytes")
    return pcm


def parse_text_frame(raw: str, *, max_text_chars: int) -> ClientMessage:
    """A JSON text frame as a client message; raises ProtocolError with the stable code."""
    try:
        message = _client_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise ProtocolError(_validation_code(str(exc)), str(exc)) from None
    except msgspec.DecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
    if isinstance(message, ClientAudio):
        if not message.pcm and not message.end_of_utterance:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "`data` is missing")
        check_pcm(message.pcm)
    elif isinstance(message, ClientText):
        if len(message.text) > max_text_chars:
            raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"text is limited to {max_text_chars} characters")
        text = normalize_text(message.text)
        if not text:
            raise ProtocolError(ErrorCode.EMPTY_TEXT, "the text is empty once normalised")
        return ClientText(text)
    return message


#: Unicode categories that never reach an engine: control characters (NUL, escape, ...) become a
#: space; surrogates, private-use and unassigned code points are dropped.
_SPACE_CATEGORIES = frozenset({"Cc"})
_DROPPED_CATEGORIES = frozenset({"Cs", "Co", "Cn"})


def normalize_text(text: str) -> str:
    """Typed text as every engine gets it, decided once here: NFC, control characters as spaces,
    surrogate/private-use/unassigned code points removed, runs of whitespace (any Unicode space,
    line and paragraph separators included) as one space, no space at either end. May be empty.
    Format characters (zero-width joiners of emoji, soft hyphens) are kept."""
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():  # the common case skips the per-character pass
        kept = []
        for char in text:
            category = unicodedata.category(char)
            if category in _SPACE_CATEGORIES:
                kept.append(" ")
            elif category not in _DROPPED_CATEGORIES:
                kept.append(char)
        text = "".join(kept)
    return " ".join(text.split())


def _validation_code(error: str) -> ErrorCode:
    """The stable code for msgspec's validation error, from what it names: an unknown tag, or
    undecodable base64 (its messages end with the path, e.g. ``- at `$.type```)."""
    if error.startswith("Invalid value") and error.endswith("- at `$.type`"):
        return ErrorCode.UNKNOWN_TYPE
    if error.startswith("Invalid base64"):
        return ErrorCode.BAD_BASE64
    return ErrorCode.INVALID_MESSAGE


# --- server -> client -------------------------------------------------------------------------


type Role = Literal["user", "assistant"]
type Stage = Literal["speculative", "final"]

_ROLES: dict[m.Role, Role] = {m.Role.USER: "user", m.Role.ASSISTANT: "assistant"}
_STAGES: dict[m.Stage, Stage] = {m.Stage.SPECULATIVE: "speculative", m.Stage.FINAL: "final"}


class SessionEvent(msgspec.Struct, tag="session", tag_field="event", rename="camel"):
    """Always the first event: the session and how to resume it."""

    session_id: str
    resume_token: str
    input_rate: Annotated[int, Meta(description="Hz of the audio the client sends")]
    output_rate: Annotated[int, Meta(description="Hz of the audio the client gets")]
    capabilities: Annotated[
        list[str],
        Meta(
            description=(
                "What the session's engine does beyond speech: Capability values (a client ignores "
                "values it does not know; absent ones mean the engine cannot)"
            )
        ),
    ]
    expires_at: (
        Annotated[float, Meta(description="Unix seconds when the bearer token expires; absent for API keys")]
        | UnsetType
    ) = UNSET
    recorded: Annotated[
        bool, Meta(description="The conversation is recorded: the client shows it (audio and transcript)")
    ] = False


class AuthEvent(msgspec.Struct, tag="auth", tag_field="event", rename="camel"):
    """A bearer token's renewal: the client sends a fresh one before `expiresAt`."""

    state: Annotated[
        Literal["expiring", "refreshed"],
        Meta(description="expiring: renew before expiresAt; refreshed: the fresh token was taken"),
    ]
    expires_at: float


class MediaEvent(msgspec.Struct, tag="media", tag_field="event"):
    """Assistant audio, PCM16LE mono 24 kHz."""

    data: Annotated[bytes, Meta(description="base64 PCM16LE (binary frames on voice.v1.binary)")]


class StopEvent(msgspec.Struct, tag="stop", tag_field="event", rename="camel"):
    """The user interrupted: flush playback now. No audio of that turn follows."""

    turn_id: int


class TranscriptEvent(msgspec.Struct, tag="transcript", tag_field="event", rename="camel"):
    """What was said: speculative text until the final one."""

    turn_id: int
    role: Role
    text: str
    stage: Stage
    interrupted: bool


class TurnEvent(msgspec.Struct, tag="turn", tag_field="event", rename="camel"):
    """A turn started or ended."""

    turn_id: int
    role: Role
    state: Literal["started", "ended"]
    reason: Annotated[str, Meta(description="why it ended; only when ended")] | UnsetType = UNSET


class ToolEvent(msgspec.Struct, tag="tool", tag_field="event", rename="camel"):
    """A tool call of the assistant, as it starts and as it completes or fails."""

    turn_id: int
    call_id: str
    name: str
    status: Annotated[str, Meta(description="started, completed or failed")]
    arguments: Annotated[str, Meta(description="JSON text")]
    result: Annotated[str, Meta(description="JSON text; empty until the call is done")]


class UsageEvent(msgspec.Struct, tag="usage", tag_field="event", rename="camel"):
    """Tokens the model used since the last usage event."""

    input_tokens: int
    output_tokens: int


class ErrorEvent(msgspec.Struct, tag="error", tag_field="event"):
    """Something went wrong; the close table says whether the session goes on."""

    code: Annotated[str, Meta(description="an ErrorCode, or a code the engine reports")]
    message: str


type ServerEvent = (
    SessionEvent
    | AuthEvent
    | MediaEvent
    | StopEvent
    | TranscriptEvent
    | TurnEvent
    | ToolEvent
    | UsageEvent
    | ErrorEvent
)

_encoder = msgspec.json.Encoder()


def encode(event: ServerEvent) -> str:
    """A server event as its JSON text frame."""
    return _encoder.encode(event).decode()


def media_event(pcm: bytes) -> str:
    """``encode(MediaEvent(pcm))``, built by hand: it is the hot path, and base64 never needs
    JSON escaping."""
    return '{"event":"media","data":"' + base64.b64encode(pcm).decode("ascii") + '"}'


def session_event(
    session_id: str,
    resume_token: str,
    capabilities: list[str],
    expires_at: float = 0.0,
    *,
    output_rate: int = m.OUTPUT_RATE,
    recorded: bool = False,
) -> str:
    """``capabilities``: the owning worker's (``Capability`` values); ``expiresAt``: when the
    session's bearer token expires (absent for API keys); ``output_rate``: Hz of the speech the
    session's engine sends (the worker's ``SessionClaim.output_rate``), what the client plays the
    ``media`` at; ``recorded``: the session is recorded."""
    return encode(
        SessionEvent(
            session_id,
            resume_token,
            m.INPUT_RATE,
            output_rate,
            capabilities=capabilities,
            expires_at=expires_at or UNSET,
            recorded=recorded,
        )
    )


def auth_event(state: Literal["expiring", "refreshed"], expires_at: float) -> str:
    """``expiring``: send ``{"type":"auth","token":...}`` before ``expiresAt``; ``refreshed``: done."""
    return encode(AuthEvent(state, expires_at))


def error_event(code: ErrorCode | str, message: str) -> str:
    return encode(ErrorEvent(str(code), message))


def transcript_event(t: m.Transcript) -> str:
    return encode(TranscriptEvent(t.turn_id, _ROLES[t.role], t.text, _STAGES[t.stage], t.interrupted))


def client_event(event: m.OutEvent) -> ServerEvent | None:
    """The client's view of a worker event (None: not for the client)."""
    match event:
        case m.Interrupted():
            return StopEvent(event.turn_id)
        case m.TurnStarted():
            return TurnEvent(event.turn_id, _ROLES[event.role], "started")
        case m.TurnEnded():
            return TurnEvent(event.turn_id, _ROLES[event.role], "ended", event.reason)
        case m.ToolCall():
            return ToolEvent(
                event.turn_id, event.call_id, event.name, event.status, event.arguments, event.result
            )
        case m.Usage():
            return UsageEvent(event.input_tokens, event.output_tokens)
        case m.ErrorEvent():
            return ErrorEvent(event.code, event.message)
    return None


def out_event(event: m.OutEvent) -> str | None:
    """:func:`client_event` as its text frame."""
    rendered = client_event(event)
    return None if rendered is None else encode(rendered)
