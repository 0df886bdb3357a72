"""The development issuer: signs short-lived JWTs for a local user name, so a developer can sign in
without a Cognito user pool. Off unless AUTH_DEV_ISSUER is set (``voice-dev up`` sets it).

Its RSA key is made once and kept in a file (mode 0600) so tokens survive restarts. Its tokens
look like Cognito access tokens and are checked by the same validator as Cognito's, against its
JWKS (also served over HTTP at ``/.well-known/jwks.json``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .jwks import JwksCache
from .tokens import Issuer

ISSUER = "urn:voice:dev-issuer"
CLIENT_ID = "voice-dev"
ALGORITHM = "RS256"
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class BadUsername(ValueError):
    pass


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: the SHA-256 of the key's required members, as the key id."""
    required = {name: jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class DevIssuer:
    def __init__(self, key: rsa.RSAPrivateKey, *, ttl: float = 900.0) -> None:
        self._key = key
        self._ttl = ttl
        public: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.kid = thumbprint(public)
        self._jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def issue(self, username: str) -> tuple[str, float]:
        """A token for ``username`` and its expiry (Unix time)."""
        if not USERNAME_PATTERN.match(username):
            raise BadUsername("a user name is 1-64 characters of A-Z a-z 0-9 . _ @ -")
        now = int(time.time())
        expires_at = now + int(self._ttl)
        claims = {
            "iss": ISSUER,
            "sub": username,
            "username": username,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "voice",
            "iat": now,
            "auth_time": now,
            "exp": expires_at,
            "jti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, float(expires_at)

    def trusted(self) -> Issuer:
        """How the validator accepts this issuer's tokens: through a JWKS cache, like any issuer."""

        async def source() -> dict[str, Any]:
            return self._jwks

        return Issuer(
            issuer=ISSUER,
            keys=JwksCache(source),
            audiences=frozenset({CLIENT_ID}),
            token_uses=frozenset({"access"}),
        )
