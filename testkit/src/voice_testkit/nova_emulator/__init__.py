"""A Nova Sonic emulator that the unmodified ``aws-sdk-bedrock-runtime`` reaches through
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``: HTTP/2 over TLS (a test CA made at start), AWS event-stream
framing, a scriptable fake model, and a validator of every event the client sends.

``EmulatorThread`` runs it beside a test (its own event loop in a thread); ``python -m
voice_testkit.nova_emulator`` runs it as a process.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .certs import TlsFiles, make_tls_files
from .model import Answer, ModelConfig, StreamPlan, StreamRecord
from .server import EmulatorServer

__all__ = [
    "Answer",
    "EmulatorServer",
    "EmulatorThread",
    "ModelConfig",
    "StreamPlan",
    "StreamRecord",
    "worker_env",
]


def worker_env(url: str, tls: TlsFiles, work_dir: Path) -> dict[str, str]:
    """What a worker process needs to reach the emulator: pure configuration, no code change."""
    return {
        "NOVA_ENGINE": "bedrock",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
        "SSL_CERT_FILE": str(tls.ca),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEMULATOR",
        "AWS_SECRET_ACCESS_KEY": "emulator-secret",
        # Whatever profiles the machine has stay out of it.
        "AWS_CONFIG_FILE": str(work_dir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work_dir / "no-aws-credentials"),
    }


class EmulatorThread:
    """The emulator on an event loop of its own, so that tests of any loop scope can share it."""

    def __init__(self, work_dir: Path, config: ModelConfig | None = None) -> None:
        self.tls = make_tls_files(work_dir / "tls")
        self.work_dir = work_dir
        self.server = EmulatorServer(self.tls, config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nova-emulator", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        self._call(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(15)

    @property
    def url(self) -> str:
        return self.server.url

    def env(self) -> dict[str, str]:
        return worker_env(self.url, self.tls, self.work_dir)
