"""Who may connect, and how a refusal looks to the client."""

from __future__ import annotations

import httpx
import pytest
from voice_testkit.client import BINARY_PROTOCOL, JSON_PROTOCOL, VoiceClient, refused
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack


async def test_unknown_key_is_refused_with_4401(stack: Stack) -> None:
    closed = await refused(stack.ws_url(), key="not-a-key")
    assert closed.code == 4401


async def test_missing_credential_is_refused_with_4401(stack: Stack) -> None:
    assert (await refused(stack.ws_url(), subprotocols=[JSON_PROTOCOL])).code == 4401


async def test_no_known_protocol_is_refused_with_4400(stack: Stack) -> None:
    closed = await refused(stack.ws_url(), subprotocols=["voice.v7", f"key.{API_KEYS['alice']}"])
    assert closed.code == 4400


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, BINARY_PROTOCOL])
async def test_the_credential_is_never_echoed(stack: Stack, protocol: str) -> None:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"], protocol=protocol)
    assert client.ws.subprotocol == protocol
    assert client.session["inputRate"] == 16000
    assert client.session["outputRate"] == 16000  # the loopback engine echoes at the input rate
    await client.close()


async def test_a_lone_key_subprotocol_is_accepted_for_old_clients(stack: Stack) -> None:
    client = await VoiceClient.open(stack.ws_url(), subprotocols=[API_KEYS["bob"]])
    assert client.ws.subprotocol is None  # the key is not echoed, even here
    await client.send_audio(b"\x01\x02" * 80)
    assert (await client.expect("media"))["pcm"] == b"\x01\x02" * 80
    await client.close()


async def test_credentials_never_reach_the_logs(stack: Stack) -> None:
    await refused(stack.ws_url(), key="wrong-secret-value-123")
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    await client.end()
    await client.closed()
    for process in stack.processes.values():
        text = process.log_text()
        for secret in [*API_KEYS.values(), "wrong-secret-value-123"]:
            assert secret not in text, f"{process.name} logged a credential"


async def test_the_web_app_learns_the_sign_in_modes_and_dev_tokens_are_off_by_default(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.http_url()) as http:
        config = (await http.get("/api/config")).json()
        assert config["signIn"] == {"apiKey": True, "dev": None, "oidc": None}
        assert config["websocket"]["protocols"] == [JSON_PROTOCOL, BINARY_PROTOCOL]
        assert config["recording"] is None  # EDGE_RECORDING is off unless set
        refused = await http.post("/api/dev/token", json={"username": "alice"})
        assert (refused.status_code, refused.json()) == (404, {"error": "disabled"})
