"""JWT validation against a JWKS served over HTTP by the test: what passes, and every way a token
is refused, each with its reason code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from voice_auth.jwks import JwksCache, http_source
from voice_auth.tokens import Issuer, JwtValidator, Refused, check_algorithms

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT_ID = "web-client-id"


class JwksServer:
    """Serves ``/jwks.json`` from a thread; the test changes ``keys`` to publish a rotation."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Signer:
    def __init__(self, kid: str, *, ec_key: bool = False) -> None:
        self.kid = kid
        self.key: Any
        if ec_key:
            self.key, self.algorithm = ec.generate_private_key(ec.SECP256R1()), "ES256"
            public = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        else:
            self.key, self.algorithm = rsa.generate_private_key(65537, 2048), "RS256"
            public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = {**public, "kid": kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(
            self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid, **header})


def access_claims(**overrides: Any) -> dict[str, Any]:
    """What a Cognito access token says."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "3f6a-user-sub",
        "client_id": CLIENT_ID,
        "token_use": "access",
        "username": "alice",
        "cognito:groups": ["staff"],
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


@pytest.fixture
def signer(jwks: JwksServer) -> Signer:
    s = Signer("key-2026-01")
    jwks.keys = [s.jwk]
    return s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def validator(
    jwks: JwksServer, *, token_uses: tuple[str, ...] = ("access",), clock: Clock | None = None
) -> JwtValidator:
    keys = JwksCache(http_source(jwks.url), min_refresh_interval=30, max_age=3600, clock=clock or Clock())
    issuer = Issuer(
        issuer=ISSUER, keys=keys, audiences=frozenset({CLIENT_ID}), token_uses=frozenset(token_uses)
    )
    return JwtValidator([issuer], algorithms=["RS256", "ES256"], leeway=5)


async def reason(v: JwtValidator, token: str) -> str:
    with pytest.raises(Refused) as refused:
        await v.verify(token)
    return refused.value.reason


async def test_a_cognito_access_token_is_accepted(jwks: JwksServer, signer: Signer) -> None:
    claims = access_claims()
    verified = await validator(jwks).verify(signer.sign(claims))
    assert verified.principal == "3f6a-user-sub"
    assert verified.groups == ("staff",)
    assert verified.expires_at == claims["exp"]


async def test_an_id_token_checks_aud_and_needs_its_token_use(jwks: JwksServer, signer: Signer) -> None:
    id_token = signer.sign(access_claims(client_id=None, aud=CLIENT_ID, token_use="id"))
    assert (await validator(jwks, token_uses=("id",)).verify(id_token)).principal == "3f6a-user-sub"
    assert await reason(validator(jwks), id_token) == "wrong_token_use"


async def test_an_elliptic_curve_key_on_the_allow_list_works(jwks: JwksServer) -> None:
    signer = Signer("ec-key", ec_key=True)
    jwks.keys = [signer.jwk]
    assert (await validator(jwks).verify(signer.sign(access_claims()))).principal == "3f6a-user-sub"


async def test_refusals_carry_the_right_reason(jwks: JwksServer, signer: Signer) -> None:
    v = validator(jwks)
    now = int(time.time())
    assert await reason(v, signer.sign(access_claims(exp=now - 60))) == "expired"
    assert await reason(v, signer.sign(access_claims(nbf=now + 120))) == "not_yet_valid"
    assert await reason(v, signer.sign(access_claims(iat=now + 120))) == "not_yet_valid"
    assert await reason(v, signer.sign(access_claims(iss="https://evil.example"))) == "wrong_issuer"
    assert await reason(v, signer.sign(access_claims(client_id="another-app"))) == "wrong_audience"
    assert await reason(v, signer.sign(access_claims(client_id=None))) == "wrong_audience"
    assert await reason(v, signer.sign(access_claims(token_use="id"))) == "wrong_token_use"
    assert await reason(v, signer.sign(access_claims(exp=None))) == "missing_claim"
    assert await reason(v, signer.sign(access_claims(), kid="nobody-knows-me")) == "unknown_kid"
    assert await reason(v, "not-a-jwt") == "malformed"


async def test_alg_none_is_refused(jwks: JwksServer, signer: Signer) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": signer.kid}, access_claims()) + "."
    assert await reason(validator(jwks), token) == "alg_not_allowed"


async def test_hs256_signed_with_the_public_key_is_refused(jwks: JwksServer, signer: Signer) -> None:
    # The classic confusion attack: the verifier's public key used as an HMAC secret.
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": signer.kid}, access_claims())
    mac = hmac.new(signer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    assert await reason(validator(jwks), f"{signing_input}.{b64(mac)}") == "alg_not_allowed"


async def test_an_rsa_key_is_not_used_for_an_ec_algorithm(jwks: JwksServer, signer: Signer) -> None:
    other = Signer(signer.kid, ec_key=True)  # signs ES256 under the RSA key's id
    assert await reason(validator(jwks), other.sign(access_claims())) == "alg_not_allowed"


async def test_a_tampered_payload_is_refused(jwks: JwksServer, signer: Signer) -> None:
    header, _payload, signature = signer.sign(access_claims()).split(".")
    forged = b64(json.dumps(access_claims(sub="admin-user", **{"cognito:groups": ["admin"]})).encode())
    assert await reason(validator(jwks), f"{header}.{forged}.{signature}") == "bad_signature"


async def test_a_tampered_signature_is_refused(jwks: JwksServer, signer: Signer) -> None:
    header, payload, signature = signer.sign(access_claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    assert await reason(validator(jwks), f"{header}.{payload}.{b64(bytes(raw))}") == "bad_signature"


async def test_a_rotated_key_is_picked_up_and_unknown_kids_are_rate_limited(
    jwks: JwksServer, signer: Signer
) -> None:
    clock = Clock()
    v = validator(jwks, clock=clock)
    await v.verify(signer.sign(access_claims()))
    assert jwks.requests == 1

    rotated = Signer("key-2026-02")
    jwks.keys = [signer.jwk, rotated.jwk]  # the issuer publishes its next key
    clock.now += 31  # past the refresh interval since the last fetch
    assert (await v.verify(rotated.sign(access_claims()))).principal == "3f6a-user-sub"
    assert jwks.requests == 2

    # Invented key ids cause at most one fetch per interval, and known keys keep working.
    for n in range(20):
        assert await reason(v, rotated.sign(access_claims(), kid=f"invented-{n}")) == "unknown_kid"
    assert jwks.requests == 2
    await v.verify(signer.sign(access_claims()))
    assert jwks.requests == 2


async def test_an_unreachable_jwks_is_the_servers_fault(signer: Signer) -> None:
    with JwksServer() as gone:
        url = gone.url
    keys = JwksCache(http_source(url, timeout=1), min_refresh_interval=0)
    issuer = Issuer(issuer=ISSUER, keys=keys, audiences=frozenset({CLIENT_ID}))
    assert await reason(JwtValidator([issuer]), signer.sign(access_claims())) == "jwks_unavailable"


@pytest.mark.parametrize("algorithms", [["HS256"], ["RS256", "none"], []])
def test_only_asymmetric_algorithms_may_be_allowed(algorithms: list[str]) -> None:
    with pytest.raises(ValueError, match="JWT algorithm"):
        check_algorithms(algorithms)
