"""Nova's outputs turned into engine events (engines/bedrock/conversation.py): turns and their
ids, transcripts, barge-in, the greeting, typed text, tool uses, usage, a lost stream."""

from __future__ import annotations

from typing import Any

from voice_nova.engine import EngineEvent
from voice_nova.engines.bedrock.conversation import Conversation
from voice_nova.engines.bedrock.history import History
from voice_nova.engines.bedrock.outputs import (
    AudioOutput,
    ContentEnd,
    ContentStart,
    TextOutput,
    ToolUse,
    UsageDelta,
)
from voice_nova.turns import Turns
from voice_proto import messages as m

USER, ASSISTANT = m.Role.USER, m.Role.ASSISTANT


class Recorded:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.tools: list[tuple[ToolUse, int]] = []
        self.turn_ends: list[str] = []
        self.usage: list[UsageDelta] = []
        self.conversation = Conversation(
            self.events.append,
            History(),
            Turns(emit=self.events.append),
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
    assert [(e.role, e.reason, e.turn_id) for e in r.of(m.TurnEnded)] == [
        (USER, "end_turn", 1),  # once Nova transcribed it
        (ASSISTANT, "end_turn", 1),
    ]
    assert r.turn_ends == ["end_turn"]
    assert r.conversation.history.shaped() == [
        m.HistoryTurn(role=USER, text="hello"),
        m.HistoryTurn(role=ASSISTANT, text="Hi there."),
    ]


def test_barge_in_is_one_interruption_and_the_final_text_says_it_was_cut() -> None:
    r = Recorded()
    r.feed(
        *text_block("u1", "USER", "FINAL", "tell me a story"),
        *answer(1, "Once upon", stop="INTERRUPTED", barge_in=True),
    )
    assert [e.turn_id for e in r.of(m.Interrupted)] == [1]
    final = r.of(m.Transcript)[-1]
    assert (final.text, final.interrupted) == ("Once upon", True)
    assert [e.reason for e in r.of(m.TurnEnded) if e.role is ASSISTANT] == ["interrupted"]
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
    assert [e.reason for e in r.of(m.TurnEnded) if e.role is ASSISTANT] == ["interrupted"]
