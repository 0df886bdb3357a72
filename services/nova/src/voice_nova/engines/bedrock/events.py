"""Builders of the Nova Sonic input events, field by field as the Nova user guides give them.

Each builder returns the JSON-ready ``{"event": {...}}`` map. A whole content block (start, the
inputs, end) is built as one list so that the stream sends it without anything in between.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from typing import Any

from voice_proto import messages as m

from .settings import BedrockSettings

type NovaEvent = dict[str, Any]

#: Longest ``textInput`` content in bytes; longer text goes as several inputs of one block.
MAX_TEXT_INPUT_BYTES = 1024

_TEXT_CONFIG = {"mediaType": "text/plain"}


def new_name() -> str:
    return str(uuid.uuid4())


def _event(name: str, body: dict[str, Any]) -> NovaEvent:
    return {"event": {name: body}}


def session_start(settings: BedrockSettings) -> NovaEvent:
    body: dict[str, Any] = {
        "inferenceConfiguration": {
            "maxTokens": settings.max_tokens,
            "topP": settings.top_p,
            "temperature": settings.temperature,
        }
    }
    if settings.is_nova_2:
        # Nested: Nova 2 rejects the flat sessionStart.endpointingSensitivity.
        body["turnDetectionConfiguration"] = {
            "endpointingSensitivity": settings.endpointing_sensitivity.value
        }
    return _event("sessionStart", body)


def prompt_start(prompt: str, settings: BedrockSettings, tools: list[dict[str, Any]]) -> NovaEvent:
    body: dict[str, Any] = {
        "promptName": prompt,
        "textOutputConfiguration": _TEXT_CONFIG,
        "audioOutputConfiguration": {
            "mediaType": "audio/lpcm",
            "sampleRateHertz": m.OUTPUT_RATE,
            "sampleSizeBits": 16,
            "channelCount": 1,
            "voiceId": settings.voice,
            "encoding": "base64",
            "audioType": "SPEECH",
        },
    }
    if tools:
        body["toolUseOutputConfiguration"] = {"mediaType": "application/json"}
        body["toolConfiguration"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": tool["name"],
                        "description": tool["description"],
                        # A string, not an object: what every working integration sends.
                        "inputSchema": {"json": json.dumps(tool["input_schema"])},
                    }
                }
                for tool in tools
            ]
        }
    return _event("promptStart", body)


def split_text(text: str, limit: int = MAX_TEXT_INPUT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, never cutting a character."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode())
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current or not pieces:
        pieces.append("".join(current))
    return pieces


def text_block(prompt: str, role: str, text: str, *, interactive: bool) -> list[NovaEvent]:
    """A TEXT content block: the system prompt, a history message, or typed user input."""
    content = new_name()
    events = [
        _event(
            "contentStart",
            {
                "promptName": prompt,
                "contentName": content,
                "type": "TEXT",
                "interactive": interactive,
                "role": role,
                "textInputConfiguration": _TEXT_CONFIG,
            },
        )
    ]
    events += [
        _event("textInput", {"promptName": prompt, "contentName": content, "content": piece})
        for piece in split_text(text)
    ]
    events.append(content_end(prompt, content))
    return events


def history_blocks(prompt: str, history: Iterable[m.HistoryTurn]) -> list[NovaEvent]:
    events: list[NovaEvent] = []
    for turn in history:
        events += text_block(prompt, turn.role.value, turn.text, interactive=False)
    return events


def audio_start(prompt: str, content: str) -> NovaEvent:
    return _event(
        "contentStart",
        {
            "promptName": prompt,
            "contentName": content,
            "type": "AUDIO",
            "interactive": True,
            "role": "USER",
            "audioInputConfiguration": {
                "mediaType": "audio/lpcm",
                "sampleRateHertz": m.INPUT_RATE,
                "sampleSizeBits": 16,
                "channelCount": 1,
                "audioType": "SPEECH",
                "encoding": "base64",
            },
        },
    )


def audio_input(prompt: str, content: str, pcm: bytes) -> NovaEvent:
    return _event(
        "audioInput",
        {"promptName": prompt, "contentName": content, "content": base64.b64encode(pcm).decode("ascii")},
    )


def tool_result_block(prompt: str, tool_use_id: str, result_json: str) -> list[NovaEvent]:
    content = new_name()
    return [
        _event(
            "contentStart",
            {
                "promptName": prompt,
                "contentName": content,
                "interactive": False,
                "type": "TOOL",
                "role": "TOOL",
                "toolResultInputConfiguration": {
                    "toolUseId": tool_use_id,
                    "type": "TEXT",
                    "textInputConfiguration": _TEXT_CONFIG,
                },
            },
        ),
        _event("toolResult", {"promptName": prompt, "contentName": content, "content": result_json}),
        content_end(prompt, content),
    ]


def content_end(prompt: str, content: str) -> NovaEvent:
    return _event("contentEnd", {"promptName": prompt, "contentName": content})


def prompt_end(prompt: str) -> NovaEvent:
    return _event("promptEnd", {"promptName": prompt})


def session_end() -> NovaEvent:
    return _event("sessionEnd", {})


def encode(event: NovaEvent) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
