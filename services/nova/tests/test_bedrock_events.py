"""The bedrock engine's input events (engines/bedrock/events.py): what the worker sends Nova."""

from __future__ import annotations

import base64
import json
from typing import Any

from voice_nova.engines.bedrock import events as ev
from voice_nova.engines.bedrock.settings import NOVA_SONIC_V1, BedrockSettings, Sensitivity
from voice_nova.tools import default_tools


def body(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((name, inner),) = event["event"].items()
    return name, inner


def test_session_start_nests_turn_detection_on_nova_2_only() -> None:
    name, nova2 = body(ev.session_start(BedrockSettings(endpointing_sensitivity=Sensitivity.HIGH)))
    assert name == "sessionStart"
    assert nova2["turnDetectionConfiguration"] == {"endpointingSensitivity": "HIGH"}
    assert "endpointingSensitivity" not in nova2
    assert nova2["inferenceConfiguration"] == {"maxTokens": 1024, "topP": 0.9, "temperature": 0.7}
    _, v1 = body(ev.session_start(BedrockSettings(model_id=NOVA_SONIC_V1)))
    assert set(v1) == {"inferenceConfiguration"}


def test_prompt_start_asks_for_24khz_speech_in_the_voice_and_offers_tools_with_string_schemas() -> None:
    tools = default_tools().specs()
    _, prompt = body(ev.prompt_start("p1", BedrockSettings(voice="tiffany"), tools))
    audio = prompt["audioOutputConfiguration"]
    assert (audio["sampleRateHertz"], audio["voiceId"], audio["encoding"]) == (24000, "tiffany", "base64")
    (spec,) = [t["toolSpec"] for t in prompt["toolConfiguration"]["tools"]]
    assert spec["name"] == "get_date_and_time"
    assert isinstance(spec["inputSchema"]["json"], str)
    assert json.loads(spec["inputSchema"]["json"]) == tools[0]["input_schema"]
    _, bare = body(ev.prompt_start("p1", BedrockSettings(), []))
    assert "toolConfiguration" not in bare


def test_long_text_is_split_into_inputs_of_at_most_1kb_in_one_block() -> None:
    text = "é" * 700 + "word " * 200  # multi-byte characters are never cut
    block = ev.text_block("p1", "USER", text, interactive=False)
    names = [body(e)[0] for e in block]
    assert names[0] == "contentStart"
    assert names[-1] == "contentEnd"
    pieces = [body(e)[1]["content"] for e in block[1:-1]]
    assert all(len(p.encode()) <= ev.MAX_TEXT_INPUT_BYTES for p in pieces)
    assert "".join(pieces) == text
    content_names = {body(e)[1]["contentName"] for e in block}
    assert len(content_names) == 1


def test_audio_input_is_base64_pcm_in_the_audio_block() -> None:
    start = body(ev.audio_start("p1", "a1"))[1]
    assert start["audioInputConfiguration"]["sampleRateHertz"] == 16000
    assert (start["type"], start["role"], start["interactive"]) == ("AUDIO", "USER", True)
    audio = body(ev.audio_input("p1", "a1", b"\x01\x02"))[1]
    assert base64.b64decode(audio["content"]) == b"\x01\x02"


def test_a_tool_result_is_a_tool_block_naming_the_call() -> None:
    start, result, end = (body(e) for e in ev.tool_result_block("p1", "use-1", '{"ok": true}'))
    assert start[1]["toolResultInputConfiguration"]["toolUseId"] == "use-1"
    assert (start[1]["type"], start[1]["role"]) == ("TOOL", "TOOL")
    assert result == (
        "toolResult",
        {"promptName": "p1", "contentName": start[1]["contentName"], "content": '{"ok": true}'},
    )
    assert end[0] == "contentEnd"
