"""Every payload that travels on the bus, defined once.

Payloads are MessagePack maps. Each carries ``v``, the schema version: a consumer refuses a
message whose version is newer than the one it was built with (a breaking change bumps it;
adding an optional field does not, because decoders ignore fields they do not know).
Audio stays raw bytes (MessagePack ``bin``), never base64.

Reason and status codes are named by StrEnums (``ClaimRefusal``, ``EndReason``, ...) that producers
use, while the fields stay typed ``str``: a decoder must keep a code it does not know yet (msgspec
would refuse an unknown enum value), so adding a code never breaks an older consumer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

SCHEMA_VERSION = 1

#: Sample rates in Hz: what the browser sends (fixed by the contract), and what an engine speaks
#: unless it declares another (``SessionClaim.output_rate``, from the engine's factory).
INPUT_RATE = 16_000
OUTPUT_RATE = 24_000


def _codes(enum: type[StrEnum], what: str = "One of") -> msgspec.Meta:
    """The schema note of a string field whose values an enum names (the field stays a ``str``)."""
    return msgspec.Meta(description=f"{what}: {', '.join(member.value for member in enum)}.")


class Message(msgspec.Struct, kw_only=True):
    """Base of every payload: the schema version."""

    v: int = SCHEMA_VERSION


class Role(StrEnum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class Stage(StrEnum):
    """Nova Sonic's generation stage: SPECULATIVE is what the model plans to say, FINAL what was said."""

    SPECULATIVE = "SPECULATIVE"
    FINAL = "FINAL"


# --- session placement: voice.sessions.start -------------------------------------------------


class HistoryTurn(Message, kw_only=True):
    """One finished turn of the conversation, replayed to a new worker on handover."""

    role: Role
    text: str


class SessionStart(Message, kw_only=True):
    """Edge -> any worker (queue group): please own this session."""

    session_id: str
    principal: str
    roles: list[str] = []
    #: True when the session already ran on another worker that stopped answering.
    handover: bool = False
    #: On handover the session keeps the resume token the client already holds.
    resume_token: str = ""
    history: list[HistoryTurn] = []
    #: Speak first (a greeting) when the session opens; off on handover.
    greet: bool = True
    #: The id the session's next turn gets. Turn ids are unique for the session's whole life,
    #: across workers: on handover the edge sends one above the highest turn id it has seen (or
    #: the owner told it on resume), and the new worker numbers its turns from there.
    next_turn_id: int = 1
    #: The previous worker shut down before its last answer was over (that turn ended
    #: ``handover``): answer the user's last words in ``history`` again.
    answer_again: bool = False
    #: False when the user opted out of recording (where the operator allows it); the worker
    #: says so on the session's lifecycle, and the recorder keeps nothing of it.
    recorded: bool = True


class SessionState(Message, kw_only=True):
    """What a session needs to move to another edge or worker, kept under its session id in the
    replicated key-value bucket ``VOICE_SESSIONS`` (see ``voice_proto.session_state``); an edge's
    in-memory history is a cache of it."""

    principal: str
    #: The worker that owns the session ("" while none does).
    owner: str = ""
    #: The turn id the session's next turn takes (ids stay unique across moves).
    next_turn_id: int = 0
    history: list[HistoryTurn] = []
    #: SHA-256 (hex) of the resume token the client holds: enough to check a resume, useless to
    #: forge one.
    resume_token_hash: str = ""
    #: How far the client was sent its owner's events and transcripts (as ``Control.delivered_*``).
    delivered_event_seq: int = 0
    delivered_transcript_seq: int = 0
    #: Unix time in seconds of the write, from the writer's clock.
    updated_at: float = 0.0


class Capability(StrEnum):
    """What a worker's speech engine does beyond speech in and speech out."""

    #: It answers typed text (``voice.<sid>.in.text``).
    TEXT_INPUT = "text_input"
    #: It ends the user's turn when the client says so (``end_of_utterance`` control); without it
    #: the engine decides the end of a turn itself and the hint is ignored.
    CLIENT_ENDPOINTING = "client_endpointing"
    #: It calls tools (``tool_call`` events).
    TOOLS = "tools"


class ClaimRefusal(StrEnum):
    """Why a worker refused a SessionStart."""

    AT_CAPACITY = "at_capacity"
    DRAINING = "draining"
    ENGINE_FAILED = "engine_failed"


class SessionClaim(Message, kw_only=True):
    """Worker -> edge: the reply to SessionStart."""

    accepted: bool
    worker_id: str = ""
    resume_token: str = ""
    #: Why a claim was refused: a ``ClaimRefusal``.
    reason: Annotated[str, _codes(ClaimRefusal)] = ""
    #: What the claiming worker's engine does beyond speech: ``Capability`` values (strings, so
    #: that a newer worker's capability never fails an older edge's decoder).
    capabilities: Annotated[list[str], _codes(Capability, "What the engine does beyond speech, of")] = []
    #: Hz of the speech the claiming worker's engine sends (the ``AudioOut.rate`` of its audio),
    #: for the client's ``session`` event. Declared by the engine's factory; fixed for the session.
    output_rate: Annotated[int, msgspec.Meta(description="Hz of the engine's speech (AudioOut.rate)")] = (
        OUTPUT_RATE
    )


# --- edge -> worker: voice.<sid>.in.* --------------------------------------------------------


class AudioIn(Message, kw_only=True):
    """PCM16LE mono 16 kHz from the user's microphone."""

    seq: int
    pcm: bytes


class TextIn(Message, kw_only=True):
    """Text the user typed instead of speaking."""

    text: str
    #: The edge's count of the session's typed texts (1, 2, ...), acknowledged by the worker's
    #: ``Heartbeat.text_seq``; 0 when the sender does not count.
    seq: int = 0


class EndReason(StrEnum):
    """Why a session ended or was suspended (``Lifecycle.reason``), or handed back (``HandoverRequested``)."""

    #: The user ended it.
    HANGUP = "hangup"
    #: The client's connection dropped (suspended), and it did not resume in time (ended).
    CLIENT_GONE = "client_gone"
    #: The session's edge stopped sending keepalives (suspended).
    EDGE_LOST = "edge_lost"
    #: The worker shut down and handed the session back.
    WORKER_SHUTDOWN = "worker_shutdown"
    #: The edge found no worker to carry the session on.
    WORKER_LOST = "worker_lost"
    #: The speech engine failed for good.
    ENGINE_ERROR = "engine_error"
    #: The client's credential expired and was not renewed.
    AUTH_EXPIRED = "auth_expired"
    #: The client left before it had its session event (during the WebSocket handshake): nobody
    #: holds its resume token, so the session ends at once.
    ABANDONED = "abandoned"
    #: Suspended (its client gone), it gave its place to a live caller on a full worker.
    EVICTED = "evicted"


class ControlKind(StrEnum):
    #: The client says the user stopped talking; end the turn now.
    END_OF_UTTERANCE = "end_of_utterance"
    #: The user ended the session.
    HANGUP = "hangup"
    #: The socket dropped; keep the session for the resume window.
    CLIENT_GONE = "client_gone"
    #: A client reconnected with its resume token (sent as a request; the worker replies).
    RESUME = "resume"
    #: The edge still serves this session (sent every few seconds); when these stop, the edge is
    #: gone and the worker suspends the session so that the client can resume elsewhere. Sent as
    #: a request it is a probe: the owner answers ``ControlReply(ok=True)`` (the edge asks when
    #: heartbeats are late; no responders means the owner is gone).
    KEEPALIVE = "keepalive"
    #: Another worker took the session over (handover); any previous owner lets go at once.
    SUPERSEDED = "superseded"
    #: After a barge-in: how much of the interrupted turn's audio the client played before it
    #: flushed the rest, so that the turn's FINAL holds what the person heard.
    PLAYED = "played"


class Control(Message, kw_only=True):
    kind: ControlKind
    #: RESUME only: the token the client presented, the principal it authenticated as,
    #: and the id of the new edge connection.
    token: str = ""
    principal: str = ""
    conn_id: str = ""
    #: SUPERSEDED: the worker that owns the session now. RESUME: the worker whose events the
    #: ``delivered_*`` marks count (the owner when the session's state was last written).
    worker_id: str = ""
    #: PLAYED only: the interrupted turn, and the milliseconds of its audio the client played.
    turn_id: int = 0
    played_ms: float = 0.0
    #: HANGUP only: why the session ends when it is not the user's choice (an ``EndReason``,
    #: ``auth_expired``); the worker reports it as the lifecycle's end reason. Empty: ``hangup``.
    reason: Annotated[str, _codes(EndReason, "HANGUP only, one of")] = ""
    #: CLIENT_GONE, KEEPALIVE and RESUME: the highest ``Event.seq`` and ``Transcript.seq`` of the
    #: owning worker that the edge has sent on to the client; when the client resumes, the worker
    #: sends again the turn events and final transcripts that came after (the client missed them).
    delivered_event_seq: int = 0
    delivered_transcript_seq: int = 0


class ResumeRefusal(StrEnum):
    """Why the owner of a session refused a RESUME."""

    BAD_TOKEN = "bad_token"  # noqa: S105 - a reason code, not a secret
    #: The session has ended.
    EXPIRED = "expired"
    WRONG_PRINCIPAL = "wrong_principal"
    #: While suspended, the session gave its place on a full worker to a live caller.
    EVICTED = "evicted"


class ControlReply(Message, kw_only=True):
    """Worker -> edge: the reply to a RESUME control request."""

    ok: bool
    #: A ``ResumeRefusal``.
    reason: Annotated[str, _codes(ResumeRefusal)] = ""
    #: When ok: what the session's engine does beyond speech (as ``SessionClaim.capabilities``),
    #: for the resumed connection's ``session`` event.
    capabilities: Annotated[
        list[str], _codes(Capability, "When ok, what the engine does beyond speech, of")
    ] = []
    #: When ok: Hz of the speech the session's engine sends (as ``SessionClaim.output_rate``).
    output_rate: Annotated[
        int, msgspec.Meta(description="When ok, Hz of the engine's speech (AudioOut.rate)")
    ] = OUTPUT_RATE
    #: When ok: the id the session's next turn gets (the edge sends it on a later handover).
    next_turn_id: int = 0


# --- worker -> edge: voice.<sid>.out.* ---------------------------------------------------------


class AudioOut(Message, kw_only=True):
    """PCM16LE mono speech from the assistant at ``rate`` Hz (its engine's ``output_rate``)."""

    seq: int = 0
    turn_id: int
    pcm: bytes
    rate: int = OUTPUT_RATE


class Event(Message, tag_field="type", tag=str.lower, kw_only=True):
    """Base of the events on voice.<sid>.out.event; ``type`` tells them apart."""

    seq: int = 0


class Interrupted(Event, tag="interrupted", kw_only=True):
    """The user barged in: the assistant's turn stopped; play no more of its audio."""

    turn_id: int


class TurnStarted(Event, tag="turn_started", kw_only=True):
    turn_id: int
    role: Role


class TurnEndReason(StrEnum):
    """Why a turn (the user's or the assistant's side of it) ended."""

    END_TURN = "end_turn"
    #: The user barged in on the assistant.
    INTERRUPTED = "interrupted"
    #: The user's side: nothing intelligible was said.
    EMPTY = "empty"
    #: The user's side: the utterance reached the engine's length limit.
    TOO_LONG = "too_long"
    #: The engine could not finish the turn (the session goes on).
    ERROR = "error"
    #: The assistant's side: its worker shut down before the answer was over; the worker that
    #: takes the session over answers the last question again.
    HANDOVER = "handover"


class TurnEnded(Event, tag="turn_ended", kw_only=True):
    turn_id: int
    role: Role
    #: A ``TurnEndReason``.
    reason: Annotated[str, _codes(TurnEndReason)] = TurnEndReason.END_TURN


class ToolCallStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


class ToolCall(Event, tag="tool_call", kw_only=True):
    """A tool the model called, reported when it starts and again with its result."""

    turn_id: int
    call_id: str
    name: str
    #: JSON text of the arguments and of the result (or of the error).
    arguments: str = "{}"
    #: A ``ToolCallStatus``.
    status: Annotated[str, _codes(ToolCallStatus)] = ToolCallStatus.STARTED
    result: str = ""


class Usage(Event, tag="usage", kw_only=True):
    """Tokens the model consumed, as a delta since the previous usage event."""

    input_tokens: int = 0
    output_tokens: int = 0


class ErrorEvent(Event, tag="error", kw_only=True):
    code: str
    message: str
    #: A fatal error ends the session.
    fatal: bool = False


class Heartbeat(Event, tag="heartbeat", kw_only=True):
    """Published per session while its worker lives; when heartbeats stop, the edge hands over.

    It acknowledges the input received so far: the edge keeps what came after (bounded) and replays
    it to the next owner when this one dies.
    """

    worker_id: str
    #: Highest ``AudioIn.seq`` received from the session's current connection.
    audio_seq: int = 0
    #: Highest ``TextIn.seq`` received from the session's current connection.
    text_seq: int = 0


class HandoverRequested(Event, tag="handover_requested", kw_only=True):
    """The worker is shutting down and has let go of the session; place it on another worker."""

    worker_id: str
    #: Why: ``worker_shutdown`` (``EndReason.WORKER_SHUTDOWN``) from every worker so far.
    reason: str = "draining"


class Resumed(Event, tag="resumed", kw_only=True):
    """A client reconnected; any other edge connection attached to the session must let go."""

    conn_id: str


class MissedTranscript(Event, tag="missed_transcript", kw_only=True):
    """A final transcript sent again to a client that resumed after missing it (while no edge
    carried its connection). On out.event, not on the durable transcript channel, so that the
    records keep each transcript once."""

    transcript: Transcript


OutEvent = (
    Interrupted
    | TurnStarted
    | TurnEnded
    | ToolCall
    | Usage
    | ErrorEvent
    | Heartbeat
    | HandoverRequested
    | Resumed
    | MissedTranscript
)


# --- worker -> anyone -------------------------------------------------------------------------


class Transcript(Message, kw_only=True):
    seq: int = 0
    turn_id: int
    role: Role
    text: str
    stage: Stage
    #: FINAL assistant text of a turn cut short (the user interrupted it, or its worker shut down:
    #: its ``TurnEnded`` says which): only what was actually spoken.
    interrupted: bool = False


class LifecycleKind(StrEnum):
    STARTED = "started"
    HANDED_OVER = "handed_over"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    ENDED = "ended"


class Lifecycle(Message, kw_only=True):
    kind: LifecycleKind
    principal: str = ""
    worker_id: str = ""
    #: Why it ended or was suspended: an ``EndReason``.
    reason: Annotated[str, _codes(EndReason)] = ""
    #: Unix time in seconds, from the publisher's clock.
    at: float
    #: False when the session opted out of recording (``SessionStart.recorded``).
    recorded: bool = True


# --- auth.validate ----------------------------------------------------------------------------


class CredentialScheme(StrEnum):
    API_KEY = "api_key"
    BEARER = "bearer"


class ValidateRequest(Message, kw_only=True):
    scheme: CredentialScheme
    credential: str
    #: The client's address, for per-source rate limiting of failures.
    source: str = ""


class AuthRefusal(StrEnum):
    """Why auth.validate refused a credential."""

    UNKNOWN_KEY = "unknown_key"
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    #: Too many failures from the caller's address: try again later.
    RATE_LIMITED = "rate_limited"
    #: The issuer's keys cannot be fetched: the server's fault, try again later.
    JWKS_UNAVAILABLE = "jwks_unavailable"
    MALFORMED = "malformed"
    ALG_NOT_ALLOWED = "alg_not_allowed"
    WRONG_ISSUER = "wrong_issuer"
    UNKNOWN_KID = "unknown_kid"
    MISSING_CLAIM = "missing_claim"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_TOKEN_USE = "wrong_token_use"  # noqa: S105 - a reason code, not a secret


class ValidateReply(Message, kw_only=True):
    ok: bool
    principal: str = ""
    roles: list[str] = []
    #: Unix time after which the answer no longer holds (0: no expiry of its own).
    expires_at: float = 0.0
    #: Why the credential was refused: an ``AuthRefusal``.
    reason: Annotated[str, _codes(AuthRefusal)] = ""


# --- auth.dev.token and auth.config -------------------------------------------------------------


class DevTokenRequest(Message, kw_only=True):
    """Ask the dev issuer for a short-lived token for a local user name (development only)."""

    username: str


class DevTokenRefusal(StrEnum):
    #: The dev issuer is off.
    DISABLED = "disabled"
    BAD_USERNAME = "bad_username"


class DevTokenReply(Message, kw_only=True):
    ok: bool
    #: A JWT that auth.validate accepts as a ``bearer`` credential until ``expires_at``.
    token: str = ""
    expires_at: float = 0.0
    #: A ``DevTokenRefusal``.
    reason: Annotated[str, _codes(DevTokenRefusal)] = ""


class SignInConfigRequest(Message, kw_only=True):
    pass


class SignInConfig(Message, kw_only=True):
    """Which ways to sign in exist, for a web app to offer them."""

    api_keys: bool = False
    dev_issuer: bool = False
    #: OpenID Connect sign-in (Cognito's hosted UI) when configured: the issuer URL, which serves
    #: ``/.well-known/openid-configuration``; the app client id; where the IdP sends the user back.
    oidc_authority: str = ""
    oidc_client_id: str = ""
    oidc_redirect_uri: str = ""
