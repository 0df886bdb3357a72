from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import RecordsStreamSettings, ServiceSettings

#: Where the edge serves ``avatar_dir``.
AVATAR_PATH = "/avatar"


class EdgeSettings(ServiceSettings, RecordsStreamSettings):
    model_config = SettingsConfigDict(env_prefix="EDGE_")

    host: str = "127.0.0.1"
    port: int = 8000
    #: ``/metrics`` (see ServiceSettings.metrics_port); each service has its own default port.
    metrics_port: int = Field(default=9464, ge=0, le=65535, validation_alias="METRICS_PORT")
    #: Seconds to find a worker for a new session before closing with 1013.
    start_timeout: float = Field(default=5.0, gt=0)
    #: Seconds to wait for auth.validate.
    auth_timeout: float = Field(default=2.0, gt=0)
    #: Longest a positive auth answer is reused (it is never reused past its own expiry).
    auth_cache_seconds: float = Field(default=300.0, ge=0)
    #: Seconds before a bearer token expires that the client is told to send a fresh one.
    auth_renew_notice: float = Field(default=60.0, ge=0)
    #: Seconds this edge may be without NATS before it closes its sessions with 1012 (resume):
    #: below the worker's resume window, so that the client can resume on another edge.
    bus_outage_limit: float = Field(default=15.0, gt=0)
    #: Seconds without a worker heartbeat before the worker is probed, and the session moves to
    #: another worker unless it answers (workers beat every NOVA_HEARTBEAT_INTERVAL, 0.25 s).
    heartbeat_timeout: float = Field(default=0.75, gt=0)
    #: Seconds a worker whose heartbeats are late has to answer the probe.
    probe_timeout: float = Field(default=1.0, gt=0)
    #: Seconds of the user's audio kept until the worker acknowledges it, replayed to the next
    #: worker when the session moves (older unacknowledged audio is dropped).
    replay_seconds: float = Field(default=3.0, ge=0)
    #: Typed texts kept until the worker acknowledges them (replayed on a move, like the audio).
    replay_texts: int = Field(default=32, ge=1)
    #: Seconds between keepalives to the worker (it suspends sessions whose edge falls silent).
    keepalive_interval: float = Field(default=2.0, gt=0)
    #: Largest WebSocket frame accepted (bytes of a binary frame, characters of a text frame).
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    max_text_chars: int = Field(default=2000, ge=1)
    #: Audio may run ahead of real time by this many seconds (network catch-up) before 4429.
    audio_burst_seconds: float = Field(default=2.0, gt=0)
    #: Typed texts a connection may send per minute (each starts a turn the worker answers with
    #: speech); beyond it, and a burst of ``text_burst``, a text is dropped with an error
    #: ``text_rate_limited``, which counts as a bad message.
    text_per_minute: int = Field(default=30, ge=1)
    text_burst: int = Field(default=5, ge=1)
    #: Bad messages tolerated per minute before the connection is closed with 1008.
    max_errors_per_minute: int = Field(default=30, ge=1)
    #: Finished turns kept to replay to a new worker on handover.
    history_turns: int = Field(default=40, ge=0)
    #: Seconds a session's state (``VOICE_SESSIONS``) outlives its last write; a session ended on
    #: purpose is deleted at once.
    session_state_ttl: float = Field(default=86_400.0, gt=0)
    #: Seconds after its state was last written (a finished turn, the client's drop) that a
    #: session nobody owns any more (its worker died while no edge carried it) is placed again
    #: when its client resumes; keep it at NOVA_RESUME_WINDOW.
    revive_window: float = Field(default=30.0, ge=0)
    #: The built web app served at / (nothing is served there when it does not exist).
    web_dir: Path = Path(__file__).resolve().parents[4] / "web" / "dist"
    #: Seconds a stopping edge waits for its calls to end by themselves (it takes no new ones
    #: meanwhile) before it closes the rest with 1012; keep the pod's grace period above it.
    drain_timeout: float = Field(default=180.0, ge=0)
    #: Seconds the edge then waits for the clients it closed to go.
    shutdown_grace: float = Field(default=5.0, ge=0)
    #: A folder of avatar models (glTF/GLB) served at /avatar/ (nothing is served when unset).
    avatar_dir: Path | None = None
    #: The avatar the web app shows: a file in ``avatar_dir``, or an http(s) URL; empty for the
    #: web app's built-in head.
    avatar_model: str = ""
    #: This deployment records conversations (the recordings service runs): the client is told so
    #: in the ``session`` event and /api/config.
    recording: bool = False
    #: A client may ask not to be recorded (``/ws?record=off``); off: every session is recorded.
    recording_opt_out: bool = False
    #: Where the web app finds the recordings API (its origin); empty: this origin (an Ingress
    #: routes /api/recordings to the recordings service).
    recordings_url: str = ""

    def records(self, asked: str | None) -> bool:
        """Whether a session is recorded, given its ``?record=`` query (``off`` opts out where allowed)."""
        opted_out = self.recording_opt_out and (asked or "").lower() in ("off", "0", "false", "no")
        return self.recording and not opted_out

    @model_validator(mode="after")
    def _avatar_model_has_a_home(self) -> EdgeSettings:
        if self.avatar_dir is not None and not self.avatar_dir.is_dir():
            raise ValueError(f"EDGE_AVATAR_DIR {self.avatar_dir} is not a folder")
        model = self.avatar_model.strip()
        if model and not model.startswith(("http://", "https://")):
            if self.avatar_dir is None:
                raise ValueError("EDGE_AVATAR_MODEL names a file: set EDGE_AVATAR_DIR to its folder")
            if ".." in Path(model).parts or Path(model).is_absolute():
                raise ValueError("EDGE_AVATAR_MODEL must be a file inside EDGE_AVATAR_DIR")
        return self

    def avatar_url(self) -> str | None:
        """Where the web app loads the avatar model from (``/avatar/<file>`` or the URL), or None."""
        model = self.avatar_model.strip()
        if not model:
            return None
        if model.startswith(("http://", "https://")):
            return model
        return f"{AVATAR_PATH}/{quote(model)}"
