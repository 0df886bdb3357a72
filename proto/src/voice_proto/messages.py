"""Every payload that travels on the bus, defined once.

Payloads are MessagePack maps. Each carries ``v``, the schema version: a consumer refuses a
message whose version is newer than the one it was built with (a breaking change bumps it;
adding an optional field does not, because decoders ignore fields they do not know).
Audio stays raw bytes (MessagePack ``bin``), never base64.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

SCHEMA_VERSION = 1

#: Sample rates fixed by the contract: what the browser sends and what the speech model speaks.
INPUT_RATE = 16_000
OUTPUT_RATE = 24_000


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


class SessionClaim(Message, kw_only=True):
    """Worker -> edge: the reply to SessionStart."""

    accepted: bool
    worker_id: str = ""
    resume_token: str = ""
    #: Why a claim was refused: ``at_capacity``, ``draining``, ``engine_failed``.
    reason: str = ""


# --- edge -> worker: voice.<sid>.in.* --------------------------------------------------------


class AudioIn(Message, kw_only=True):
    """PCM16LE mono 16 kHz from the user's microphone."""

    seq: int
    pcm: bytes


class TextIn(Message, kw_only=True):
    """Text the user typed instead of speaking."""

    text: str


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
    #: gone and the worker suspends the session so that the client can resume elsewhere.
    KEEPALIVE = "keepalive"
    #: Another worker took the session over (handover); any previous owner lets go at once.
    SUPERSEDED = "superseded"


class Control(Message, kw_only=True):
    kind: ControlKind
    #: RESUME only: the token the client presented, the principal it authenticated as,
    #: and the id of the new edge connection.
    token: str = ""
    principal: str = ""
    conn_id: str = ""
    #: SUPERSEDED only: the worker that owns the session now.
    worker_id: str = ""
    #: HANGUP only: why the session ends when it is not the user's choice (``auth_expired``);
    #: the worker reports it as the lifecycle's end reason. Empty: ``hangup``.
    reason: str = ""


class ControlReply(Message, kw_only=True):
    """Worker -> edge: the reply to a RESUME control request."""

    ok: bool
    #: ``bad_token``, ``expired``, ``wrong_principal``.
    reason: str = ""


# --- worker -> edge: voice.<sid>.out.* ---------------------------------------------------------


class AudioOut(Message, kw_only=True):
    """PCM16LE mono speech from the assistant, 24 kHz unless ``rate`` says otherwise."""

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


class TurnEnded(Event, tag="turn_ended", kw_only=True):
    turn_id: int
    role: Role
    #: ``end_turn``, ``interrupted``, ``empty``, ``too_long``.
    reason: str = "end_turn"


class ToolCall(Event, tag="tool_call", kw_only=True):
    """A tool the model called, reported when it starts and again with its result."""

    turn_id: int
    call_id: str
    name: str
    #: JSON text of the arguments and of the result (or of the error).
    arguments: str = "{}"
    status: str = "started"  # started | completed | failed
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
    """Published per session while its worker lives; when heartbeats stop, the edge hands over."""

    worker_id: str


class HandoverRequested(Event, tag="handover_requested", kw_only=True):
    """The worker is shutting down and has let go of the session; place it on another worker."""

    worker_id: str
    reason: str = "draining"


class Resumed(Event, tag="resumed", kw_only=True):
    """A client reconnected; any other edge connection attached to the session must let go."""

    conn_id: str


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
)


# --- worker -> anyone -------------------------------------------------------------------------


class Transcript(Message, kw_only=True):
    seq: int = 0
    turn_id: int
    role: Role
    text: str
    stage: Stage
    #: FINAL assistant text of a turn that the user interrupted: only what was actually spoken.
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
    #: Why it ended or was suspended: ``hangup``, ``client_gone``, ``edge_lost``,
    #: ``worker_shutdown``, ``worker_lost``, ``engine_error``, ``auth_expired``.
    reason: str = ""
    #: Unix time in seconds, from the publisher's clock.
    at: float


# --- auth.validate ----------------------------------------------------------------------------


class CredentialScheme(StrEnum):
    API_KEY = "api_key"
    BEARER = "bearer"


class ValidateRequest(Message, kw_only=True):
    scheme: CredentialScheme
    credential: str
    #: The client's address, for per-source rate limiting of failures.
    source: str = ""


class ValidateReply(Message, kw_only=True):
    ok: bool
    principal: str = ""
    roles: list[str] = []
    #: Unix time after which the answer no longer holds (0: no expiry of its own).
    expires_at: float = 0.0
    #: Why the credential was refused: ``unknown_key``, ``expired``, ``bad_signature``, ...
    reason: str = ""


# --- auth.dev.token and auth.config -------------------------------------------------------------


class DevTokenRequest(Message, kw_only=True):
    """Ask the dev issuer for a short-lived token for a local user name (development only)."""

    username: str


class DevTokenReply(Message, kw_only=True):
    ok: bool
    #: A JWT that auth.validate accepts as a ``bearer`` credential until ``expires_at``.
    token: str = ""
    expires_at: float = 0.0
    #: ``disabled`` (the dev issuer is off), ``bad_username``.
    reason: str = ""


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
