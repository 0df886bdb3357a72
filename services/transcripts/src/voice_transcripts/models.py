"""The schema. Alembic's revisions in ``migrations/`` create it; a test keeps the two in step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps no time zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Empty until the session's lifecycle says whose it is (a transcript may be stored first).
    principal: Mapped[str] = mapped_column(String(256), default="", index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(64), default="")


class TurnRow(Base):
    """One FINAL transcript: what the user or the assistant said."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("session_id", "stream_seq", name="uq_turns_session_stream_seq"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"))
    #: The JetStream stream sequence of the record: the key that makes redelivery harmless.
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    turn_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When it was said: the time the stream stored the FINAL transcript (the server's clock).
    spoken_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeletedSession(Base):
    """A session deleted through the API: records of it that are replayed later are dropped."""

    __tablename__ = "deleted_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
