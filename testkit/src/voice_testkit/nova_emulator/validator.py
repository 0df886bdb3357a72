"""Checks every input event a client sends against the Nova Sonic protocol: fields, values, and
order. What is wrong is recorded as a violation (the tests fail on any), not answered with an
error, so that one mistake does not hide the next."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

NOVA_2 = "amazon.nova-2-sonic-v1:0"
NOVA_1 = "amazon.nova-sonic-v1:0"
_NOVA_1_VOICES = "matthew tiffany amy ambre florian beatrice lorenzo greta lennart lupe carlos"
_NOVA_2_VOICES = "matthew tiffany amy olivia lupe carlos ambre florian lennart beatrice lorenzo tina carolina"
_NOVA_2_VOICES += " leo kiara arjun"
VOICES = {NOVA_1: set(_NOVA_1_VOICES.split()), NOVA_2: set(_NOVA_2_VOICES.split())}
MAX_TEXT_INPUT_BYTES = 1024
MAX_HISTORY_BYTES = 40 * 1024
RATES = {8000, 16000, 24000}
#: The longest pause in the user's audio the model tolerates here (the real limits are far longer,
#: but a client that keeps the audio flowing never comes near this).
MAX_AUDIO_GAP = 3.0


class ProtocolValidator:
    def __init__(self, model_id: str, label: str) -> None:
        self.model_id = model_id
        self.label = label
        self.violations: list[str] = []
        self.phase = "new"  # new -> session -> prompt -> audio -> prompt_ended -> session_ended -> closed
        self.prompt = ""
        self.system_seen = False
        self.history: list[tuple[str, str]] = []
        self.history_bytes = 0
        self.audio_content = ""
        self.audio_bytes = 0
        self.open_block: dict[str, Any] | None = None
        self.block_text: list[str] = []
        self.tool_uses_issued: set[str] = set()
        self.tool_results: dict[str, str] = {}
        self.interactive_texts: list[str] = []
        self.tools: list[dict[str, Any]] = []
        self.voice = ""
        self._last_audio = 0.0
        self.max_audio_gap = 0.0
        #: The emulator failed the stream on purpose: what the client sends after that is moot.
        self.failed = False

    def _bad(self, message: str) -> None:
        self.violations.append(f"{self.label}: {message}")

    @property
    def nova_2(self) -> bool:
        return self.model_id == NOVA_2

    # --- entry point ------------------------------------------------------------------------------

    def check(self, document: Any) -> tuple[str, dict[str, Any]] | None:
        """Validate one input event; returns (name, body) when it is well formed enough to act on."""
        if self.failed:
            return None
        if (
            not isinstance(document, dict)
            or set(document) != {"event"}
            or not isinstance(document["event"], dict)
        ):
            self._bad(f"not an event: {str(document)[:120]}")
            return None
        if len(document["event"]) != 1:
            self._bad(f"an event must have exactly one name: {list(document['event'])}")
            return None
        ((name, body),) = document["event"].items()
        if not isinstance(body, dict):
            self._bad(f"{name}: body is not an object")
            return None
        if self.phase == "closed":
            self._bad(f"{name} after the input stream was closed")
        handler = getattr(self, f"_on_{name}", None)
        if handler is None:
            self._bad(f"unknown event {name}")
            return None
        handler(body)
        return name, body

    def input_closed(self) -> None:
        if self.phase != "session_ended" and not self.failed:
            self._bad(f"input stream closed in phase {self.phase} (expected after sessionEnd)")
        self.phase = "closed"

    def stream_failed(self) -> None:
        """The emulator ended the stream with an error: the client may stop without the goodbye."""
        self.failed = True

    # --- helpers ----------------------------------------------------------------------------------

    def _prompt_ok(self, name: str, body: dict[str, Any]) -> None:
        if body.get("promptName") != self.prompt:
            self._bad(f"{name}: promptName {body.get('promptName')!r} is not the prompt's {self.prompt!r}")

    def _need_phase(self, name: str, *phases: str) -> bool:
        if self.phase not in phases:
            self._bad(f"{name} in phase {self.phase} (allowed: {', '.join(phases)})")
            return False
        return True

    # --- events -----------------------------------------------------------------------------------

    def _on_sessionStart(self, body: dict[str, Any]) -> None:
        self._need_phase("sessionStart", "new")
        self.phase = "session"
        inference = body.get("inferenceConfiguration")
        if not isinstance(inference, dict):
            self._bad("sessionStart: inferenceConfiguration missing")
        else:
            max_tokens = inference.get("maxTokens")
            if not isinstance(max_tokens, int) or not 1 <= max_tokens <= 10_000:
                self._bad(f"sessionStart: maxTokens {max_tokens!r}")
            for key in ("topP", "temperature"):
                value = inference.get(key)
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    self._bad(f"sessionStart: {key} {value!r}")
        if "endpointingSensitivity" in body:
            self._bad("sessionStart: flat endpointingSensitivity (Invalid input request)")
        turn = body.get("turnDetectionConfiguration")
        if turn is not None:
            if not self.nova_2:
                self._bad("sessionStart: turnDetectionConfiguration on Nova Sonic v1")
            elif not isinstance(turn, dict) or turn.get("endpointingSensitivity") not in (
                "HIGH",
                "MEDIUM",
                "LOW",
            ):
                self._bad(f"sessionStart: turnDetectionConfiguration {turn!r}")
        unknown = set(body) - {"inferenceConfiguration", "turnDetectionConfiguration"}
        if unknown:
            self._bad(f"sessionStart: unknown fields {sorted(unknown)}")

    def _on_promptStart(self, body: dict[str, Any]) -> None:
        self._need_phase("promptStart", "session")
        self.phase = "prompt"
        self.prompt = str(body.get("promptName") or "")
        if not self.prompt:
            self._bad("promptStart: promptName missing")
        if body.get("textOutputConfiguration") != {"mediaType": "text/plain"}:
            self._bad(f"promptStart: textOutputConfiguration {body.get('textOutputConfiguration')!r}")
        audio = body.get("audioOutputConfiguration") or {}
        expected = {"mediaType": "audio/lpcm", "sampleSizeBits": 16, "channelCount": 1, "encoding": "base64"}
        for key, value in expected.items():
            if audio.get(key) != value:
                self._bad(f"promptStart: audioOutputConfiguration.{key} {audio.get(key)!r}")
        if audio.get("sampleRateHertz") not in RATES:
            self._bad(f"promptStart: sampleRateHertz {audio.get('sampleRateHertz')!r}")
        if audio.get("audioType", "SPEECH") != "SPEECH":
            self._bad("promptStart: audioType")
        self.voice = str(audio.get("voiceId", ""))
        if self.voice not in VOICES.get(self.model_id, set()):
            self._bad(f"promptStart: voice {self.voice!r} is not a voice of {self.model_id}")
        tool_config = body.get("toolConfiguration")
        if tool_config is not None:
            if body.get("toolUseOutputConfiguration") != {"mediaType": "application/json"}:
                self._bad("promptStart: tools without toolUseOutputConfiguration")
            for tool in tool_config.get("tools", []):
                spec = tool.get("toolSpec", {})
                schema = spec.get("inputSchema", {}).get("json")
                if not spec.get("name") or not spec.get("description"):
                    self._bad(f"promptStart: tool without name or description: {spec}")
                if not isinstance(schema, str):
                    self._bad(f"promptStart: inputSchema.json of {spec.get('name')} is not a string")
                    continue
                try:
                    json.loads(schema)
                except json.JSONDecodeError:
                    self._bad(f"promptStart: inputSchema.json of {spec.get('name')} is not JSON")
                self.tools.append({"name": spec.get("name"), "schema": schema})

    def _on_contentStart(self, body: dict[str, Any]) -> None:
        self._need_phase("contentStart", "prompt", "audio")
        self._prompt_ok("contentStart", body)
        if self.open_block is not None:
            self._bad(f"contentStart while block {self.open_block.get('contentName')} is still open")
        kind, role, content = body.get("type"), body.get("role"), body.get("contentName")
        if not content:
            self._bad("contentStart: contentName missing")
        if kind == "AUDIO":
            self._audio_start(body)
            return
        if kind == "TEXT":
            self._text_start(body)
        elif kind == "TOOL":
            self._tool_start(body)
        else:
            self._bad(f"contentStart: type {kind!r}")
        self.open_block = dict(body, role=role)
        self.block_text = []

    def _audio_start(self, body: dict[str, Any]) -> None:
        if self.audio_content:
            self._bad("a second AUDIO block (one stays open for the whole stream)")
        if self.phase != "prompt":
            self._bad(f"AUDIO contentStart in phase {self.phase}")
        if body.get("role") != "USER" or body.get("interactive") is not True:
            self._bad("AUDIO contentStart must be USER and interactive")
        config = body.get("audioInputConfiguration") or {}
        expected = {
            "mediaType": "audio/lpcm",
            "sampleRateHertz": 16000,
            "sampleSizeBits": 16,
            "channelCount": 1,
            "audioType": "SPEECH",
            "encoding": "base64",
        }
        if config != expected:
            self._bad(f"AUDIO audioInputConfiguration {config!r}")
        self.audio_content = str(body.get("contentName"))
        self.phase = "audio"
        self._last_audio = time.monotonic()

    def _text_start(self, body: dict[str, Any]) -> None:
        role, interactive = body.get("role"), body.get("interactive")
        if body.get("textInputConfiguration") != {"mediaType": "text/plain"}:
            self._bad("TEXT contentStart: textInputConfiguration")
        if role == "SYSTEM":
            if self.system_seen or self.history or self.phase != "prompt":
                self._bad("the SYSTEM prompt must come once, first")
            if interactive is not False:
                self._bad("the SYSTEM prompt must not be interactive")
            return
        if role not in ("USER", "ASSISTANT"):
            self._bad(f"TEXT role {role!r}")
        if interactive is True:
            if role != "USER":
                self._bad("interactive text must be USER")
            if not self.nova_2:
                self._bad("interactive text on Nova Sonic v1")
            if self.phase != "audio":
                self._bad("interactive text before the audio block opened")
        else:
            if self.phase != "prompt":
                self._bad("history after the audio block opened (history must be complete before audio)")
            if not self.history and role != "USER":
                self._bad("the first history message must be USER")

    def _tool_start(self, body: dict[str, Any]) -> None:
        if body.get("role") != "TOOL" or body.get("interactive") is not False:
            self._bad("TOOL contentStart must be role TOOL, not interactive")
        config = body.get("toolResultInputConfiguration") or {}
        use_id = config.get("toolUseId")
        if use_id not in self.tool_uses_issued:
            self._bad(f"tool result for an unknown toolUseId {use_id!r}")
        elif use_id in self.tool_results:
            self._bad(f"a second result for toolUseId {use_id!r}")
        if config.get("type") != "TEXT" or config.get("textInputConfiguration") != {
            "mediaType": "text/plain"
        }:
            self._bad(f"toolResultInputConfiguration {config!r}")

    def _on_textInput(self, body: dict[str, Any]) -> None:
        self._prompt_ok("textInput", body)
        block = self.open_block
        if (
            block is None
            or block.get("type") != "TEXT"
            or body.get("contentName") != block.get("contentName")
        ):
            self._bad("textInput outside its TEXT block")
            return
        content = body.get("content")
        if not isinstance(content, str):
            self._bad("textInput: content is not a string")
            return
        if len(content.encode()) > MAX_TEXT_INPUT_BYTES:
            self._bad(f"textInput of {len(content.encode())} bytes (limit {MAX_TEXT_INPUT_BYTES})")
        self.block_text.append(content)

    def _on_toolResult(self, body: dict[str, Any]) -> None:
        self._prompt_ok("toolResult", body)
        block = self.open_block
        if (
            block is None
            or block.get("type") != "TOOL"
            or body.get("contentName") != block.get("contentName")
        ):
            self._bad("toolResult outside its TOOL block")
            return
        content = body.get("content")
        try:
            json.loads(content if isinstance(content, str) else "")
        except json.JSONDecodeError:
            self._bad(f"toolResult content is not JSON: {str(content)[:80]!r} (Tool Response parsing error)")
        self.block_text.append(str(content))

    def _on_audioInput(self, body: dict[str, Any]) -> None:
        self._prompt_ok("audioInput", body)
        if self.phase != "audio" or body.get("contentName") != self.audio_content:
            self._bad(f"audioInput outside the open AUDIO block (phase {self.phase})")
        if self.open_block is not None:
            self._bad("audioInput between a TEXT/TOOL block's start and end")
        try:
            pcm = base64.b64decode(str(body.get("content", "")), validate=True)
        except (binascii.Error, ValueError):
            self._bad("audioInput: content is not base64")
            return
        if len(pcm) % 2:
            self._bad("audioInput: odd number of PCM16 bytes")
        now = time.monotonic()
        self.max_audio_gap = max(self.max_audio_gap, now - self._last_audio)
        if now - self._last_audio > MAX_AUDIO_GAP:
            self._bad(f"no audio for {now - self._last_audio:.1f} s (the model would time out)")
        self._last_audio = now
        self.audio_bytes += len(pcm)

    def audio(self, body: dict[str, Any]) -> bytes:
        try:
            return base64.b64decode(str(body.get("content", "")))
        except (binascii.Error, ValueError):
            return b""

    def _on_contentEnd(self, body: dict[str, Any]) -> None:
        self._prompt_ok("contentEnd", body)
        content = body.get("contentName")
        if self.open_block is not None and content == self.open_block.get("contentName"):
            block, self.open_block = self.open_block, None
            text = "".join(self.block_text)
            if block.get("type") == "TEXT" and block.get("role") in ("USER", "ASSISTANT"):
                if block.get("interactive"):
                    self.interactive_texts.append(text)
                else:
                    self.history.append((str(block.get("role")), text))
                    self.history_bytes += len(text.encode())
                    if self.history_bytes > MAX_HISTORY_BYTES:
                        self._bad(f"history of {self.history_bytes} bytes (limit {MAX_HISTORY_BYTES})")
            elif block.get("type") == "TEXT":
                self.system_seen = True
            elif block.get("type") == "TOOL":
                use_id = block.get("toolResultInputConfiguration", {}).get("toolUseId")
                self.tool_results[str(use_id)] = text
            return
        if content == self.audio_content and self.phase == "audio":
            if self.open_block is not None:
                self._bad("the AUDIO block closed while another block is open")
            self.phase = "audio_ended"
            return
        self._bad(f"contentEnd for {content!r}, which is not open")

    def _on_promptEnd(self, body: dict[str, Any]) -> None:
        self._prompt_ok("promptEnd", body)
        if self.audio_content:
            self._need_phase("promptEnd", "audio_ended")
        else:
            self._need_phase("promptEnd", "prompt")
        if self.open_block is not None:
            self._bad("promptEnd with a block still open")
        unanswered = self.tool_uses_issued - set(self.tool_results)
        if unanswered:
            self._bad(f"promptEnd with tool calls never answered: {sorted(unanswered)}")
        self.phase = "prompt_ended"

    def _on_sessionEnd(self, body: dict[str, Any]) -> None:
        self._need_phase("sessionEnd", "prompt_ended")
        if body:
            self._bad(f"sessionEnd with fields {sorted(body)}")
        self.phase = "session_ended"
