"""Bad input gets a stable error code or a specific close code, and never touches another session.

Each test runs beside a bystander session that streams audio in real time the whole while; at the
end the bystander must have heard every frame back, unchanged, and seen no error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator

import pytest
from voice_testkit.client import BINARY_PROTOCOL, JSON_PROTOCOL, VoiceClient
from voice_testkit.stack import API_KEYS, TEXT_BURST, Stack

pytestmark = pytest.mark.stack

FRAME = 640


@pytest.fixture
async def bystander(stack: Stack) -> AsyncIterator[None]:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["bob"], protocol=BINARY_PROTOCOL)
    sent: list[bytes] = []
    stop = asyncio.Event()

    async def stream() -> None:
        while not stop.is_set():
            frame = os.urandom(FRAME)
            sent.append(frame)
            await client.send_audio(frame)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(stream())
    yield
    stop.set()
    await task
    heard = [(await client.expect("media"))["pcm"] for _ in sent]
    assert heard == sent
    assert not [e for e in client.events if e["event"] == "error"]
    await client.close()


async def open_alice(stack: Stack, protocol: str = JSON_PROTOCOL) -> VoiceClient:
    return await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"], protocol=protocol)


async def assert_still_echoes(client: VoiceClient) -> None:
    await client.send_audio(b"\x05\x00" * 160)
    assert (await client.expect("media"))["pcm"] == b"\x05\x00" * 160


async def expect_error(client: VoiceClient, frame: str | bytes, code: str) -> None:
    await client.send_raw(frame)
    error = await client.expect("error")
    assert error["code"] == code
    assert error["message"]


@pytest.mark.usefixtures("bystander")
class TestErrorEvents:
    async def test_invalid_json(self, stack: Stack) -> None:
        client = await open_alice(stack)
        await expect_error(client, "{this is not json", "invalid_json")
        await assert_still_echoes(client)

    async def test_unknown_type(self, stack: Stack) -> None:
        client = await open_alice(stack)
        await expect_error(client, json.dumps({"type": "sing", "data": "la"}), "unknown_type")
        await assert_still_echoes(client)

    async def test_bad_base64(self, stack: Stack) -> None:
        client = await open_alice(stack)
        await expect_error(client, json.dumps({"type": "audio", "data": "%%%not-base64%%%"}), "bad_base64")
        await assert_still_echoes(client)

    async def test_odd_number_of_pcm_bytes_as_json(self, stack: Stack) -> None:
        client = await open_alice(stack)
        frame = json.dumps({"type": "audio", "data": base64.b64encode(b"\x01\x02\x03").decode()})
        await expect_error(client, frame, "odd_pcm_length")
        await assert_still_echoes(client)

    async def test_odd_number_of_pcm_bytes_as_binary(self, stack: Stack) -> None:
        client = await open_alice(stack, BINARY_PROTOCOL)
        await expect_error(client, b"\x01\x02\x03", "odd_pcm_length")
        await assert_still_echoes(client)

    async def test_over_long_text(self, stack: Stack) -> None:
        client = await open_alice(stack)
        await expect_error(client, json.dumps({"type": "text", "text": "blah " * 1000}), "text_too_long")
        await assert_still_echoes(client)

    async def test_text_of_control_characters_only(self, stack: Stack) -> None:
        client = await open_alice(stack)
        await expect_error(client, json.dumps({"type": "text", "text": "\u0000\u001b\u0007"}), "empty_text")
        await assert_still_echoes(client)

    async def test_typed_text_faster_than_allowed(self, stack: Stack) -> None:
        client = await open_alice(stack)
        for _ in range(TEXT_BURST):
            await client.send_text("hello")
        await expect_error(client, json.dumps({"type": "text", "text": "hello"}), "text_rate_limited")
        await assert_still_echoes(client)

    async def test_binary_frame_on_the_json_protocol(self, stack: Stack) -> None:
        client = await open_alice(stack)
        await expect_error(client, b"\x00\x00", "unexpected_binary")
        await assert_still_echoes(client)


@pytest.mark.usefixtures("bystander")
class TestAbuseCloses:
    async def test_frame_over_the_size_limit(self, stack: Stack) -> None:
        client = await open_alice(stack, BINARY_PROTOCOL)
        await expect_error(client, b"\x00" * (65 * 1024), "frame_too_large")
        assert (await client.closed()).code == 1009

    async def test_audio_faster_than_real_time(self, stack: Stack) -> None:
        client = await open_alice(stack, BINARY_PROTOCOL)
        # 4 s of audio at once: twice the 2 s burst allowance.
        for _ in range(200):
            await client.send_raw(b"\x00" * FRAME)
        error = await client.expect("error")
        assert error["code"] == "rate_limited"
        assert (await client.closed()).code == 4429

    async def test_a_stream_of_bad_messages(self, stack: Stack) -> None:
        client = await open_alice(stack)
        for _ in range(40):
            await client.send_raw("nope")
        closed = await client.closed()
        assert closed.code == 1008
        assert any(e.get("code") == "too_many_errors" for e in client.events)
