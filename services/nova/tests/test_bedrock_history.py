"""The conversation's history as Nova takes it on a new stream (engines/bedrock/history.py)."""

from __future__ import annotations

from voice_nova.engines.bedrock.history import History, shape
from voice_proto import messages as m

USER, ASSISTANT = m.Role.USER, m.Role.ASSISTANT


def turn(role: m.Role, text: str) -> m.HistoryTurn:
    return m.HistoryTurn(role=role, text=text)


def test_history_is_merged_by_role_and_starts_with_the_user() -> None:
    shaped = shape(
        [turn(ASSISTANT, "Hi!"), turn(USER, "a"), turn(USER, "b"), turn(ASSISTANT, "c"), turn(USER, " ")]
    )
    assert shaped == [turn(USER, "a b"), turn(ASSISTANT, "c")]


def test_history_keeps_the_newest_within_40_messages_and_40_kb() -> None:
    many = [turn(USER if i % 2 == 0 else ASSISTANT, f"message {i}") for i in range(100)]
    shaped = shape(many)
    assert len(shaped) <= 40
    assert shaped[-1].text == "message 99"
    assert shaped[0].role is USER
    big = [turn(USER, "x" * 30_000), turn(ASSISTANT, "y" * 30_000)]
    shaped = shape(big)
    assert sum(len(t.text.encode()) for t in shaped) <= 40 * 1024
    assert shaped[-1].text == "y" * 30_000  # the newest whole; the older cut to fit, then it
    assert not shaped or shaped[0].role is USER


def test_history_of_a_long_session_stays_bounded() -> None:
    history = History()
    for i in range(1000):
        history.add(USER if i % 2 == 0 else ASSISTANT, f"t{i}")
    assert len(history) <= 160
    assert history.shaped()[-1].text == "t999"
