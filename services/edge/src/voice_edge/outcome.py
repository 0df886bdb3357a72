"""How a connection ends (what its worker is told, the close code its client gets), and the two
callables through which a session's side jobs talk back to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from voice_proto import messages as m

from . import protocol as p


class Outcome(Enum):
    """How a connection ended, which decides what the worker is told."""

    HANGUP = m.EndReason.HANGUP.value  # the client sent end: the session ends
    CLIENT_GONE = m.EndReason.CLIENT_GONE.value  # the socket dropped: the session waits for a resume
    #: The client left before it had its session event (during the handshake, or an error before
    #: it): nobody holds the resume token, so the session ends.
    ABANDONED = m.EndReason.ABANDONED.value
    SHUTDOWN = "edge_shutdown"  # this edge is stopping: the client reconnects and resumes
    ABUSE = "abuse"  # closed for bad behaviour: the session ends
    TAKEN_OVER = "taken_over"  # another connection resumed the session
    FAILED = "failed"  # the session cannot go on (no worker, fatal engine error)
    EXPIRED = m.EndReason.AUTH_EXPIRED.value  # the credential expired and was not renewed: the session ends
    BUS_LOST = "bus_lost"  # this edge lost NATS for too long: the client resumes (elsewhere, maybe)

    @property
    def control(self) -> tuple[m.ControlKind, str] | None:
        """What the session's worker is told (control kind, reason); None: nothing."""
        return _CONTROLS[self]


_CONTROLS: dict[Outcome, tuple[m.ControlKind, str] | None] = {
    Outcome.HANGUP: (m.ControlKind.HANGUP, ""),
    Outcome.ABUSE: (m.ControlKind.HANGUP, ""),
    Outcome.FAILED: (m.ControlKind.HANGUP, ""),
    Outcome.CLIENT_GONE: (m.ControlKind.CLIENT_GONE, ""),
    Outcome.ABANDONED: (m.ControlKind.HANGUP, m.EndReason.ABANDONED),
    Outcome.SHUTDOWN: (m.ControlKind.CLIENT_GONE, ""),
    Outcome.BUS_LOST: (m.ControlKind.CLIENT_GONE, ""),
    Outcome.EXPIRED: (m.ControlKind.HANGUP, m.EndReason.AUTH_EXPIRED),
    Outcome.TAKEN_OVER: None,  # the session is another connection's now
}


@dataclass(frozen=True)
class CloseRequest:
    """Close the client with ``code`` and ``reason``; ``outcome`` says what the worker is told."""

    code: int
    reason: str
    outcome: Outcome


#: Send the client an event (an error, an auth notice).
type Tell = Callable[[p.ServerEvent], Awaitable[None]]
#: Ask the session to end; the first request wins.
type RequestClose = Callable[[CloseRequest], None]
