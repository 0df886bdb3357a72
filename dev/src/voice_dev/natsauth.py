"""NATS credentials for ./run, the tests and compose, and the Secret the Helm chart reads.

``ensure_nats_auth(folder)`` makes, once, an NKEY user per service role (voice_proto.channels.Service)
plus ``admin`` (everything; for test observers and the ``nats`` CLI, never for a service), a
development CA and a server certificate signed by it, and writes the server's configuration: TLS,
and every user with the permissions voice_proto.permissions derives from the channel table.
Keys and certificates that exist are kept (a restart changes nothing a client holds); the
configuration is written again each time, so permissions follow the code.

Layout of the folder (compose mounts ``users/<role>`` alone into each service)::

    ca.pem, ca-key.pem             the development CA (voice_dev.devca)
    server/nats.conf               tls + authorization, included by nats-server -c
    server/cert.pem, server/key.pem
    users/<role>/seed.nk           the role's NKEY seed (NATS_NKEY_SEED_FILE)
    users/<role>/ca.pem            the CA certificate (NATS_TLS_CA)

    voice-nats-auth init DIR [--host nats]      what compose's nats-auth service runs
    voice-nats-auth secret --name NAME          a Kubernetes Secret of NKEY seeds for the chart
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nkeys
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from voice_proto.channels import Service
from voice_proto.permissions import permissions
from voice_proto.settings import NatsCredentials

from .devca import issue, load_or_create_authority, private_pem, san, write_private

#: A user with every permission: test observers and operators' tools, never a service.
ADMIN = "admin"
USERS = (*(role.value for role in Service), ADMIN)
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
_RENEW_BEFORE = dt.timedelta(days=30)


def new_user_seed() -> bytes:
    """A fresh NKEY user seed (``SU...``): 32 random bytes, encoded by the nkeys library."""
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))


def public_key(seed: bytes) -> str:
    return str(nkeys.from_seed(seed).public_key.decode())


@dataclass(frozen=True)
class NatsAuth:
    """The files of one NATS server's credentials (see the module's docstring for the layout)."""

    folder: Path

    @property
    def server_config(self) -> Path:
        return self.folder / "server" / "nats.conf"

    def user_dir(self, user: str) -> Path:
        return self.folder / "users" / user

    def seed_file(self, user: str) -> Path:
        return self.user_dir(user) / "seed.nk"

    def ca_file(self, user: str = ADMIN) -> Path:
        return self.user_dir(user) / "ca.pem"

    def credentials(self, user: str) -> NatsCredentials:
        return NatsCredentials(nkey_seed_file=self.seed_file(user), tls_ca=self.ca_file(user))

    def env(self, user: str) -> dict[str, str]:
        """The settings a service connecting as ``user`` reads (ServiceSettings)."""
        return {"NATS_NKEY_SEED_FILE": str(self.seed_file(user)), "NATS_TLS_CA": str(self.ca_file(user))}


def ensure_nats_auth(folder: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> NatsAuth:
    """Make what is missing in ``folder`` (keys are never replaced; the server certificate is made
    again when it lacks one of ``hosts`` or is about to expire), then write the configuration."""
    auth = NatsAuth(folder.resolve())
    (auth.folder / "server").mkdir(parents=True, exist_ok=True)
    authority = load_or_create_authority(
        auth.folder / "ca.pem", auth.folder / "ca-key.pem", "voice platform development NATS CA", days=3650
    )
    ca_pem = authority.pem
    seeds: dict[str, bytes] = {}
    for user in USERS:
        auth.user_dir(user).mkdir(parents=True, exist_ok=True)
        seed_file = auth.seed_file(user)
        if not seed_file.exists():
            write_private(seed_file, new_user_seed() + b"\n")
        seeds[user] = seed_file.read_bytes().strip()
        if not auth.ca_file(user).exists() or auth.ca_file(user).read_bytes() != ca_pem:
            auth.ca_file(user).write_bytes(ca_pem)
    cert_file, key_file = auth.folder / "server" / "cert.pem", auth.folder / "server" / "key.pem"
    if not _server_cert_fits(cert_file, hosts):
        cert, key = issue(authority, hosts, days=397, client_auth=True)
        write_private(key_file, private_pem(key))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    auth.server_config.write_text(server_config(seeds, cert_file, key_file))
    return auth


def server_config(seeds: dict[str, bytes], cert_file: Path, key_file: Path) -> str:
    """nats-server configuration: TLS required, and one NKEY user per entry of ``seeds``."""
    users = []
    for user, seed in seeds.items():
        entry: dict[str, object] = {"nkey": public_key(seed)}
        if user != ADMIN:
            entry["permissions"] = permissions(Service(user)).server_config()
        users.append(entry)
    return (
        "# Written by voice_dev.natsauth from voice_proto.permissions; edits are overwritten.\n"
        f"tls {{\n  cert_file: {json.dumps(str(cert_file))}\n  key_file: {json.dumps(str(key_file))}\n"
        "  timeout: 5\n}\n"
        f"authorization {{\n  users: {json.dumps(users, indent=2)}\n}}\n"
    )


def kubernetes_secret(name: str, namespace: str | None = None) -> str:
    """A Secret with a new NKEY seed (``<role>.nk``) and its public key (``<role>.pub``) per role:
    the chart mounts each service's seed into its pod and the public keys into NATS."""
    data: dict[str, str] = {}
    for role in Service:
        seed = new_user_seed()
        data[f"{role.value}.nk"] = seed.decode()
        data[f"{role.value}.pub"] = public_key(seed)
    metadata: dict[str, str] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": data,
    }
    return yaml.safe_dump(secret, sort_keys=False)


def _server_cert_fits(cert_file: Path, hosts: tuple[str, ...]) -> bool:
    if not cert_file.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if not all(san(host) in names for host in hosts):
        return False
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="voice-nats-auth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="make (or keep) the credentials of a NATS server in DIR")
    init.add_argument("folder", type=Path)
    init.add_argument(
        "--host",
        action="append",
        default=[],
        help="a name or address clients reach the server by (repeatable; 127.0.0.1 and localhost always)",
    )
    secret = commands.add_parser("secret", help="print a Kubernetes Secret of new NKEY users for the chart")
    secret.add_argument("--name", required=True)
    secret.add_argument("--namespace")
    args = parser.parse_args(argv)
    if args.command == "init":
        hosts = tuple(dict.fromkeys([*args.host, *DEFAULT_HOSTS]))
        auth = ensure_nats_auth(args.folder, hosts)
        print(f"NATS credentials in {auth.folder} (server configuration: {auth.server_config})")
    else:
        sys.stdout.write(kubernetes_secret(args.name, args.namespace))
