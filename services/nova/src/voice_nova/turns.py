"""The turn ledger: the one owner of a session's turns, whatever the engine.

Engines report what the model does (the user started speaking, the assistant speaks, the user
barged in, the answer is over); the ledger decides what that means for the conversation and says
it on the bus, once:

- it hands out turn ids, unique for the session's whole life: a session that moves to another
  worker (handover, rotation, resume) starts at ``first_id``, which the edge sends in
  ``SessionStart.next_turn_id`` (one above the highest id it has seen);
- it opens and ends turns (``TurnStarted`` / ``TurnEnded``, each once per turn and side);
- it applies an interruption once (``Interrupted``, then the assistant's FINAL flagged
  ``interrupted`` and ``TurnEnded(ASSISTANT, interrupted)``);
- it is the one place that drops audio of a turn the user interrupted (:meth:`Turns.admit`, called
  by the worker where engine output becomes bus traffic).

Observers (telemetry, tests) subscribe with :meth:`Turns.observe`: a callable that receives a
:class:`TurnEvent` for each of these moments, in order, on the event loop, and must not block:

========================  ==================================================================
``TurnMoment.OPENED``       a turn got its id; ``role`` says who opened it
``ASSISTANT_SPEAKING``      the assistant's side of the turn started (``TurnStarted(ASSISTANT)``)
``FIRST_AUDIO``             the first audio chunk of the turn's answer passed the guard
``INTERRUPTED``             the user barged in on the assistant's side of the turn
``ENDED``                   one side of the turn ended; ``role`` and ``reason`` (a TurnEndReason)
========================  ==================================================================

``TurnEvent.at`` is ``time.monotonic()`` seconds when the ledger saw it. An observer that raises
is logged and skipped; it never stops the conversation.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from voice_proto import messages as m

log = structlog.get_logger("voice_nova.turns")

#: Turns remembered after they end (late audio of an interrupted turn is still recognised): the
#: engines never go back further than the previous turn.
_REMEMBERED = 16


class TurnMoment(StrEnum):
    OPENED = "opened"
    ASSISTANT_SPEAKING = "assistant_speaking"
    FIRST_AUDIO = "first_audio"
    INTERRUPTED = "interrupted"
    ENDED = "ended"


@dataclass(frozen=True)
class TurnEvent:
    """One moment of one turn, as observers receive it."""

    moment: TurnMoment
    turn_id: int
    #: Who opened the turn (OPENED) or whose side ended (ENDED); the assistant otherwise.
    role: m.Role = m.Role.ASSISTANT
    #: ENDED only: a ``TurnEndReason``.
    reason: str = ""
    #: ``time.monotonic()`` seconds.
    at: float = field(default_factory=time.monotonic)


type TurnObserver = Callable[[TurnEvent], None]
type Emit = Callable[[m.TurnStarted | m.TurnEnded | m.Interrupted | m.Transcript], None]


@dataclass
class _Turn:
    opened_by: m.Role
    speaking: bool = False
    first_audio: bool = False
    interrupted: bool = False
    #: No more of its audio goes out (interrupted, or cut off by a handover).
    silenced: bool = False
    final: bool = False
    ended: set[m.Role] = field(default_factory=set)


class Turns:
    """The turns of one session on this worker.

    ``emit`` is where the ledger's bus events go, in order with the engine's own (an engine binds
    its event queue with :meth:`bind` before it emits anything). Ids start at ``first_id`` (>= 1).
    """

    def __init__(self, first_id: int = 1, emit: Emit | None = None) -> None:
        self._next = max(1, first_id)
        self._emit: Emit = emit or _nowhere
        self._turns: OrderedDict[int, _Turn] = OrderedDict()
        self._observers: list[TurnObserver] = []

    def bind(self, emit: Emit) -> None:
        self._emit = emit

    def observe(self, observer: TurnObserver) -> None:
        """Add an observer (see the module docstring for what it receives)."""
        self._observers.append(observer)

    @property
    def next_id(self) -> int:
        """The id the next turn gets (what a session moving elsewhere starts from)."""
        return self._next

    @property
    def speaking(self) -> int | None:
        """The turn whose assistant side is speaking now (started, not ended), if any."""
        for turn_id, turn in reversed(self._turns.items()):
            if turn.speaking and m.Role.ASSISTANT not in turn.ended:
                return turn_id
        return None

    # --- what engines report --------------------------------------------------------------------

    def open(self, role: m.Role) -> int:
        """A new turn, opened by ``role`` (``TurnStarted(role)``); its id."""
        turn_id = self._next
        self._next += 1
        self._turns[turn_id] = _Turn(opened_by=role, speaking=role is m.Role.ASSISTANT)
        while len(self._turns) > _REMEMBERED:
            self._turns.popitem(last=False)
        self._tell(TurnEvent(TurnMoment.OPENED, turn_id, role))
        if role is m.Role.ASSISTANT:
            self._tell(TurnEvent(TurnMoment.ASSISTANT_SPEAKING, turn_id))
        self._emit(m.TurnStarted(turn_id=turn_id, role=role))
        return turn_id

    def assistant_speaks(self, turn_id: int) -> None:
        """The assistant answers in ``turn_id`` (``TurnStarted(ASSISTANT)``, once)."""
        turn = self._turns.get(turn_id)
        if turn is None or turn.speaking:
            return
        turn.speaking = True
        self._tell(TurnEvent(TurnMoment.ASSISTANT_SPEAKING, turn_id))
        self._emit(m.TurnStarted(turn_id=turn_id, role=m.Role.ASSISTANT))

    def interrupt(self, turn_id: int) -> bool:
        """The user barged in on the assistant's side of ``turn_id``: ``Interrupted`` (once), and
        no more of its audio reaches the client. True if this call applied it."""
        turn = self._turns.get(turn_id)
        if turn is None or turn.interrupted or not turn.speaking or m.Role.ASSISTANT in turn.ended:
            return False
        turn.interrupted = turn.silenced = True
        self._tell(TurnEvent(TurnMoment.INTERRUPTED, turn_id))
        self._emit(m.Interrupted(turn_id=turn_id))
        return True

    def final(self, turn_id: int, text: str) -> None:
        """The assistant's FINAL transcript of ``turn_id`` (flagged ``interrupted`` when it was):
        for an interrupted turn, ``text`` must hold only what was played."""
        turn = self._turns.get(turn_id)
        interrupted = turn is not None and turn.interrupted
        if turn is not None:
            turn.final = True
        self._emit(
            m.Transcript(
                turn_id=turn_id,
                role=m.Role.ASSISTANT,
                text=text,
                stage=m.Stage.FINAL,
                interrupted=interrupted,
            )
        )

    def end(self, turn_id: int, role: m.Role, reason: str = m.TurnEndReason.END_TURN) -> None:
        """One side of ``turn_id`` ended (``TurnEnded``, once per side). The assistant's side of an
        interrupted turn ends ``interrupted`` whatever the engine says."""
        turn = self._turns.get(turn_id)
        if turn is not None:
            if role in turn.ended:
                return
            turn.ended.add(role)
            if role is m.Role.ASSISTANT and turn.interrupted:
                reason = m.TurnEndReason.INTERRUPTED
            if reason == m.TurnEndReason.HANDOVER:
                turn.silenced = True
        self._tell(TurnEvent(TurnMoment.ENDED, turn_id, role, reason))
        self._emit(m.TurnEnded(turn_id=turn_id, role=role, reason=reason))

    def cut(self, turn_id: int, spoken: str) -> None:
        """An interruption the engine detects itself, whole: ``Interrupted``, the FINAL with what
        was ``spoken`` (played), and ``TurnEnded(ASSISTANT, interrupted)``."""
        if self.interrupt(turn_id):
            self.final(turn_id, spoken)
            self.end(turn_id, m.Role.ASSISTANT, m.TurnEndReason.INTERRUPTED)

    def interrupted(self, turn_id: int) -> bool:
        turn = self._turns.get(turn_id)
        return turn is not None and turn.interrupted

    # --- the worker's side ------------------------------------------------------------------------

    def admit(self, audio: m.AudioOut) -> bool:
        """The one audio guard: False for audio of a turn the user interrupted (or that a handover
        cut off), which must not reach the client. Notes each turn's first audio."""
        turn = self._turns.get(audio.turn_id)
        if turn is None:
            return True  # not a turn of this ledger (loopback's echo): nothing to guard
        if turn.silenced:
            return False
        if not turn.first_audio:
            turn.first_audio = True
            self._tell(TurnEvent(TurnMoment.FIRST_AUDIO, audio.turn_id))
        return True

    def _tell(self, event: TurnEvent) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                log.exception("turn observer failed", moment=event.moment.value)


def _nowhere(_event: object) -> None:
    raise RuntimeError("Turns.bind(emit) must be called before the ledger is used")
