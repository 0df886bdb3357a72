"""The services as real processes on one NATS server: auth, any number of workers and edges, each
connecting as its own NATS user over TLS when the server has credentials (the testkit's own do)."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

from voice_dev.natsserver import free_port
from voice_proto.channels import Service

from .nats import NatsEndpoint
from .processes import ManagedProcess

#: The API keys every test stack accepts, by principal.
API_KEYS = {
    "alice": "alice-test-key-0123456789",
    "bob": "bob-test-key-9876543210",
    "ops": "ops-test-key-admin",
}


#: Seconds a service may take to answer its readiness probe. Generous: four Python services
#: starting at once on a loaded 2-core machine took over 30 s.
READY_TIMEOUT = 60.0


def script(name: str) -> str:
    return str(Path(sysconfig.get_path("scripts")) / name)


#: Typed texts a test stack's edge takes at once before ``text_rate_limited``.
TEXT_BURST = 50


class Stack:
    def __init__(self, nats: NatsEndpoint, work_dir: Path, **env: str) -> None:
        self.nats = nats
        self.work_dir = work_dir
        self.env = env
        self.processes: dict[str, ManagedProcess] = {}
        self.edge_ports: dict[str, int] = {}
        self.http_ports: dict[str, int] = {}
        #: Each process's ``/metrics`` port (see :meth:`metrics_url`).
        self.metrics_ports: dict[str, int] = {}
        self._ready_urls: dict[str, str] = {}

    def _env(self, role: Service, extra: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.nats.env(role.value))
        env.update(
            HF_HUB_OFFLINE="1",
            LOG_LEVEL="info",
            NATS_CONNECT_RETRY="10",
            AUTH_API_KEYS=",".join(f"{principal}={key}" for principal, key in API_KEYS.items()),
            AUTH_ADMIN_PRINCIPALS="ops",
            NOVA_ENGINE="loopback",
            NOVA_HEARTBEAT_INTERVAL="0.5",
            # A stopped worker hands its sessions over after at most 2 s of answers in progress
            # (the drain tests set their own).
            NOVA_DRAIN_TIMEOUT="2",
            EDGE_HEARTBEAT_TIMEOUT="2.0",
            EDGE_START_TIMEOUT="3.0",
            # Tests drive scripted engines with typed commands, and fault callers type, far faster
            # than a person: the per-connection text limit is lifted (its own test uses this burst).
            EDGE_TEXT_PER_MINUTE="6000",
            EDGE_TEXT_BURST=str(TEXT_BURST),
            # A stopped edge closes its calls with 1012 at once (the drain test sets its own).
            EDGE_DRAIN_TIMEOUT="0",
            # Files a service would keep in .data/ go to this stack's own folder.
            AUTH_DEV_KEY_PATH=str(self.work_dir / "auth-dev-key.pem"),
            TRANSCRIPTS_DATABASE_URL=f"sqlite+aiosqlite:///{self.work_dir / 'transcripts.db'}",
        )
        env.update(self.env)
        env.update(extra)
        return env

    def service_env(self, role: Service, **extra: str) -> dict[str, str]:
        """The environment a service of this stack gets (for a process the stack does not know),
        connecting to NATS as ``role``."""
        return self._env(role, extra)

    def _start(self, name: str, role: Service, port: int, env: dict[str, str], wait: bool) -> ManagedProcess:
        if name in self.processes and self.processes[name].running:
            raise ValueError(f"{name} is already running")
        command = script(f"voice-{role.value}")
        # Kept across restarts under the same name, like the service's own port.
        self.metrics_ports.setdefault(name, free_port())
        env = {"METRICS_PORT": str(self.metrics_ports[name]), **env}
        process = ManagedProcess(name, [command], self._env(role, env), self.work_dir).start()
        self.processes[name] = process
        self._ready_urls[name] = f"http://127.0.0.1:{port}/ready"
        if wait:
            process.wait_ready(self._ready_urls[name], READY_TIMEOUT)
        return process

    def wait_ready(self, *names: str, timeout: float = READY_TIMEOUT) -> None:
        """Wait until these processes (default: all started) answer their readiness probe."""
        for name in names or tuple(self.processes):
            self.processes[name].wait_ready(self._ready_urls[name], timeout)

    def start_auth(self, name: str = "auth", *, wait: bool = True, **env: str) -> ManagedProcess:
        port = free_port()
        return self._start(name, Service.AUTH, port, {"AUTH_HTTP_PORT": str(port), **env}, wait)

    def start_worker(self, name: str = "nova", *, wait: bool = True, **env: str) -> ManagedProcess:
        """A worker; its probes are at ``service_url(name)``, its metrics at ``metrics_url(name)``."""
        port = free_port()
        self.http_ports[name] = port
        env = {"NOVA_HTTP_PORT": str(port), "NOVA_WORKER_ID": name, **env}
        return self._start(name, Service.NOVA, port, env, wait)

    def start_edge(self, name: str = "edge", *, wait: bool = True, **env: str) -> ManagedProcess:
        """An edge on a free port, or on ``EDGE_PORT`` when given (a restart where clients expect
        the old one)."""
        port = int(env["EDGE_PORT"]) if "EDGE_PORT" in env else free_port()
        self.edge_ports[name] = port
        return self._start(name, Service.EDGE, port, {"EDGE_PORT": str(port), **env}, wait)

    def start_transcripts(
        self, name: str = "transcripts", *, wait: bool = True, **env: str
    ) -> ManagedProcess:
        """The transcripts service; its database is a SQLite file in the stack's folder unless
        ``TRANSCRIPTS_DATABASE_URL`` is given. Restarting it under the same name keeps its port."""
        port = self.http_ports.get(name) or free_port()
        self.http_ports[name] = port
        return self._start(name, Service.TRANSCRIPTS, port, {"TRANSCRIPTS_HTTP_PORT": str(port), **env}, wait)

    def start_recordings(self, name: str = "recordings", *, wait: bool = True, **env: str) -> ManagedProcess:
        """The recordings service (NATS object store unless ``RECORDINGS_STORAGE`` says otherwise).
        Restarting it under the same name keeps its port."""
        port = self.http_ports.get(name) or free_port()
        self.http_ports[name] = port
        return self._start(name, Service.RECORDINGS, port, {"RECORDINGS_HTTP_PORT": str(port), **env}, wait)

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http_ports[name]}"

    def metrics_url(self, name: str) -> str:
        """The process's Prometheus endpoint: exactly ``/metrics`` on its own port."""
        return f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"

    def start_spine(self, **env: str) -> Stack:
        """auth, one worker and one edge, started side by side."""
        self.start_auth(wait=False, **env)
        self.start_worker(wait=False, **env)
        self.start_edge(wait=False, **env)
        self.wait_ready()
        return self

    def ws_url(self, edge: str = "edge", query: str = "") -> str:
        return f"ws://127.0.0.1:{self.edge_ports[edge]}/ws" + (f"?{query}" if query else "")

    def http_url(self, edge: str = "edge") -> str:
        return f"http://127.0.0.1:{self.edge_ports[edge]}"

    def stop_all(self) -> dict[str, int]:
        """Stop edges first, then workers, then auth; returns each exit code."""
        order = sorted(self.processes, key=lambda n: (not n.startswith("edge"), not n.startswith("nova")))
        return {name: self.processes[name].stop() for name in order}
