"""The turn ledger (voice_nova/turns.py): ids, each event once, the one audio guard, observers."""

from __future__ import annotations

import asyncio

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


def test_a_shutdown_ends_the_answer_in_progress_with_what_was_played() -> None:
    turns, emitted, _ = ledger()
    done = turns.open(USER)
    turns.end(done, USER)
    turns.assistant_speaks(done)
    turns.final(done, "Done.")
    turns.end(done, ASSISTANT)
    empty = turns.open(USER)
    turns.end(empty, USER, m.TurnEndReason.EMPTY)  # a cough: nothing to answer
    idle_before = turns.busy
    asked = turns.open(USER)
    turns.end(asked, USER)
    assert turns.busy  # an answer is owed
    turns.assistant_speaks(asked)
    turns.said(asked, "First sentence.", starts=0.0)
    turns.said(asked, "Not played yet.", starts=float("inf"))
    del emitted[:]
    assert turns.hand_over() == asked
    assert (idle_before, turns.busy) == (False, False)
    assert not turns.admit(m.AudioOut(turn_id=asked, pcm=b"\0\0"))
    assert emitted == [
        m.Transcript(
            turn_id=asked, role=ASSISTANT, text="First sentence.", stage=m.Stage.FINAL, interrupted=True
        ),
        m.TurnEnded(turn_id=asked, role=ASSISTANT, reason=m.TurnEndReason.HANDOVER),
    ]


def cut_in_two_sentences(report_wait: float, second_starts: float) -> tuple[Turns, list[object], int]:
    """An answer of two sentences (the second 800 ms into the audio), cut by a barge-in."""
    emitted: list[object] = []
    turns = Turns(emit=emitted.append, report_wait=report_wait)
    turn = turns.open(ASSISTANT)
    turns.said(turn, "One.", starts=0.0, offset_ms=0.0)
    turns.said(turn, "Two.", starts=second_starts, offset_ms=800.0)
    turns.cut(turn)
    return turns, emitted, turn


def cut_short(turn: int, text: str) -> list[object]:
    return [
        m.Transcript(turn_id=turn, role=ASSISTANT, text=text, stage=m.Stage.FINAL, interrupted=True),
        m.TurnEnded(turn_id=turn, role=ASSISTANT, reason=m.TurnEndReason.INTERRUPTED),
    ]


async def test_a_barge_in_final_holds_what_the_client_reports_it_played() -> None:
    turns, emitted, turn = cut_in_two_sentences(report_wait=30.0, second_starts=0.0)  # both started
    assert emitted[-1] == m.Interrupted(turn_id=turn)  # the FINAL waits for the report
    turns.heard(turn, 650.0)  # the client flushed before "Two." was heard
    assert emitted[-2:] == cut_short(turn, "One.")


async def test_without_a_report_the_barge_in_final_holds_the_playback_estimate() -> None:
    turns, emitted, turn = cut_in_two_sentences(report_wait=0.05, second_starts=float("inf"))
    await asyncio.sleep(0.2)
    assert emitted[-2:] == cut_short(turn, "One.")
    turns.heard(turn, 5000.0)  # too late: said once only
    assert len([e for e in emitted if isinstance(e, m.Transcript)]) == 1


def test_a_shutdown_while_the_user_still_speaks_leaves_nothing_to_say_again() -> None:
    turns, emitted, _ = ledger()
    turn = turns.open(USER)  # speech confirmed, not transcribed yet
    assert turns.busy  # the worker waits for it, up to its bound
    assert turns.hand_over() is None
    assert emitted == [m.TurnStarted(turn_id=turn, role=USER)]
