"""Talking to a stack whose worker uses the emulator, the way a browser would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..client import VoiceClient
from .speech import read_tag, say


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def speak(client: VoiceClient, *words: str) -> None:
    """Say the words in real time, 20 ms a frame; the silence after them is the worker's to fill."""
    pcm = say(*words)
    for start in range(0, len(pcm), 640):
        await client.send_audio(pcm[start : start + 640])
        await asyncio.sleep(0.02)


def answer_chunks(client: VoiceClient, answer: int) -> list[int]:
    """The chunk indices of one answer's audio, in the order the client got them."""
    indices = []
    for event in client.events:
        if event["event"] == "media":
            tag = read_tag(event["pcm"])
            if tag is not None and tag.answer == answer:
                indices.append(tag.index)
    return indices
