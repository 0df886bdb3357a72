"""The conversation so far, shaped to what Nova accepts when a stream is reopened.

Nova's limits (Nova 2 chat-history guide, the stricter of the published numbers): the whole history
at most 40 KB, at most 40 messages, the first one from the USER. Consecutive messages of one role
are merged (a turn's sentences arrive as several FINAL transcripts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from voice_proto import messages as m

MAX_HISTORY_BYTES = 40 * 1024
MAX_HISTORY_MESSAGES = 40


def _merged(turns: Iterable[m.HistoryTurn]) -> list[m.HistoryTurn]:
    merged: list[m.HistoryTurn] = []
    for turn in turns:
        text = turn.text.strip()
        if not text:
            continue
        if merged and merged[-1].role is turn.role:
            merged[-1] = m.HistoryTurn(role=turn.role, text=f"{merged[-1].text} {text}")
        else:
            merged.append(m.HistoryTurn(role=turn.role, text=text))
    return merged


def _tail_bytes(text: str, limit: int) -> str:
    """The end of ``text`` in at most ``limit`` UTF-8 bytes (the latest words matter most)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[len(data) - limit :].decode(errors="ignore").lstrip()


def shape(
    turns: Iterable[m.HistoryTurn],
    *,
    max_bytes: int = MAX_HISTORY_BYTES,
    max_messages: int = MAX_HISTORY_MESSAGES,
) -> list[m.HistoryTurn]:
    """The newest messages that fit, merged by role, starting with a USER message."""
    kept: list[m.HistoryTurn] = []
    budget = max_bytes
    for turn in reversed(_merged(turns)):
        if len(kept) == max_messages or budget <= 0:
            break
        text = _tail_bytes(turn.text, budget)
        if not text:
            break
        kept.append(m.HistoryTurn(role=turn.role, text=text))
        budget -= len(text.encode())
    kept.reverse()
    while kept and kept[0].role is not m.Role.USER:
        kept.pop(0)
    return kept


class History:
    """FINAL transcripts of the session, in order, from the start (or the previous worker)."""

    def __init__(self, initial: Iterable[m.HistoryTurn] = ()) -> None:
        # More than shaping can ever keep, so a long session does not grow without bound.
        self._turns: deque[m.HistoryTurn] = deque(initial, maxlen=4 * MAX_HISTORY_MESSAGES)

    def add(self, role: m.Role, text: str) -> None:
        if text.strip():
            self._turns.append(m.HistoryTurn(role=role, text=text.strip()))

    def __len__(self) -> int:
        return len(self._turns)

    def shaped(self) -> list[m.HistoryTurn]:
        return shape(self._turns)
