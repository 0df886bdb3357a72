"""Per-session statistics in SQLite, counted exactly once per record.

Each record's stream sequence goes into ``counted`` in the same transaction as the counters it
moves; a redelivered record finds its sequence there and changes nothing. Sequences the stream no
longer holds can never come again, so they are forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from voice_proto import messages as m
from voice_proto.streams import Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counted (stream_seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    principal TEXT NOT NULL DEFAULT '',
    started_at REAL,
    ended_at REAL,
    end_reason TEXT NOT NULL DEFAULT '',
    user_turns INTEGER NOT NULL DEFAULT 0,
    assistant_turns INTEGER NOT NULL DEFAULT 0,
    interruptions INTEGER NOT NULL DEFAULT 0,
    user_words INTEGER NOT NULL DEFAULT 0,
    assistant_words INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_at);
"""


@dataclass(frozen=True)
class SessionStats:
    session_id: str
    principal: str
    started_at: float | None
    ended_at: float | None
    end_reason: str
    turns: dict[str, int]
    interruptions: int
    words: dict[str, int]

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        length = round(end - self.started_at, 3) if self.started_at is not None else None
        return {
            "sessionId": self.session_id,
            "principal": self.principal,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "endReason": self.end_reason or None,
            "lengthSeconds": length,
            "turns": self.turns,
            "interruptions": self.interruptions,
            "words": self.words,
        }


class StatsStore:
    """The statistics in the SQLite file at ``path``; usable between :meth:`open` and :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: aiosqlite.Connection | None = None

    @property
    def _db(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise RuntimeError("StatsStore.open() was not awaited")
        return self._connection

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = await aiosqlite.connect(self._path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.executescript(_SCHEMA)
        await self._db.commit()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def count(self, records: Sequence[Record]) -> None:
        """Count a batch in one transaction (committed before the caller acknowledges it)."""
        try:
            for record in records:
                await self._count(record)
            await self._db.commit()
        except BaseException:
            await self._db.rollback()
            raise

    async def _count(self, record: Record) -> None:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO counted (stream_seq) VALUES (?)", (record.stream_seq,)
        )
        if cursor.rowcount == 0:
            return  # counted before: a redelivery
        at = record.stored_at.timestamp()
        await self._db.execute(
            "INSERT OR IGNORE INTO sessions (session_id, started_at) VALUES (?, ?)", (record.session_id, at)
        )
        message = record.message
        if isinstance(message, m.Lifecycle):
            await self._db.execute(
                "UPDATE sessions SET principal = CASE WHEN principal = '' THEN ? ELSE principal END,"
                " started_at = MIN(started_at, ?) WHERE session_id = ?",
                (message.principal, message.at, record.session_id),
            )
            if message.kind is m.LifecycleKind.ENDED:
                await self._db.execute(
                    "UPDATE sessions SET ended_at = ?, end_reason = ?"
                    " WHERE session_id = ? AND ended_at IS NULL",
                    (message.at, message.reason, record.session_id),
                )
        elif message.stage is m.Stage.FINAL:
            role = "user" if message.role is m.Role.USER else "assistant"
            await self._db.execute(
                f"UPDATE sessions SET {role}_turns = {role}_turns + 1, {role}_words = {role}_words + ?,"  # noqa: S608 - role is one of two names
                " interruptions = interruptions + ? WHERE session_id = ?",
                (len(message.text.split()), int(message.interrupted), record.session_id),
            )

    async def forget_before(self, first_seq: int) -> None:
        await self._db.execute("DELETE FROM counted WHERE stream_seq < ?", (first_seq,))
        await self._db.commit()

    async def session(self, session_id: str) -> SessionStats | None:
        async with self._db.execute(_SELECT + " WHERE session_id = ?", (session_id,)) as cursor:
            row = await cursor.fetchone()
        return _stats(row) if row else None

    async def recent(self, limit: int) -> list[SessionStats]:
        async with self._db.execute(_SELECT + " ORDER BY started_at DESC LIMIT ?", (limit,)) as cursor:
            return [_stats(row) for row in await cursor.fetchall()]


_SELECT = (
    "SELECT session_id, principal, started_at, ended_at, end_reason, user_turns, assistant_turns,"
    " interruptions, user_words, assistant_words FROM sessions"
)


def _stats(row: Any) -> SessionStats:
    return SessionStats(
        session_id=row[0],
        principal=row[1],
        started_at=row[2],
        ended_at=row[3],
        end_reason=row[4],
        turns={"user": row[5], "assistant": row[6]},
        interruptions=row[7],
        words={"user": row[8], "assistant": row[9]},
    )
