"""Databases for tests: a SQLite file in the test's folder, or a PostgreSQL database of the test's
own (created with a unique name, dropped afterwards) on the server at ``TEST_POSTGRES_URL``
(default: the trust-auth server of the development machines, 127.0.0.1:5432)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DEFAULT_ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(admin_url(), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database; skips the test (saying why) when no server is reachable."""
    name = f"voice_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(
            f"PostgreSQL not reachable at {admin_url()} ({exc}); set TEST_POSTGRES_URL to run this test"
        )
    url = urlunsplit(urlsplit(admin_url())._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'test.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes it runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        with postgres_database() as url:
            yield url
