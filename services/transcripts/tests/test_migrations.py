"""Alembic's revisions build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from voice_transcripts.db import create_engine
from voice_transcripts.migrate import is_current, upgrade
from voice_transcripts.models import Base


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    assert not await is_current(engine)
    await upgrade(engine)
    await upgrade(engine)  # again: nothing to do
    assert await is_current(engine)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    await engine.dispose()
