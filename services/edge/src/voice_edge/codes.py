"""The stable codes of the browser protocol: WebSocket close codes and ``error`` event codes.

Each code has a meaning, written once here; the JSON Schema of the protocol carries them to the
web app (``web/src/net/protocol.schema.json``), whose tests check that it handles every one.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Close(IntEnum):
    """WebSocket close codes the edge uses."""

    NORMAL = 1000
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_OFFER = 4400
    UNAUTHORIZED = 4401
    RESUME_REFUSED = 4403
    TAKEN_OVER = 4409
    RATE_LIMITED = 4429
    AUTH_EXPIRED = 4440

    @property
    def meaning(self) -> str:
        """When the edge closes with this code, and what the client should do."""
        return _CLOSE_MEANINGS[self]


_CLOSE_MEANINGS = {
    Close.NORMAL: 'After {"type":"end"}: the session ended.',
    Close.POLICY_VIOLATION: "Too many bad messages (EDGE_MAX_ERRORS_PER_MINUTE): fix the client.",
    Close.TOO_BIG: "A frame over the size limit, after an error event: send smaller frames.",
    Close.INTERNAL_ERROR: "The session failed on the server, after an error event: start a new session.",
    Close.SERVICE_RESTART: (
        "The edge is restarting, or lost the bus for longer than EDGE_BUS_OUTAGE_LIMIT: reconnect with "
        "?session= and resume.<token>."
    ),
    Close.TRY_AGAIN_LATER: "No worker available, or auth unavailable: retry later with backoff.",
    Close.BAD_OFFER: "No voice.v1/voice.v1.binary offered, or a malformed session id: fix the client.",
    Close.UNAUTHORIZED: (
        "The credential was refused or missing (reason 'unauthorized: <reason code>'): sign in again."
    ),
    Close.RESUME_REFUSED: (
        "Resume refused: wrong or expired token, another principal, the session is gone, or it "
        "gave its place on a full worker to a live caller ('resume refused: evicted'): "
        "start a new session."
    ),
    Close.TAKEN_OVER: "The session was resumed by another connection.",
    Close.RATE_LIMITED: (
        "Audio faster than real time beyond the burst allowance (after an error event), or, at "
        "connect, too many failed sign-ins from this address: pace audio in real time; wait "
        "before signing in again."
    ),
    Close.AUTH_EXPIRED: (
        "The credential expired mid-session and no fresh token came (after an error event "
        "auth_expired); the session has ended: sign in again and start a new session."
    ),
}


class ErrorCode(StrEnum):
    """Stable codes of ``{"event":"error"}``; clients may switch on them."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    BAD_BASE64 = "bad_base64"
    ODD_PCM_LENGTH = "odd_pcm_length"
    TEXT_TOO_LONG = "text_too_long"
    EMPTY_TEXT = "empty_text"
    TEXT_RATE_LIMITED = "text_rate_limited"
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

    @property
    def meaning(self) -> str:
        """What went wrong, and what follows."""
        return _ERROR_MEANINGS[self]


_ERROR_MEANINGS = {
    ErrorCode.INVALID_JSON: "A text frame that is not JSON.",
    ErrorCode.INVALID_MESSAGE: "A JSON message that is not a valid client message (the message says why).",
    ErrorCode.UNKNOWN_TYPE: "A client message whose type the edge does not know.",
    ErrorCode.BAD_BASE64: "Audio data that is not valid base64.",
    ErrorCode.ODD_PCM_LENGTH: "Audio of an odd number of bytes (PCM16 has two per sample).",
    ErrorCode.TEXT_TOO_LONG: "Typed text longer than EDGE_MAX_TEXT_CHARS.",
    ErrorCode.EMPTY_TEXT: (
        "Typed text with no words once normalised (control characters removed, whitespace collapsed)."
    ),
    ErrorCode.TEXT_RATE_LIMITED: (
        "Typed text faster than EDGE_TEXT_PER_MINUTE beyond EDGE_TEXT_BURST: that text is dropped; "
        "it counts as a bad message."
    ),
    ErrorCode.UNEXPECTED_BINARY: "A binary frame on voice.v1 (binary audio needs voice.v1.binary).",
    ErrorCode.FRAME_TOO_LARGE: "A frame over EDGE_MAX_FRAME_BYTES; the edge closes with 1009.",
    ErrorCode.RATE_LIMITED: "Audio faster than real time beyond the burst allowance; then 4429.",
    ErrorCode.TOO_MANY_ERRORS: "Too many bad messages; the edge closes with 1008.",
    ErrorCode.NO_WORKER: "Reserved, not sent today: a session no worker takes is closed with 1013.",
    ErrorCode.WORKER_LOST: "The session's worker stopped and no other took it; the edge closes with 1013.",
    ErrorCode.SESSION_FAILED: "Reserved, not sent today: a failed session gets the engine's code and 1011.",
    ErrorCode.AUTH_EXPIRED: "The credential expired and no fresh token came; the edge closes with 4440.",
    ErrorCode.AUTH_REFUSED: (
        'A {"type":"auth"} token was refused or names another principal; the session goes on '
        "under its current credential."
    ),
    ErrorCode.AUTH_UNAVAILABLE: "The token could not be checked now: send it again.",
}
