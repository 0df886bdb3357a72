"""Alembic's environment: runs on the connection the service hands over (``migrate.upgrade``), or
on its own async engine when Alembic's command line is used with ``-x url=...``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from voice_transcripts.db import create_engine
from voice_transcripts.models import Base

#: Any fixed number: replicas starting together on PostgreSQL migrate one after the other.
_MIGRATION_LOCK = 0x766F6963


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        context.run_migrations()


async def run_on_own_engine(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


shared = context.config.attributes.get("connection")
if shared is not None:
    run_migrations(shared)
else:
    asyncio.run(run_on_own_engine(context.get_x_argument(as_dictionary=True)["url"]))
