"""Schema migrations with Alembic, run at start-up (``TRANSCRIPTS_MIGRATE_ON_START``) or as a step
of its own (``voice-transcripts migrate``, e.g. a Kubernetes job before a rollout)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision, in one transaction."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def is_current(engine: AsyncEngine) -> bool:
    """The database is at the newest revision (readiness, when migrations run elsewhere)."""

    def check(connection: Connection) -> bool:
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        return set(MigrationContext.configure(connection).get_current_heads()) == heads

    async with engine.connect() as connection:
        return await connection.run_sync(check)
