"""A nats-server of the test's own (or a cluster of them), on free ports, with JetStream in a
temporary folder, locked down the way production is: TLS with a CA made for it, and an NKEY user
per service with the permissions derived from the channel table (voice_dev.natsauth). Tests
connect as ``admin`` to watch the bus, or as a service's role to act as that service."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from voice_dev.natsauth import ADMIN, NatsAuth, ensure_nats_auth
from voice_dev.natsserver import ClusterMember, free_port, nats_server_command
from voice_proto import Bus
from voice_proto.settings import NatsCredentials

from .processes import ManagedProcess, ProcessFailed


@dataclass(frozen=True)
class NatsEndpoint:
    """Where NATS is and how each user proves who it is (``auth`` None: an open server, as one
    given by NATS_URL)."""

    url: str
    auth: NatsAuth | None = None

    def credentials(self, user: str) -> NatsCredentials | None:
        return None if self.auth is None else self.auth.credentials(user)

    def env(self, user: str) -> dict[str, str]:
        """The environment of a service connecting as ``user`` (a role name, or ``admin``)."""
        return {"NATS_URL": self.url, **(self.auth.env(user) if self.auth is not None else {})}

    async def connect(self, user: str = ADMIN, **options: Any) -> Bus:
        """A connection of the test's own as ``user`` (its replies come to that user's inbox)."""
        return await Bus.connect(self.url, user, credentials=self.credentials(user), **options)


class NatsServer:
    """One nats-server process. Stopping and starting it again keeps its port and store (a restart
    of the same node). ``auth``: credentials shared with other servers (a cluster's members);
    ``cluster``: the server's place in a cluster."""

    def __init__(
        self,
        work_dir: Path,
        port: int | None = None,
        *,
        secure: bool = True,
        auth: NatsAuth | None = None,
        cluster: ClusterMember | None = None,
    ) -> None:
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.store = work_dir / f"nats-{self.port}"
        self.auth = auth or (ensure_nats_auth(work_dir / f"nats-auth-{self.port}") if secure else None)
        self.cluster = cluster
        config = self.auth.server_config if self.auth is not None else None
        name = cluster.server_name if cluster is not None else f"nats-{self.port}"
        self.process = ManagedProcess(
            name,
            nats_server_command(
                self.port, self.store, config=config, monitor_port=self.monitor_port, cluster=cluster
            ),
            dict(os.environ),
            work_dir,
        )

    @property
    def url(self) -> str:
        return f"{'tls' if self.auth is not None else 'nats'}://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> NatsEndpoint:
        return NatsEndpoint(self.url, self.auth)

    async def connect(self, user: str = ADMIN, **options: Any) -> Bus:
        return await self.endpoint.connect(user, **options)

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start and wait until clients can connect (a cluster's member: see NatsCluster.start for
        when JetStream is ready)."""
        self.store.mkdir(parents=True, exist_ok=True)
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running:
                raise ProcessFailed(f"nats-server exited:\n{self.process.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise ProcessFailed(f"nats-server not listening on {self.port}")

    def healthy(self) -> bool:
        """The server's own health check passes: connected, and JetStream (in a cluster: its meta
        group and every stream and consumer it holds a copy of) current."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running:
                raise ProcessFailed(f"{self.process.name} exited:\n{self.process.log_text()[-4000:]}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise ProcessFailed(
            f"{self.process.name} not healthy after {timeout}s:\n{self.process.log_text()[-4000:]}"
        )

    def stop(self) -> None:
        self.process.stop()

    def client_names(self) -> list[str]:
        """The names of the clients connected to this server now (a service's is its name)."""
        response = httpx.get(f"http://127.0.0.1:{self.monitor_port}/connz", timeout=2.0)
        return [str(c.get("name", "")) for c in response.json().get("connections") or []]

    def kill(self) -> None:
        """SIGKILL: the server goes without telling its clients or its peers."""
        self.process.kill()


class NatsCluster:
    """``size`` nats-servers routed into one cluster, JetStream on each (each its own store), sharing
    one set of credentials: what operators run. ``endpoint.url`` lists every member, separated by
    commas, as NATS_URL does on a cluster.

    Members can be killed and started again (same port, same store) to inject faults; ``member_of``
    tells which one a connection is on.
    """

    def __init__(self, work_dir: Path, size: int = 3, *, secure: bool = True, name: str = "voice") -> None:
        self.auth = ensure_nats_auth(work_dir / "nats-auth") if secure else None
        route_ports = [free_port() for _ in range(size)]
        routes = tuple(f"nats://127.0.0.1:{port}" for port in route_ports)
        self.members = [
            NatsServer(
                work_dir,
                auth=self.auth,
                secure=secure,
                cluster=ClusterMember(
                    cluster_name=name,
                    server_name=f"{name}-{index}",
                    route_port=route_port,
                    routes=tuple(route for route in routes if route != routes[index]),
                ),
            )
            for index, route_port in enumerate(route_ports)
        ]

    @property
    def url(self) -> str:
        return ",".join(member.url for member in self.members)

    @property
    def endpoint(self) -> NatsEndpoint:
        return NatsEndpoint(self.url, self.auth)

    async def connect(self, user: str = ADMIN, **options: Any) -> Bus:
        return await self.endpoint.connect(user, **options)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every member, and return once each reports itself healthy (routes up, a JetStream
        meta leader elected)."""
        for member in self.members:
            member.start()
        for member in self.members:
            member.wait_healthy(timeout)
        return self

    def member_of(self, bus: Bus) -> NatsServer:
        """The member ``bus`` is connected to now."""
        url = bus.nc.connected_url
        if url is None:
            raise LookupError("not connected")
        for member in self.members:
            if member.port == url.port:
                return member
        raise LookupError(f"{url} is not a member of this cluster")

    def member_serving(self, client: str) -> NatsServer:
        """The member a client of that name (a service: ``edge``, ``nova``...) is connected to."""
        for member in self.members:
            if member.process.running and client in member.client_names():
                return member
        raise LookupError(f"no member serves {client}")

    def stop(self) -> None:
        for member in self.members:
            member.stop()
