"""Sessions, their turns, and deleted sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from voice_transcripts.models import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("principal", sa.String(256), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=False),
    )
    op.create_index("ix_sessions_principal", "sessions", ["principal"])
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_table(
        "turns",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.session_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("spoken_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("session_id", "stream_seq", name="uq_turns_session_stream_seq"),
    )
    op.create_table(
        "deleted_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("deleted_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_deleted_sessions_deleted_at", "deleted_sessions", ["deleted_at"])


def downgrade() -> None:
    op.drop_table("deleted_sessions")
    op.drop_table("turns")
    op.drop_table("sessions")
