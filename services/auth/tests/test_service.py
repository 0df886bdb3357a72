"""auth.validate over a real NATS server, in a queue group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from voice_auth.apikeys import ApiKeyStore
from voice_auth.service import AuthService
from voice_proto import Bus, channels
from voice_proto import messages as m


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = await Bus.connect(nats_url, "auth-test")
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
