"""A nats-server of the test's own, on a free port, with JetStream in a temporary folder, locked
down the way production is: TLS with a CA made for it, and an NKEY user per service with the
permissions derived from the channel table (voice_dev.natsauth). Tests connect as ``admin`` to
watch the bus, or as a service's role to act as that service."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_dev.natsauth import ADMIN, NatsAuth, ensure_nats_auth
from voice_dev.natsserver import free_port, nats_server_command
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
    def __init__(self, work_dir: Path, port: int | None = None, *, secure: bool = True) -> None:
        self.port = port or free_port()
        self.store = work_dir / f"nats-{self.port}"
        self.auth = ensure_nats_auth(work_dir / f"nats-auth-{self.port}") if secure else None
        config = self.auth.server_config if self.auth is not None else None
        self.process = ManagedProcess(
            f"nats-{self.port}",
            nats_server_command(self.port, self.store, config=config),
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

    def stop(self) -> None:
        self.process.stop()
