"""Nova's output events parsed to frozen records (engines/bedrock/outputs.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from voice_nova.engines.bedrock.outputs import (
    AudioOutput,
    ContentStart,
    MalformedOutput,
    TextOutput,
    ToolUse,
    UsageDelta,
    parse,
)


def nova(name: str, **fields: Any) -> bytes:
    return json.dumps(
        {"event": {name: {"sessionId": "s", "promptName": "p", "completionId": "c", **fields}}}
    ).encode()


def test_output_events_are_parsed_with_the_generation_stage_and_usage_deltas() -> None:
    start = parse(
        nova(
            "contentStart",
            contentId="c1",
            type="TEXT",
            role="ASSISTANT",
            additionalModelFields='{"generationStage":"SPECULATIVE"}',
        )
    )
    assert start == ContentStart("c1", "TEXT", "ASSISTANT", "SPECULATIVE")
    assert parse(
        nova("audioOutput", contentId="c2", content=base64.b64encode(b"pcm").decode())
    ) == AudioOutput("c2", b"pcm")
    assert parse(nova("toolUse", contentId="c3", toolName="t", toolUseId="u", content='{"a":1}')) == ToolUse(
        "c3", "u", "t", '{"a":1}'
    )
    usage = {
        "delta": {
            "input": {"speechTokens": 3, "textTokens": 2},
            "output": {"speechTokens": 7, "textTokens": 1},
        }
    }
    assert parse(nova("usageEvent", details=usage, totalInputTokens=50, totalOutputTokens=80)) == UsageDelta(
        5, 8, 50, 80
    )
    barge = parse(nova("textOutput", contentId="c1", role="ASSISTANT", content='{ "interrupted" : true }'))
    assert isinstance(barge, TextOutput)
    assert barge.is_barge_in
    assert parse(nova("somethingNew")) is None
    with pytest.raises(MalformedOutput):
        parse(b"not json")
    with pytest.raises(MalformedOutput):
        parse(nova("contentEnd"))


def test_outputs_past_the_parser_limits_are_malformed_or_ignored_never_a_raise() -> None:
    with pytest.raises(MalformedOutput):
        parse(b'{"event": {"usageEvent": {"n": ' + b"9" * 4301 + b"}}}")  # past int digit limit
    with pytest.raises(MalformedOutput):
        parse(b"[" * 100_000 + b"]" * 100_000)  # deeper than the parser recurses
    fields = '{"generationStage": ' + "[" * 100_000 + "]" * 100_000 + "}"
    start = parse(nova("contentStart", contentId="c", type="TEXT", role="USER", additionalModelFields=fields))
    assert start == ContentStart("c", "TEXT", "USER", "")
