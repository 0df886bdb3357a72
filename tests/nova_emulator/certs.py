"""A throwaway certificate authority and a localhost certificate, made when the emulator starts.

awscrt speaks HTTP/2 only over TLS, so the emulator needs a certificate the worker trusts: the
worker gets the CA through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from voice_dev.devca import issue, new_authority, private_pem


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    authority = new_authority("nova emulator test CA", days=2)
    cert, key = issue(authority, ("localhost", "127.0.0.1"), days=2)
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(authority.pem)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(private_pem(key))
    return files
