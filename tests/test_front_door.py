"""The front door: ``voice-dev up`` (what ./run starts) brings the whole system up on a NATS server
locked down as in production (TLS, a user per service), prints the URL and a dev key that survive
restarts, as do the NATS credentials, and Ctrl-C stops every process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from voice_dev.natsserver import free_port
from voice_testkit.client import VoiceClient
from voice_testkit.stack import script

pytestmark = pytest.mark.stack


class DevRun:
    def __init__(self, data_dir: Path) -> None:
        self.edge_port = free_port()
        self.transcripts_port = free_port()
        self.nova_port = free_port()
        self.auth_port = free_port()
        self.recordings_port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "NATS_URL",
                "NATS_CREDS",
                "NATS_NKEY_SEED_FILE",
                "NATS_TLS_CA",
                "AUTH_API_KEYS",
                "AUTH_DEV_ISSUER",
                "TRANSCRIPTS_DATABASE_URL",
            )
        }
        env.update(
            EDGE_PORT=str(self.edge_port),
            NOVA_HTTP_PORT=str(self.nova_port),
            AUTH_HTTP_PORT=str(self.auth_port),
            TRANSCRIPTS_HTTP_PORT=str(self.transcripts_port),
            RECORDINGS_HTTP_PORT=str(self.recordings_port),
            NOVA_ENGINE="loopback",
        )
        self.proc = subprocess.Popen(
            [script("voice-dev"), "up", "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n{''.join(self.lines)}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Every service answers its readiness probe (each starts on its own; a client that comes
        before auth or a worker is up is told 1013, try again later)."""
        ports = (self.auth_port, self.nova_port, self.transcripts_port, self.recordings_port, self.edge_port)
        deadline = time.monotonic() + timeout
        for port in ports:
            url = f"http://127.0.0.1:{port}/ready"
            while True:
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} never got ready:\n{''.join(self.lines)}")
                time.sleep(0.1)

    def child_pids(self) -> list[int]:
        return [int(m.group(1)) for line in self.lines if (m := re.search(r"started \(pid=(\d+)\)", line))]

    def ctrl_c(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(30)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_run_prints_url_and_key_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    run = DevRun(tmp_path)
    try:
        url = run.wait_line(r"voice platform: (http://\S+)").group(1)
        key = run.wait_line(r"dev API key:\s+(\S+)").group(1)
        assert url == f"http://127.0.0.1:{run.edge_port}/"
        assert run.wait_line(r"NATS:\s+(\S+)").group(1).startswith("tls://127.0.0.1:")
        run.wait_line(r"NATS as admin:\s+NATS_NKEY_SEED_FILE=\S+")
        run.wait_ready()
        client = await VoiceClient.open(f"ws://127.0.0.1:{run.edge_port}/ws", key=key)
        await client.send_audio(b"\x01\x00" * 160)
        assert (await client.expect("media"))["pcm"] == b"\x01\x00" * 160
        await client.close()
        # The dev sign-in is on: a token for a name opens a session too.
        async with httpx.AsyncClient(base_url=url) as http:
            token = (await http.post("api/dev/token", json={"username": "dev-user"})).json()["token"]
        client = await VoiceClient.open(f"ws://127.0.0.1:{run.edge_port}/ws", bearer=token)
        await client.end()
        transcripts = run.wait_line(r"transcripts:\s+(http://\S+)").group(1)
        assert transcripts == f"http://127.0.0.1:{run.transcripts_port}/api/sessions"
        children = run.child_pids()
        assert len(children) == 6  # nats, auth, nova, edge, transcripts, recordings (on by default)
    finally:
        code = run.ctrl_c()
    assert code in (0, 130), "".join(run.lines)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)], "processes outlived Ctrl-C"
    assert (tmp_path / "nats").is_dir()  # JetStream data lives in the data folder
    assert (tmp_path / "transcripts.db").is_file()
    assert (tmp_path / "auth-dev-key.pem").is_file()
    seed = (tmp_path / "nats-auth" / "users" / "edge" / "seed.nk").read_text()
    assert seed.startswith("SU")
    assert (tmp_path / "nats-auth" / "users" / "edge" / "seed.nk").stat().st_mode & 0o777 == 0o600

    # The same key and the same NATS credentials after a restart.
    again = DevRun(tmp_path)
    try:
        assert again.wait_line(r"dev API key:\s+(\S+)").group(1) == key
        assert (tmp_path / "nats-auth" / "users" / "edge" / "seed.nk").read_text() == seed
    finally:
        again.ctrl_c()
