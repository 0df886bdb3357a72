"""auth.validate over a real NATS server, in a queue group."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from voice_auth.apikeys import ApiKeyStore
from voice_auth.devissuer import DevIssuer, load_or_create_key
from voice_auth.failures import FailureLimiter
from voice_auth.service import AuthService
from voice_auth.tokens import JwtValidator
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_testkit.nats import NatsEndpoint


@pytest.fixture
async def bus(nats_endpoint: NatsEndpoint) -> AsyncIterator[Bus]:
    bus = await nats_endpoint.connect()
    service = AuthService(bus, ApiKeyStore("alice=secret-a"))
    await service.start()
    await bus.flush()
    yield bus
    await bus.drain()


async def ask(bus: Bus, scheme: m.CredentialScheme, credential: str) -> m.ValidateReply:
    request = m.ValidateRequest(scheme=scheme, credential=credential, source="127.0.0.1")
    reply: m.ValidateReply = await bus.request(channels.AUTH_VALIDATE, request, timeout=2)
    return reply


async def test_known_key_gets_principal_and_expiry(bus: Bus) -> None:
    reply = await ask(bus, m.CredentialScheme.API_KEY, "secret-a")
    assert reply.ok
    assert reply.principal == "alice"
    assert reply.expires_at > 0


async def test_unknown_key_gets_a_reason(bus: Bus) -> None:
    reply = await ask(bus, m.CredentialScheme.API_KEY, "secret-b")
    assert not reply.ok
    assert reply.reason == "unknown_key"


async def test_bearer_is_not_accepted_without_a_jwt_validator(bus: Bus) -> None:
    reply = await ask(bus, m.CredentialScheme.BEARER, "eyJ.x.y")
    assert not reply.ok
    assert reply.reason == "unsupported_scheme"


async def test_failures_from_one_source_are_rate_limited(nats_endpoint: NatsEndpoint) -> None:
    bus = await nats_endpoint.connect()
    service = AuthService(bus, ApiKeyStore("alice=secret-a"), limiter=FailureLimiter(burst=3, per_minute=1))

    def request(credential: str, source: str) -> m.ValidateRequest:
        return m.ValidateRequest(scheme=m.CredentialScheme.API_KEY, credential=credential, source=source)

    reasons = [(await service.validate(request(f"guess-{n}", "10.0.0.9"))).reason for n in range(4)]
    assert reasons == ["unknown_key"] * 3 + ["rate_limited"]
    # Blocked means blocked, even for a good key; another address is not affected.
    assert (await service.validate(request("secret-a", "10.0.0.9"))).reason == "rate_limited"
    assert (await service.validate(request("secret-a", "10.0.0.10"))).ok
    await bus.drain()


def test_failure_limiter_refills() -> None:
    now = [0.0]
    limiter = FailureLimiter(burst=2, per_minute=6, clock=lambda: now[0])
    limiter.failed("a")
    limiter.failed("a")
    assert not limiter.allowed("a")
    now[0] += 10  # one failure's worth at 6 per minute
    assert limiter.allowed("a")


async def test_dev_tokens_pass_the_same_validation_and_config_says_so(
    nats_endpoint: NatsEndpoint, tmp_path: Path
) -> None:
    bus = await nats_endpoint.connect()
    dev = DevIssuer(load_or_create_key(tmp_path / "dev.pem"), ttl=60)
    validator = JwtValidator([dev.trusted()])
    service = AuthService(bus, ApiKeyStore(""), jwt=validator, dev_issuer=dev, admins=frozenset({"ops"}))
    await service.start()
    await bus.flush()

    issued: m.DevTokenReply = await bus.request(channels.AUTH_DEV_TOKEN, m.DevTokenRequest(username="ops"))
    assert issued.ok
    assert time.time() < issued.expires_at <= time.time() + 61
    reply = await ask(bus, m.CredentialScheme.BEARER, issued.token)
    assert (reply.ok, reply.principal, reply.roles, reply.expires_at) == (
        True,
        "ops",
        ["admin"],
        issued.expires_at,
    )

    bad: m.DevTokenReply = await bus.request(channels.AUTH_DEV_TOKEN, m.DevTokenRequest(username="a b/../c"))
    assert (bad.ok, bad.reason) == (False, "bad_username")
    config: m.SignInConfig = await bus.request(channels.AUTH_CONFIG, m.SignInConfigRequest())
    assert (config.dev_issuer, config.api_keys, config.oidc_authority) == (True, False, "")

    # The key is made once: a restarted issuer signs with the same key id.
    assert DevIssuer(load_or_create_key(tmp_path / "dev.pem")).kid == dev.kid
    assert (tmp_path / "dev.pem").stat().st_mode & 0o777 == 0o600
    await bus.drain()


async def test_without_the_dev_issuer_dev_tokens_are_refused(bus: Bus) -> None:
    reply: m.DevTokenReply = await bus.request(channels.AUTH_DEV_TOKEN, m.DevTokenRequest(username="alice"))
    assert (reply.ok, reply.reason, reply.token) == (False, "disabled", "")
