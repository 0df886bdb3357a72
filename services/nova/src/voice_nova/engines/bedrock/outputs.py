"""Nova Sonic output events, parsed from the JSON the stream yields into small typed records."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

#: The text Nova sends (inside a textOutput) when the user barged in. Matched as a substring, with
#: this exact spacing, as the AWS samples do.
BARGE_IN_MARKER = '{ "interrupted" : true }'


@dataclass(frozen=True, slots=True)
class CompletionStart:
    completion_id: str


@dataclass(frozen=True, slots=True)
class ContentStart:
    content_id: str
    type: str  # TEXT | AUDIO | TOOL
    role: str  # USER | ASSISTANT | TOOL
    #: TEXT blocks: SPECULATIVE or FINAL (from additionalModelFields); "" otherwise.
    stage: str = ""


@dataclass(frozen=True, slots=True)
class TextOutput:
    content_id: str
    role: str
    text: str

    @property
    def is_barge_in(self) -> bool:
        return BARGE_IN_MARKER in self.text


@dataclass(frozen=True, slots=True)
class AudioOutput:
    content_id: str
    pcm: bytes


@dataclass(frozen=True, slots=True)
class ToolUse:
    content_id: str
    tool_use_id: str
    name: str
    #: JSON text of the arguments.
    arguments: str


@dataclass(frozen=True, slots=True)
class ContentEnd:
    content_id: str
    type: str
    stop_reason: str


@dataclass(frozen=True, slots=True)
class CompletionEnd:
    completion_id: str
    stop_reason: str


@dataclass(frozen=True, slots=True)
class UsageDelta:
    input_tokens: int
    output_tokens: int
    total_input_tokens: int
    total_output_tokens: int


type NovaOutput = (
    CompletionStart
    | ContentStart
    | TextOutput
    | AudioOutput
    | ToolUse
    | ContentEnd
    | CompletionEnd
    | UsageDelta
)


class MalformedOutput(ValueError):
    """An output event that is not what the protocol says (our own bug or the service's)."""


def _stage(fields: Any) -> str:
    # additionalModelFields is a JSON string inside the JSON.
    if not isinstance(fields, str) or not fields:
        return ""
    try:
        parsed = json.loads(fields)
    except (ValueError, RecursionError):  # not JSON, a number past the digit limit, too deep
        return ""
    return str(parsed.get("generationStage", "")) if isinstance(parsed, dict) else ""


def _tokens(side: Any) -> int:
    if not isinstance(side, dict):
        return 0
    return int(side.get("speechTokens", 0) or 0) + int(side.get("textTokens", 0) or 0)


def parse(raw: bytes) -> NovaOutput | None:
    """One output event; None for events this engine has no use for."""
    try:
        document = json.loads(raw)
        event = document["event"]
        ((name, body),) = event.items()
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise MalformedOutput(f"not a Nova event: {raw[:200]!r}") from exc
    try:
        match name:
            case "completionStart":
                return CompletionStart(body.get("completionId", ""))
            case "contentStart":
                return ContentStart(
                    body["contentId"],
                    body["type"],
                    body.get("role", ""),
                    _stage(body.get("additionalModelFields")),
                )
            case "textOutput":
                return TextOutput(body["contentId"], body.get("role", ""), body["content"])
            case "audioOutput":
                return AudioOutput(body["contentId"], base64.b64decode(body["content"]))
            case "toolUse":
                return ToolUse(
                    body["contentId"], body["toolUseId"], body["toolName"], body.get("content") or "{}"
                )
            case "contentEnd":
                return ContentEnd(body["contentId"], body.get("type", ""), body.get("stopReason", ""))
            case "completionEnd":
                return CompletionEnd(body.get("completionId", ""), body.get("stopReason", ""))
            case "usageEvent":
                delta = body.get("details", {}).get("delta", {})
                return UsageDelta(
                    _tokens(delta.get("input")),
                    _tokens(delta.get("output")),
                    int(body.get("totalInputTokens", 0) or 0),
                    int(body.get("totalOutputTokens", 0) or 0),
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedOutput(f"malformed {name}: {exc}") from exc
    return None
