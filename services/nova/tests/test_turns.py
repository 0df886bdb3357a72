"""The turn ledger (voice_nova/turns.py): ids, each event once, the one audio guard, observers."""

from __future__ import annotations

from voice_nova.turns import TurnEvent, TurnMoment, Turns
from voice_proto import messages as m

USER, ASSISTANT = m.Role.USER, m.Role.ASSISTANT


def ledger(first_id: int = 1) -> tuple[Turns, list[object], list[TurnEvent]]:
    emitted: list[object] = []
    seen: list[TurnEvent] = []
    turns = Turns(first_id=first_id, emit=emitted.append)
    turns.observe(seen.append)
    return turns, emitted, seen


def test_ids_start_where_the_session_left_off_and_grow() -> None:
    turns, emitted, _ = ledger(first_id=7)
    assert turns.open(USER) == 7
    assert turns.open(ASSISTANT) == 8
    assert turns.next_id == 9
    assert emitted == [m.TurnStarted(turn_id=7, role=USER), m.TurnStarted(turn_id=8, role=ASSISTANT)]


def test_an_interruption_is_applied_once_and_its_audio_never_passes() -> None:
    turns, emitted, seen = ledger()
    turn = turns.open(USER)
    turns.end(turn, USER)
    turns.assistant_speaks(turn)
    turns.assistant_speaks(turn)
    assert turns.admit(m.AudioOut(turn_id=turn, pcm=b"\0\0"))
    speaking_before = turns.speaking
    turns.cut(turn, "What was played.")
    turns.cut(turn, "again")
    turns.end(turn, ASSISTANT)  # an engine that reports the end too: said once only
    assert not turns.admit(m.AudioOut(turn_id=turn, pcm=b"\0\0"))
    assert (speaking_before, turns.speaking) == (turn, None)
    assert emitted[2:] == [
        m.TurnStarted(turn_id=turn, role=ASSISTANT),
        m.Interrupted(turn_id=turn),
        m.Transcript(
            turn_id=turn, role=ASSISTANT, text="What was played.", stage=m.Stage.FINAL, interrupted=True
        ),
        m.TurnEnded(turn_id=turn, role=ASSISTANT, reason=m.TurnEndReason.INTERRUPTED),
    ]
    assert [(e.moment, e.role, e.reason) for e in seen] == [
        (TurnMoment.OPENED, USER, ""),
        (TurnMoment.ENDED, USER, m.TurnEndReason.END_TURN),
        (TurnMoment.ASSISTANT_SPEAKING, ASSISTANT, ""),
        (TurnMoment.FIRST_AUDIO, ASSISTANT, ""),
        (TurnMoment.INTERRUPTED, ASSISTANT, ""),
        (TurnMoment.ENDED, ASSISTANT, m.TurnEndReason.INTERRUPTED),
    ]


def test_a_turn_not_speaking_cannot_be_interrupted_and_foreign_audio_passes() -> None:
    turns, emitted, _ = ledger()
    turn = turns.open(USER)
    assert not turns.interrupt(turn)
    assert turns.admit(m.AudioOut(turn_id=0, pcm=b"\0\0"))  # loopback's echo belongs to no turn
    assert emitted == [m.TurnStarted(turn_id=turn, role=USER)]


def test_an_observer_that_fails_does_not_stop_the_conversation() -> None:
    turns, emitted, _ = ledger()

    def broken(_event: TurnEvent) -> None:
        raise RuntimeError("observer bug")

    turns.observe(broken)
    turn = turns.open(ASSISTANT)
    assert emitted == [m.TurnStarted(turn_id=turn, role=ASSISTANT)]
