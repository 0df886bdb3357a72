"""A nats-server of the test's own, on a free port, with JetStream in a temporary folder."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from voice_dev.natsserver import free_port, nats_server_command

from .processes import ManagedProcess, ProcessFailed


class NatsServer:
    def __init__(self, work_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.store = work_dir / f"nats-{self.port}"
        self.process = ManagedProcess(
            f"nats-{self.port}", nats_server_command(self.port, self.store), dict(os.environ), work_dir
        )

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

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
