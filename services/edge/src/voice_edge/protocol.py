"""The browser protocol of ``/ws``: offered subprotocols, client messages, server events, codes.

Two subprotocols: ``voice.v1`` (JSON text frames, audio base64) and ``voice.v1.binary`` (audio as
binary frames both ways, everything else JSON text). The credential travels as another offered
subprotocol because browsers cannot set headers on a WebSocket; it is never echoed back.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

import msgspec
from voice_proto import messages as m
from voice_proto.auth import UNAVAILABLE_REASONS, Credential

JSON_PROTOCOL = "voice.v1"
BINARY_PROTOCOL = "voice.v1.binary"
PROTOCOLS = (JSON_PROTOCOL, BINARY_PROTOCOL)


class Close(IntEnum):
    """WebSocket close codes the edge uses."""

    NORMAL = 1000
    POLICY_VIOLATION = 1008  # too many bad messages
    TOO_BIG = 1009  # a frame over the size limit
    INTERNAL_ERROR = 1011  # the session failed on the server
    SERVICE_RESTART = 1012  # the edge is shutting down: reconnect (and resume)
    TRY_AGAIN_LATER = 1013  # no worker, or auth unavailable
    BAD_OFFER = 4400  # no usable subprotocol, or a malformed session id
    UNAUTHORIZED = 4401  # the credential was refused (or missing)
    RESUME_REFUSED = 4403  # wrong or expired resume token, or the session is gone
    TAKEN_OVER = 4409  # the session was resumed by another connection
    RATE_LIMITED = 4429  # audio faster than real time, or too many failed sign-ins from this address
    AUTH_EXPIRED = 4440  # the credential expired (or was revoked) and no fresh token came in time


class ErrorCode(StrEnum):
    """Stable codes of ``{"event":"error"}``; clients may switch on them."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    BAD_BASE64 = "bad_base64"
    ODD_PCM_LENGTH = "odd_pcm_length"
    TEXT_TOO_LONG = "text_too_long"
    UNEXPECTED_BINARY = "unexpected_binary"
    FRAME_TOO_LARGE = "frame_too_large"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ERRORS = "too_many_errors"
    NO_WORKER = "no_worker"
    WORKER_LOST = "worker_lost"
    SESSION_FAILED = "session_failed"
    AUTH_EXPIRED = "auth_expired"
    AUTH_REFUSED = "auth_refused"
    AUTH_UNAVAILABLE = "auth_unavailable"


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- the offer ------------------------------------------------------------------------------


class CredentialKind(StrEnum):
    API_KEY = "key"
    BEARER = "bearer"


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


# --- client -> server -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientAudio:
    pcm: bytes
    end_of_utterance: bool = False


@dataclass(frozen=True, slots=True)
class ClientText:
    text: str


@dataclass(frozen=True, slots=True)
class ClientEnd:
    pass


@dataclass(frozen=True, slots=True)
class ClientAuth:
    token: str


type ClientMessage = ClientAudio | ClientText | ClientEnd | ClientAuth

_json_decoder = msgspec.json.Decoder()


def check_pcm(pcm: bytes) -> bytes:
    if len(pcm) % 2:
        raise ProtocolError(ErrorCode.ODD_PCM_LENGTH, "PCM16 audio needs an even number of bytes")
    return pcm


def parse_text_frame(raw: str, *, max_text_chars: int) -> ClientMessage:
    try:
        data: Any = _json_decoder.decode(raw)
    except msgspec.DecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message is a JSON object with a `type`")
    kind = data.get("type")
    if kind == "audio":
        return _parse_audio(data)
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "`text` must be a non-empty string")
        if len(text) > max_text_chars:
            raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"text is limited to {max_text_chars} characters")
        return ClientText(text)
    if kind == "end":
        return ClientEnd()
    if kind == "auth":
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "`token` must be a non-empty string")
        return ClientAuth(token)
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message needs a string `type`")
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}")


def _parse_audio(data: dict[str, Any]) -> ClientAudio:
    end_of_utterance = data.get("endOfUtterance", False)
    if not isinstance(end_of_utterance, bool):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "`endOfUtterance` must be true or false")
    encoded = data.get("data", "")
    if not isinstance(encoded, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "`data` must be base64 text")
    if not encoded and not end_of_utterance:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "`data` is missing")
    try:
        pcm = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(ErrorCode.BAD_BASE64, "`data` is not valid base64") from None
    return ClientAudio(check_pcm(pcm), end_of_utterance)


# --- server -> client -------------------------------------------------------------------------

_json_encoder = msgspec.json.Encoder()


def render(event: str, **fields: Any) -> str:
    return _json_encoder.encode({"event": event, **fields}).decode()


def media_event(pcm: bytes) -> str:
    # Built by hand: it is the hot path, and base64 never needs JSON escaping.
    return '{"event":"media","data":"' + base64.b64encode(pcm).decode("ascii") + '"}'


def session_event(session_id: str, resume_token: str, expires_at: float = 0.0) -> str:
    """``expiresAt``: when the session's bearer token expires (absent for API keys)."""
    fields: dict[str, Any] = {"expiresAt": expires_at} if expires_at else {}
    return render(
        "session",
        sessionId=session_id,
        resumeToken=resume_token,
        inputRate=m.INPUT_RATE,
        outputRate=m.OUTPUT_RATE,
        **fields,
    )


def auth_event(state: str, expires_at: float) -> str:
    """``expiring``: send ``{"type":"auth","token":...}`` before ``expiresAt``; ``refreshed``: done."""
    return render("auth", state=state, expiresAt=expires_at)


def refusal_close(reason: str) -> tuple[int, str]:
    """The close code and reason for a refused credential: the client's fault, or the server's."""
    if reason == "rate_limited":
        return Close.RATE_LIMITED, "too many failed sign-ins"
    if reason in UNAVAILABLE_REASONS:
        return Close.TRY_AGAIN_LATER, "authentication unavailable"
    return Close.UNAUTHORIZED, f"unauthorized: {reason or 'refused'}"


def error_event(code: ErrorCode | str, message: str) -> str:
    return render("error", code=str(code), message=message)


def transcript_event(t: m.Transcript) -> str:
    return render(
        "transcript",
        turnId=t.turn_id,
        role=t.role.value.lower(),
        text=t.text,
        stage=t.stage.value.lower(),
        interrupted=t.interrupted,
    )


def out_event(event: m.OutEvent) -> str | None:
    """The client's view of a worker event (None: not for the client)."""
    match event:
        case m.Interrupted():
            return render("stop", turnId=event.turn_id)
        case m.TurnStarted():
            return render("turn", turnId=event.turn_id, role=event.role.value.lower(), state="started")
        case m.TurnEnded():
            return render(
                "turn",
                turnId=event.turn_id,
                role=event.role.value.lower(),
                state="ended",
                reason=event.reason,
            )
        case m.ToolCall():
            return render(
                "tool",
                turnId=event.turn_id,
                callId=event.call_id,
                name=event.name,
                status=event.status,
                arguments=event.arguments,
                result=event.result,
            )
        case m.Usage():
            return render("usage", inputTokens=event.input_tokens, outputTokens=event.output_tokens)
        case m.ErrorEvent():
            return error_event(event.code, event.message)
    return None
