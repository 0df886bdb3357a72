"""The bedrock engine's pure parts: Nova input events, output parsing, history shaping, failure
classes, and the conversation that turns outputs into engine events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_sdk_bedrock_runtime import models as bedrock
from smithy_core.exceptions import CallError
from voice_nova.engine import EngineEvent
from voice_nova.engines.bedrock import events as ev
from voice_nova.engines.bedrock.audio import Microphone, is_voiced
from voice_nova.engines.bedrock.conversation import Conversation
from voice_nova.engines.bedrock.errors import RetryBudget, StreamEnded, StreamStalled, classify
from voice_nova.engines.bedrock.history import History, shape
from voice_nova.engines.bedrock.outputs import (
    AudioOutput,
    ContentEnd,
    ContentStart,
    MalformedOutput,
    TextOutput,
    ToolUse,
    UsageDelta,
    parse,
)
from voice_nova.engines.bedrock.settings import NOVA_SONIC_V1, BedrockSettings, Sensitivity
from voice_nova.tools import default_tools
from voice_proto import messages as m

USER, ASSISTANT = m.Role.USER, m.Role.ASSISTANT


def body(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((name, inner),) = event["event"].items()
    return name, inner


# --- input events ---------------------------------------------------------------------------------


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


# --- outputs --------------------------------------------------------------------------------------


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


# --- history --------------------------------------------------------------------------------------


def turn(role: m.Role, text: str) -> m.HistoryTurn:
    return m.HistoryTurn(role=role, text=text)


def test_history_is_merged_by_role_and_starts_with_the_user() -> None:
    shaped = shape(
        [turn(ASSISTANT, "Hi!"), turn(USER, "a"), turn(USER, "b"), turn(ASSISTANT, "c"), turn(USER, " ")]
    )
    assert shaped == [turn(USER, "a b"), turn(ASSISTANT, "c")]


def test_history_keeps_the_newest_within_40_messages_and_40_kb() -> None:
    many = [turn(USER if i % 2 == 0 else ASSISTANT, f"message {i}") for i in range(100)]
    shaped = shape(many)
    assert len(shaped) <= 40
    assert shaped[-1].text == "message 99"
    assert shaped[0].role is USER
    big = [turn(USER, "x" * 30_000), turn(ASSISTANT, "y" * 30_000)]
    shaped = shape(big)
    assert sum(len(t.text.encode()) for t in shaped) <= 40 * 1024
    assert shaped[-1].text == "y" * 30_000  # the newest whole; the older cut to fit, then it
    assert not shaped or shaped[0].role is USER


def test_history_of_a_long_session_stays_bounded() -> None:
    history = History()
    for i in range(1000):
        history.add(USER if i % 2 == 0 else ASSISTANT, f"t{i}")
    assert len(history) <= 160
    assert history.shaped()[-1].text == "t999"


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable", "code"),
    [
        (bedrock.ThrottlingException(message="slow down"), True, "throttled"),
        (bedrock.ServiceQuotaExceededException(message="quota"), True, "throttled"),
        (bedrock.ModelStreamErrorException(message="x"), True, "model_error"),
        (bedrock.InternalServerException(message="x"), True, "model_error"),
        (bedrock.ServiceUnavailableException(message="x"), True, "model_error"),
        (bedrock.ModelTimeoutException(message="x"), True, "model_timeout"),
        (
            bedrock.ValidationException(message="System instability detected. Please retry."),
            True,
            "model_unstable",
        ),
        (
            bedrock.ValidationException(message="Invalid input request, please fix your input"),
            False,
            "invalid_input",
        ),
        (bedrock.AccessDeniedException(message="no"), False, "access_denied"),
        (bedrock.ResourceNotFoundException(message="no such model"), False, "model_not_found"),
        (StreamEnded("gone"), True, "stream_ended"),
        (StreamStalled("stuck"), True, "stream_stalled"),
        (OSError("Failed to read from stream."), True, "connection_error"),
        (CallError(message="Unknown error status: 404", fault="client"), False, "bad_request"),
    ],
)
def test_each_failure_is_retried_or_ends_the_session(error: Exception, retryable: bool, code: str) -> None:
    failure = classify(error)
    assert (failure.retryable, failure.code) == (retryable, code)
    assert failure.message


def test_retries_are_bounded_with_growing_jittered_backoff() -> None:
    budget = RetryBudget(max_retries=3, base_delay=1.0, max_delay=3.0)
    delays = [budget.next_delay() for _ in range(4)]
    assert delays[3] is None
    first, second, third = (d for d in delays[:3] if d is not None)
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0
    assert 1.5 <= third <= 3.0
    budget.reset()
    assert budget.next_delay() is not None


# --- the conversation -----------------------------------------------------------------------------


class Recorded:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.tools: list[tuple[ToolUse, int]] = []
        self.turn_ends: list[str] = []
        self.usage: list[UsageDelta] = []
        self.conversation = Conversation(
            self.events.append,
            History(),
            Microphone(3.0),
            on_tool_use=lambda tool, turn: self.tools.append((tool, turn)),
            on_turn_end=self.turn_ends.append,
            on_usage=self.usage.append,
        )

    def feed(self, *outputs: Any) -> None:
        for output in outputs:
            self.conversation.handle(output)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def text_block(cid: str, role: str, stage: str, *texts: str, stop: str = "END_TURN") -> list[Any]:
    return [
        ContentStart(cid, "TEXT", role, stage),
        *(TextOutput(cid, role, t) for t in texts),
        ContentEnd(cid, "TEXT", stop),
    ]


def answer(n: int, text: str, *, stop: str = "END_TURN", barge_in: bool = False) -> list[Any]:
    final = [text, '{ "interrupted" : true }'] if barge_in else [text]
    return [
        *text_block(f"s{n}", "ASSISTANT", "SPECULATIVE", text, stop="PARTIAL_TURN"),
        ContentStart(f"a{n}", "AUDIO", "ASSISTANT"),
        AudioOutput(f"a{n}", b"\x00\x01" * 4),
        ContentEnd(f"a{n}", "AUDIO", "END_TURN"),
        *text_block(f"f{n}", "ASSISTANT", "FINAL", *final, stop=stop),
    ]


def test_a_spoken_turn_and_its_answer_share_a_turn_id() -> None:
    r = Recorded()
    r.feed(*text_block("u1", "USER", "FINAL", "hello"), *answer(1, "Hi there."))
    transcripts = r.of(m.Transcript)
    assert [(t.role, t.stage, t.text, t.turn_id) for t in transcripts] == [
        (USER, m.Stage.FINAL, "hello", 1),
        (ASSISTANT, m.Stage.SPECULATIVE, "Hi there.", 1),
        (ASSISTANT, m.Stage.FINAL, "Hi there.", 1),
    ]
    assert [a.turn_id for a in r.of(m.AudioOut)] == [1]
    assert [(e.role, e.turn_id) for e in r.of(m.TurnStarted)] == [(USER, 1), (ASSISTANT, 1)]
    assert [(e.reason, e.turn_id) for e in r.of(m.TurnEnded)] == [("end_turn", 1)]
    assert r.turn_ends == ["end_turn"]
    assert r.conversation.history.shaped() == [turn(USER, "hello"), turn(ASSISTANT, "Hi there.")]


def test_barge_in_is_one_interruption_and_the_final_text_says_it_was_cut() -> None:
    r = Recorded()
    r.feed(
        *text_block("u1", "USER", "FINAL", "tell me a story"),
        *answer(1, "Once upon", stop="INTERRUPTED", barge_in=True),
    )
    assert [e.turn_id for e in r.of(m.Interrupted)] == [1]
    final = r.of(m.Transcript)[-1]
    assert (final.text, final.interrupted) == ("Once upon", True)
    assert [e.reason for e in r.of(m.TurnEnded)] == ["interrupted"]
    r.feed(*text_block("u2", "USER", "FINAL", "stop"))
    assert r.of(m.TurnStarted)[-1].turn_id == 2


def test_the_greeting_opens_a_turn_and_typed_text_is_shown_once() -> None:
    r = Recorded()
    r.conversation.expect_echo("Greet the user.")
    r.feed(*answer(1, "Hello!"))
    assert [(e.role, e.turn_id) for e in r.of(m.TurnStarted)] == [(ASSISTANT, 1)]
    r.conversation.user_typed("what time is it")
    r.feed(*text_block("u1", "USER", "FINAL", "what time is it"))  # Nova's echo of the typed text
    r.feed(*text_block("u2", "USER", "FINAL", "Greet the user."))  # never the user's own words
    users = [t for t in r.of(m.Transcript) if t.role is USER]
    assert [(t.text, t.turn_id) for t in users] == [("what time is it", 2)]


def test_a_tool_use_is_reported_when_its_block_ends() -> None:
    r = Recorded()
    r.feed(*text_block("u1", "USER", "FINAL", "time?"))
    r.feed(ContentStart("t1", "TOOL", "TOOL"), ToolUse("t1", "use-1", "get_date_and_time", "{}"))
    assert not r.tools
    r.feed(ContentEnd("t1", "TOOL", "TOOL_USE"))
    assert [(tool.tool_use_id, turn) for tool, turn in r.tools] == [("use-1", 1)]


def test_usage_goes_to_the_engine_and_a_lost_stream_ends_the_turn() -> None:
    r = Recorded()
    r.feed(UsageDelta(3, 4, 3, 4))
    assert r.usage == [UsageDelta(3, 4, 3, 4)]
    r.feed(*text_block("u1", "USER", "FINAL", "hi"), ContentStart("a1", "AUDIO", "ASSISTANT"))
    r.conversation.stream_lost()
    assert [e.reason for e in r.of(m.TurnEnded)] == ["interrupted"]


def test_voiced_audio_is_told_from_silence_and_the_latest_seconds_are_kept() -> None:
    assert not is_voiced(bytes(640))
    assert is_voiced((3000).to_bytes(2, "little", signed=True) * 320)
    microphone = Microphone(keep_seconds=0.1)  # 3200 bytes
    for _ in range(10):
        microphone.hear(bytes(640))
    assert len(microphone.since(0)) == 3200
    assert microphone.since(microphone.last_heard) == b""
