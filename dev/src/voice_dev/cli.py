"""``voice-dev up``: the whole system on its embedded defaults, each service its own process under
honcho. Starts a NATS server with JetStream (data in .data/nats) unless NATS_URL is given, locked
down as in production: TLS with a development CA, and an NKEY user per service allowed only the
subjects it uses (made once and kept in .data/nats-auth; voice_dev.natsauth). Makes a
dev API key once (kept in .data/dev-api-key) unless AUTH_API_KEYS is given, turns the auth
service's dev issuer on (its key in .data/auth-dev-key.pem) unless AUTH_DEV_ISSUER says otherwise,
keeps transcripts in .data/transcripts.db unless TRANSCRIPTS_DATABASE_URL is given, records every
conversation (the recordings service, in the NATS object store) unless VOICE_RECORDINGS=off, prints
the URLs and the key. Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import sysconfig
from pathlib import Path

from honcho.manager import Manager

from .natsauth import ADMIN, NatsAuth, ensure_nats_auth
from .natsserver import free_port, nats_server_command, port_is_free

DEFAULT_NATS_PORT = 4222


class Supervisor(Manager):  # type: ignore[misc]
    """honcho's Manager, safe against Ctrl-C while processes are still starting.

    honcho terminates only the processes that already reported a pid and then never again, so a
    process that starts a moment later would run forever (and honcho with it). A stop asked for
    during start-up is held until every process has started, then sent to all.
    """

    _stop_held = False

    def terminate(self) -> None:
        if not super()._all_started():
            self._stop_held = True
            return
        super().terminate()

    def _all_started(self) -> bool:
        started: bool = super()._all_started()
        if started and self._stop_held:
            self._stop_held = False
            super().terminate()
        return started


def dev_api_key(data_dir: Path) -> str:
    """The dev API key: made once, then the same across restarts."""
    path = data_dir / "dev-api-key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key


def _script(name: str) -> str:
    return str(Path(sysconfig.get_path("scripts")) / name)


def _check_port(name: str, port: int) -> None:
    if not port_is_free(port):
        sys.exit(f"error: port {port} for {name} is taken; set its port variable to another one")


def up(data_dir: Path) -> int:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("NOVA_ENGINE", "local")
    manager = Supervisor()

    nats_auth: NatsAuth | None = None
    if "NATS_URL" not in env:
        port = DEFAULT_NATS_PORT if port_is_free(DEFAULT_NATS_PORT) else free_port()
        store = data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        nats_auth = ensure_nats_auth(data_dir / "nats-auth")
        command = nats_server_command(port, store, config=nats_auth.server_config)
        manager.add_process("nats", " ".join(command), env=env)
        env["NATS_URL"] = f"tls://127.0.0.1:{port}"

    api_key = ""
    if not env.get("AUTH_API_KEYS"):
        api_key = dev_api_key(data_dir)
        env["AUTH_API_KEYS"] = f"dev={api_key}"

    env.setdefault("AUTH_DEV_ISSUER", "true")
    # Ctrl-C stops at once: a browser left open resumes on the next run anyway.
    env.setdefault("EDGE_DRAIN_TIMEOUT", "0")
    env.setdefault("AUTH_DEV_KEY_PATH", str(data_dir / "auth-dev-key.pem"))
    env.setdefault("TRANSCRIPTS_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'transcripts.db'}")

    edge_port = int(env.setdefault("EDGE_PORT", "8000"))
    for name, variable, default in (
        ("edge", "EDGE_PORT", "8000"),
        ("nova", "NOVA_HTTP_PORT", "8081"),
        ("auth", "AUTH_HTTP_PORT", "8082"),
        ("transcripts", "TRANSCRIPTS_HTTP_PORT", "8083"),
        ("recordings", "RECORDINGS_HTTP_PORT", "8084"),
    ):
        _check_port(name, int(env.setdefault(variable, default)))
    host = env.get("EDGE_HOST", "127.0.0.1")
    env.setdefault("TRANSCRIPTS_CORS_ORIGINS", f"http://{host}:{edge_port}")
    services = ["auth", "nova", "edge", "transcripts"]
    recordings = ""
    if env.get("VOICE_RECORDINGS", "on").lower() not in ("0", "false", "no", "off"):
        services.append("recordings")
        recordings = f"http://{env.get('RECORDINGS_HTTP_HOST', '127.0.0.1')}:{env['RECORDINGS_HTTP_PORT']}"
        env.setdefault("RECORDINGS_CORS_ORIGINS", f"http://{host}:{edge_port}")
        # The edge tells the browser the conversation is recorded, and where the recordings are.
        env.setdefault("EDGE_RECORDING", "true")
        env.setdefault("EDGE_RECORDINGS_URL", recordings)

    for service in services:
        # Each service connects as its own NATS user (with NATS_URL given, as the caller says).
        own = nats_auth.env(service) if nats_auth is not None else {}
        manager.add_process(service, _script(f"voice-{service}"), env={**env, **own})

    transcripts = f"http://{env.get('TRANSCRIPTS_HTTP_HOST', '127.0.0.1')}:{env['TRANSCRIPTS_HTTP_PORT']}"
    print(f"\n  voice platform: http://{host}:{edge_port}/   (WebSocket: ws://{host}:{edge_port}/ws)")
    print(f"  NATS:           {env['NATS_URL']}")
    if nats_auth is not None:
        admin = nats_auth.env(ADMIN)
        print(f"  NATS as admin:  NATS_NKEY_SEED_FILE={admin['NATS_NKEY_SEED_FILE']}")
        print(f"                  NATS_TLS_CA={admin['NATS_TLS_CA']}")
    print(f"  engine:         {env['NOVA_ENGINE']}")
    print(f"  transcripts:    {transcripts}/api/sessions")
    if recordings:
        print(f"  recordings:     {recordings}/api/recordings   (every conversation is recorded)")
    if api_key:
        print(f"  dev API key:    {api_key}   (subprotocol key.{api_key})")
    if env["AUTH_DEV_ISSUER"].lower() in ("1", "true", "yes", "on"):
        print(f'  dev sign-in:    POST http://{host}:{edge_port}/api/dev/token {{"username": "you"}}')
    print("  Ctrl-C stops everything.\n", flush=True)
    manager.loop()
    return int(manager.returncode or 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="voice-dev", description=__doc__)
    parser.add_argument("command", choices=["up"], help="up: run the whole system")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("VOICE_DATA_DIR", ".data")))
    args = parser.parse_args(argv)
    try:
        sys.exit(up(args.data_dir.resolve()))
    except KeyboardInterrupt:  # before the supervisor took over the signal: nothing was started
        sys.exit(130)
