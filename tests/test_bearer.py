"""Signing in with a JWT at the edge: the dev issuer's tokens through the same validation as
Cognito's, a session that ends when its token expires, and one that goes on with a fresh token."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.client import VoiceClient, refused
from voice_testkit.recorder import Recorder
from voice_testkit.stack import Stack

pytestmark = pytest.mark.stack

PCM = b"\x22\x00" * 320


async def dev_token(stack: Stack, username: str) -> str:
    async with httpx.AsyncClient(base_url=stack.http_url()) as http:
        response = await http.post("/api/dev/token", json={"username": username})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresAt"] > time.time()
    token: str = body["token"]
    return token


async def test_dev_sign_in_opens_a_session_under_that_name(fresh_stack: Stack) -> None:
    fresh_stack.start_spine(AUTH_DEV_ISSUER="true", AUTH_FAILURES_BURST="3")
    async with httpx.AsyncClient(base_url=fresh_stack.http_url()) as http:
        config = (await http.get("/api/config")).json()
        assert config["signIn"]["dev"] == {"tokenUrl": "/api/dev/token"}
        assert config["signIn"]["apiKey"] is True
        assert config["signIn"]["oidc"] is None
        assert (await http.post("/api/dev/token", json={"username": "no/slashes"})).status_code == 400

    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    token = await dev_token(fresh_stack, "carol")
    client = await VoiceClient.open(fresh_stack.ws_url(), bearer=token)
    assert client.ws.subprotocol == "voice.v1"  # the token is never echoed
    assert client.session["expiresAt"] > time.time()
    started = await lifecycle.wait_for(m.Lifecycle, session_id=client.session_id)
    assert started.principal == "carol"
    await client.send_audio(PCM)
    assert (await client.expect("media"))["pcm"] == PCM
    await client.end()

    fresh = await dev_token(fresh_stack, "carol")  # good, and not in the edge's cache
    closed = await refused(fresh_stack.ws_url(), bearer=token[:-4] + "AAAA")
    assert (closed.code, closed.reason) == (4401, "unauthorized: bad_signature")
    # Failures from one address are rate-limited: the burst is 3, this was the first.
    for _ in range(2):
        assert (await refused(fresh_stack.ws_url(), bearer="junk")).code == 4401
    assert (await refused(fresh_stack.ws_url(), bearer=fresh)).code == 4429
    for process in fresh_stack.processes.values():
        assert token not in process.log_text(), f"{process.name} logged a token"
    await bus.drain()


async def test_an_expired_token_ends_the_session_unless_a_fresh_one_comes(fresh_stack: Stack) -> None:
    fresh_stack.start_spine(AUTH_DEV_ISSUER="true", AUTH_DEV_TOKEN_TTL="4", EDGE_AUTH_RENEW_NOTICE="2")
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)

    async def left_to_expire() -> None:
        client = await VoiceClient.open(fresh_stack.ws_url(), bearer=await dev_token(fresh_stack, "dave"))
        expiring = await client.expect("auth", timeout=10, state="expiring")
        assert expiring["expiresAt"] == client.session["expiresAt"]
        error = await client.expect("error", timeout=10)
        assert error["code"] == "auth_expired"
        assert (await client.closed()).code == 4440
        ended = await lifecycle.wait_for(
            m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED, session_id=client.session_id, timeout=10
        )
        assert ended.reason == "auth_expired"

    async def renewed() -> None:
        client = await VoiceClient.open(fresh_stack.ws_url(), bearer=await dev_token(fresh_stack, "erin"))
        first_expiry = client.session["expiresAt"]
        await client.expect("auth", timeout=10, state="expiring")
        # A token of someone else does not take the session over; the session goes on as before.
        await client.send_json({"type": "auth", "token": await dev_token(fresh_stack, "mallory")})
        assert (await client.expect("error", timeout=10))["code"] == "auth_refused"
        await client.send_json({"type": "auth", "token": await dev_token(fresh_stack, "erin")})
        refreshed = await client.expect("auth", timeout=10, state="refreshed")
        assert refreshed["expiresAt"] >= first_expiry
        await asyncio.sleep(max(0.0, first_expiry - time.time()) + 1.0)
        await client.send_audio(PCM)
        assert (await client.expect("media", timeout=10))["pcm"] == PCM  # still served past the first expiry
        assert not [e for e in client.events if e.get("code") == "auth_expired"]
        await client.end()

    await asyncio.gather(left_to_expire(), renewed())
    await bus.drain()
