"""The domain: records in, sessions and turns out.

``apply`` stores a batch of stream records in one transaction and is idempotent: a turn is keyed
by its session and its JetStream stream sequence (the same on every redelivery; the worker's own
``seq`` restarts when another worker takes the session over, so it cannot be the key), inserted
with ON CONFLICT DO NOTHING; lifecycle updates only ever move a session towards the same end
state. So a batch redelivered after a crash between commit and acknowledgement changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from voice_proto import messages as m
from voice_proto.streams import Record

from .models import DeletedSession, SessionRow, TurnRow


@dataclass(frozen=True)
class SessionSummary:
    session: SessionRow
    turns: int


@dataclass(frozen=True)
class Page:
    sessions: list[SessionSummary]
    #: Pass back as ``after`` for the next page; None on the last one.
    after: tuple[datetime, str] | None


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert: Any = dialect.insert

    # --- writing ------------------------------------------------------------------------------

    async def apply(self, records: Sequence[Record]) -> int:
        """Store a batch; returns how many turns were new. Commits once, or raises and stores nothing."""
        if not records:
            return 0
        async with self._sessions.begin() as db:
            gone = set(
                (
                    await db.scalars(
                        select(DeletedSession.session_id).where(
                            DeletedSession.session_id.in_({r.session_id for r in records})
                        )
                    )
                ).all()
            )
            live = [r for r in records if r.session_id not in gone]
            if not live:
                return 0
            await self._ensure_sessions(db, live)
            turns = [
                {
                    "session_id": r.session_id,
                    "stream_seq": r.stream_seq,
                    "turn_id": r.message.turn_id,
                    "role": r.message.role.value,
                    "text": r.message.text,
                    "interrupted": r.message.interrupted,
                    "spoken_at": r.stored_at,
                }
                for r in live
                if isinstance(r.message, m.Transcript) and r.message.stage is m.Stage.FINAL
            ]
            new = 0
            if turns:
                result = await db.execute(
                    self._insert(TurnRow)
                    .on_conflict_do_nothing(index_elements=["session_id", "stream_seq"])
                    .returning(TurnRow.id),
                    turns,
                )
                new = len(result.all())
            for record in live:
                if isinstance(record.message, m.Lifecycle):
                    await self._lifecycle(db, record.session_id, record.message)
            return new

    async def _ensure_sessions(self, db: AsyncSession, records: Sequence[Record]) -> None:
        first: dict[str, dict[str, Any]] = {}
        for r in records:
            principal = r.message.principal if isinstance(r.message, m.Lifecycle) else ""
            entry = first.setdefault(
                r.session_id,
                {
                    "session_id": r.session_id,
                    "principal": "",
                    "started_at": r.stored_at,
                    "ended_at": None,
                    "end_reason": "",
                },
            )
            entry["principal"] = entry["principal"] or principal
            entry["started_at"] = min(entry["started_at"], r.stored_at)
        await db.execute(
            self._insert(SessionRow).on_conflict_do_nothing(index_elements=["session_id"]),
            list(first.values()),
        )

    async def _lifecycle(self, db: AsyncSession, session_id: str, event: m.Lifecycle) -> None:
        at = _at(event.at)
        row = SessionRow.__table__.c
        values: dict[str, Any] = {
            # A transcript may have been stored before the session's first lifecycle event.
            "principal": case((row.principal == "", event.principal), else_=row.principal),
            "started_at": case((row.started_at > at, at), else_=row.started_at),
        }
        await db.execute(update(SessionRow).where(row.session_id == session_id).values(values))
        if event.kind is m.LifecycleKind.ENDED:
            # The first end is the one that counts; a redelivered or a second one changes nothing.
            await db.execute(
                update(SessionRow)
                .where(row.session_id == session_id, row.ended_at.is_(None))
                .values(ended_at=at, end_reason=event.reason or "ended")
            )

    # --- reading ------------------------------------------------------------------------------

    async def page(
        self,
        *,
        principal: str | None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        after: tuple[datetime, str] | None = None,
    ) -> Page:
        """Sessions newest first; ``principal`` None means everyone's."""
        turns = (
            select(func.count(TurnRow.id))
            .where(TurnRow.session_id == SessionRow.session_id)
            .scalar_subquery()
        )
        query = select(SessionRow, turns)
        if principal is not None:
            query = query.where(SessionRow.principal == principal)
        if since is not None:
            query = query.where(SessionRow.started_at >= since)
        if until is not None:
            query = query.where(SessionRow.started_at < until)
        if after is not None:
            at, session_id = after
            query = query.where(
                or_(
                    SessionRow.started_at < at,
                    and_(SessionRow.started_at == at, SessionRow.session_id < session_id),
                )
            )
        query = query.order_by(SessionRow.started_at.desc(), SessionRow.session_id.desc()).limit(limit + 1)
        async with self._sessions() as db:
            rows = (await db.execute(query)).all()
        summaries = [SessionSummary(row[0], int(row[1])) for row in rows[:limit]]
        last = summaries[-1].session if len(rows) > limit else None
        return Page(summaries, (last.started_at, last.session_id) if last else None)

    async def session(self, session_id: str) -> SessionRow | None:
        async with self._sessions() as db:
            return await db.get(SessionRow, session_id)

    async def turns(self, session_id: str) -> list[TurnRow]:
        """In the order they were said (the order of the stream)."""
        async with self._sessions() as db:
            query = select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.stream_seq)
            return list((await db.scalars(query)).all())

    # --- deleting -----------------------------------------------------------------------------

    async def delete(self, session_id: str, now: datetime) -> bool:
        """Delete a session and its turns, and remember it so that a replay does not bring it back."""
        async with self._sessions.begin() as db:
            result = await db.execute(delete(SessionRow).where(SessionRow.session_id == session_id))
            await db.execute(
                self._insert(DeletedSession)
                .values(session_id=session_id, deleted_at=now)
                .on_conflict_do_nothing(index_elements=["session_id"])
            )
            # Turns go with their session (ON DELETE CASCADE); this covers a database without it.
            await db.execute(delete(TurnRow).where(TurnRow.session_id == session_id))
            return bool(getattr(result, "rowcount", 0))

    async def purge(self, *, started_before: datetime, forget_deletions_before: datetime) -> int:
        """Retention: delete sessions that started before the cut-off; returns how many."""
        async with self._sessions.begin() as db:
            old = select(SessionRow.session_id).where(SessionRow.started_at < started_before)
            await db.execute(delete(TurnRow).where(TurnRow.session_id.in_(old)))
            result = await db.execute(delete(SessionRow).where(SessionRow.started_at < started_before))
            # Once the stream no longer holds a deleted session's records, nothing can replay them.
            await db.execute(
                delete(DeletedSession).where(DeletedSession.deleted_at < forget_deletions_before)
            )
            return int(getattr(result, "rowcount", 0))

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True
