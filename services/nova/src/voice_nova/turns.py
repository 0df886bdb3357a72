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
  by the worker where engine output becomes bus traffic);
- it knows what of an answer was played (engines report each sentence with the time its playback
  starts and its offset in the turn's audio, :meth:`Turns.said`), so an answer cut short
  (barge-in, :meth:`Turns.cut`; the worker shutting down, :meth:`Turns.hand_over`) gets a FINAL of
  only what the person heard. After a barge-in the client reports how much of the turn's audio it
  played before it flushed (``played`` message, :meth:`Turns.heard`); the FINAL waits up to
  ``report_wait`` seconds for that report and falls back to the playback-clock estimate.

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

import asyncio
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
    #: The user's side ended without anything to answer (``empty``, ``error``).
    nothing_to_answer: bool = False
    #: (``time.monotonic()`` at which its playback starts, its offset in the turn's audio in
    #: ms, sentence), in order.
    sentences: list[tuple[float, float, str]] = field(default_factory=list)
    #: Milliseconds of the turn's audio the client reports it played (None: no report).
    heard_ms: float | None = None
    #: A barge-in's FINAL, waiting for the client's report: (estimate, timer).
    pending: tuple[str, asyncio.TimerHandle] | None = None

    @property
    def busy(self) -> bool:
        """An answer is under way or owed: the assistant's side has not ended."""
        return m.Role.ASSISTANT not in self.ended and not self.nothing_to_answer


class Turns:
    """The turns of one session on this worker.

    ``emit`` is where the ledger's bus events go, in order with the engine's own (an engine binds
    its event queue with :meth:`bind` before it emits anything). Ids start at ``first_id`` (>= 1).
    """

    def __init__(self, first_id: int = 1, emit: Emit | None = None, *, report_wait: float = 0.0) -> None:
        self._next = max(1, first_id)
        self._report_wait = report_wait
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
    def busy(self) -> bool:
        """The latest turn's answer is being given or is owed (a shutting-down worker waits for
        it). Only the latest: an older turn an engine left open must not hold a shutdown up."""
        latest = self._latest
        return latest is not None and latest[1].busy

    @property
    def _latest(self) -> tuple[int, _Turn] | None:
        return next(reversed(self._turns.items()), None)

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
        """The assistant's FINAL transcript of ``turn_id``, flagged ``interrupted`` when it was cut
        short (the user barged in, or a shutdown): then ``text`` must hold only what was played."""
        turn = self._turns.get(turn_id)
        interrupted = turn is not None and turn.silenced
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
            if role is m.Role.USER and reason in (m.TurnEndReason.EMPTY, m.TurnEndReason.ERROR):
                turn.nothing_to_answer = True
            if role is m.Role.ASSISTANT and turn.interrupted:
                reason = m.TurnEndReason.INTERRUPTED
            if reason == m.TurnEndReason.HANDOVER:
                turn.silenced = True
        self._tell(TurnEvent(TurnMoment.ENDED, turn_id, role, reason))
        self._emit(m.TurnEnded(turn_id=turn_id, role=role, reason=reason))

    def said(self, turn_id: int, sentence: str, starts: float | None = None, offset_ms: float = 0.0) -> None:
        """The assistant says ``sentence`` in ``turn_id``: its playback starts at ``starts``
        (``time.monotonic()`` seconds; now if None), ``offset_ms`` into the turn's audio."""
        turn = self._turns.get(turn_id)
        if turn is not None:
            turn.sentences.append((time.monotonic() if starts is None else starts, offset_ms, sentence))

    def played(self, turn_id: int) -> str:
        """What of the turn's answer was played: the sentences whose audio the client reports it
        started to play, or without a report, those whose playback started by now (estimate)."""
        turn = self._turns.get(turn_id)
        if turn is None:
            return ""
        if turn.heard_ms is not None:
            heard = turn.heard_ms
            return " ".join(sentence for _, offset, sentence in turn.sentences if offset < heard)
        now = time.monotonic()
        return " ".join(sentence for starts, _, sentence in turn.sentences if starts <= now)

    def cut(self, turn_id: int, spoken: str | None = None) -> None:
        """An interruption the engine detects itself, whole: ``Interrupted``, the FINAL with what
        was ``spoken`` (by default what was played, :meth:`played`: it waits up to
        ``report_wait`` seconds for the client's report), and ``TurnEnded(ASSISTANT, interrupted)``."""
        if not self.interrupt(turn_id):
            return
        turn = self._turns[turn_id]
        if spoken is not None or turn.heard_ms is not None or self._report_wait <= 0:
            self._finish_cut(turn_id, self.played(turn_id) if spoken is None else spoken)
            return
        timer = asyncio.get_running_loop().call_later(self._report_wait, self._finish_cut, turn_id)
        turn.pending = (self.played(turn_id), timer)

    def heard(self, turn_id: int, played_ms: float) -> None:
        """The client played ``played_ms`` of the turn's audio before it flushed the rest."""
        turn = self._turns.get(turn_id)
        if turn is None or not turn.interrupted:
            return  # a report only means something after a barge-in
        turn.heard_ms = max(0.0, played_ms)
        if turn.pending is not None:
            self._finish_cut(turn_id)

    def _finish_cut(self, turn_id: int, text: str | None = None) -> None:
        turn = self._turns.get(turn_id)
        if turn is None:
            return
        if turn.pending is not None:
            estimate, timer = turn.pending
            timer.cancel()
            turn.pending = None
            text = text if text is not None else estimate if turn.heard_ms is None else self.played(turn_id)
        if not turn.final:
            self.final(turn_id, text if text is not None else self.played(turn_id))
        self.end(turn_id, m.Role.ASSISTANT, m.TurnEndReason.INTERRUPTED)

    def hand_over(self) -> int | None:
        """The worker lets the session go before its answer is over: the latest turn, when
        :attr:`busy`, ends ``handover`` (with a FINAL of what was played, when the assistant had
        started speaking), and none of its audio goes out any more; its id. A barge-in's FINAL
        still waiting for the client's report goes out now, with the estimate."""
        for turn_id, turn in list(self._turns.items()):
            if turn.pending is not None:
                self._finish_cut(turn_id)
        latest = self._latest
        if latest is None or not latest[1].busy:
            return None
        turn_id, turn = latest
        if not turn.speaking and m.Role.USER not in turn.ended:
            return None  # the user was still speaking: there is no question yet to answer again
        turn.silenced = True
        if turn.speaking and not turn.final:
            self.final(turn_id, self.played(turn_id))
        self.end(turn_id, m.Role.ASSISTANT, m.TurnEndReason.HANDOVER)
        return turn_id

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
