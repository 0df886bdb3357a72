"""Audio travels browser -> edge -> NATS -> worker -> NATS -> edge -> browser, byte for byte."""

from __future__ import annotations

import asyncio
import os

import pytest
from voice_testkit.client import BINARY_PROTOCOL, JSON_PROTOCOL, VoiceClient
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

FRAME = 640  # 20 ms of 16 kHz PCM16


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, BINARY_PROTOCOL])
async def test_loopback_returns_identical_bytes(stack: Stack, protocol: str) -> None:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"], protocol=protocol)
    frames = [os.urandom(FRAME) for _ in range(50)]
    for frame in frames:
        await client.send_audio(frame)
        await asyncio.sleep(0.02)
    received = [(await client.expect("media"))["pcm"] for _ in frames]
    assert received == frames
    await client.close()


async def test_two_sessions_never_hear_each_other(stack: Stack) -> None:
    alice = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    bob = await VoiceClient.open(stack.ws_url(), key=API_KEYS["bob"], protocol=BINARY_PROTOCOL)
    assert alice.session_id != bob.session_id
    alice_frames = [b"\xaa" * FRAME + i.to_bytes(2, "little") for i in range(40)]
    bob_frames = [b"\xbb" * FRAME + i.to_bytes(2, "little") for i in range(40)]

    async def talk(client: VoiceClient, frames: list[bytes]) -> list[bytes]:
        for frame in frames:
            await client.send_audio(frame)
            await asyncio.sleep(0.02)
        heard = [(await client.expect("media"))["pcm"] for _ in frames]
        # Nothing more arrives: in particular nothing of the other session.
        with pytest.raises(TimeoutError):
            await client.expect("media", timeout=0.5)
        return heard

    heard_alice, heard_bob = await asyncio.gather(talk(alice, alice_frames), talk(bob, bob_frames))
    assert heard_alice == alice_frames
    assert heard_bob == bob_frames
    await alice.close()
    await bob.close()
