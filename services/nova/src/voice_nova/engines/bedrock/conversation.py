"""Nova's output events turned into the engine's: turns, transcripts, audio, barge-in, tool calls,
usage; and the conversation's history, kept from the FINAL transcripts.

Turn ids come from the session's ledger (:class:`~voice_nova.turns.Turns`); this module only says
when a turn opens. The user's utterance and the assistant's answer share one. A new turn starts
when the user speaks (or types) after the assistant said something in the current turn, or when the
assistant speaks again after it had ended its turn (a greeting, a follow-up after a tool result).
Nova decides interruptions itself (its barge-in marker, or a content block that ends
``INTERRUPTED``); the ledger applies them once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from voice_proto import messages as m

from ...engine import EngineEvent
from ...turns import Turns
from .history import History
from .outputs import (
    AudioOutput,
    CompletionEnd,
    CompletionStart,
    ContentEnd,
    ContentStart,
    NovaOutput,
    TextOutput,
    ToolUse,
    UsageDelta,
)

INTERRUPTED = "INTERRUPTED"
END_TURN = "END_TURN"


class Speaker(Enum):
    IDLE = "idle"  # the assistant has not spoken in this turn
    SPEAKING = "speaking"
    DONE = "done"  # the assistant ended its turn


@dataclass
class _Block:
    start: ContentStart
    text: list[str] = field(default_factory=list)


class Conversation:
    def __init__(
        self,
        emit: Callable[[EngineEvent], None],
        history: History,
        turns: Turns,
        *,
        on_tool_use: Callable[[ToolUse, int], None],
        on_turn_end: Callable[[str], None],
        on_usage: Callable[[UsageDelta], None],
    ) -> None:
        #: The current turn's id (0: no turn yet on this worker).
        self.turn = 0
        self.turns = turns
        self.speaker = Speaker.IDLE
        self.history = history
        #: Monotonic time the assistant's latest turn began to speak (0: never).
        self.assistant_started_at = 0.0
        #: Monotonic time of the latest FINAL user transcript that has no answer yet (0: none).
        self.unanswered_since = 0.0
        self._emit = emit
        self._on_tool_use = on_tool_use
        self._on_turn_end = on_turn_end
        self._on_usage = on_usage
        self._blocks: dict[str, _Block] = {}
        self._tools: dict[str, ToolUse] = {}
        #: Typed text already shown as the user's transcript: Nova's echo of it is not shown again.
        self._echoes: list[str] = []

    # --- turns ------------------------------------------------------------------------------------

    def _new_turn(self, role: m.Role) -> None:
        # Its span is the turn observer's (voice_nova.turn_trace), made from the ledger's moments.
        self.turn = self.turns.open(role)
        self.speaker = Speaker.IDLE

    def _user_turn(self) -> None:
        if self.turn == 0 or self.speaker is not Speaker.IDLE:
            self._new_turn(m.Role.USER)

    def _assistant_speaks(self) -> None:
        if self.speaker is Speaker.SPEAKING:
            return
        if self.turn == 0 or self.speaker is Speaker.DONE:
            self._new_turn(m.Role.ASSISTANT)  # the assistant opens this turn (and says so)
        else:
            self.turns.assistant_speaks(self.turn)
        self.speaker = Speaker.SPEAKING
        self.assistant_started_at = time.monotonic()
        self.unanswered_since = 0.0

    def _assistant_done(self, stop_reason: str) -> None:
        if self.speaker is not Speaker.SPEAKING:
            return
        self.speaker = Speaker.DONE
        interrupted = stop_reason == INTERRUPTED or self.turns.interrupted(self.turn)
        reason = m.TurnEndReason.INTERRUPTED if interrupted else m.TurnEndReason.END_TURN
        self.turns.end(self.turn, m.Role.ASSISTANT, reason)
        self._on_turn_end(reason)

    def _interrupt(self) -> None:
        if self.speaker is Speaker.SPEAKING:
            self.turns.interrupt(self.turn)

    # --- input the engine reports -----------------------------------------------------------------

    def user_typed(self, text: str) -> None:
        """Typed text goes to the model as interactive text; the user sees it as their transcript."""
        self._new_turn(m.Role.USER)
        self._echoes.append(text.strip())
        self._user_final(text)

    def expect_echo(self, text: str) -> None:
        """Text we sent on the user's behalf (the greeting cue), never shown as theirs."""
        self._echoes.append(text.strip())

    def _user_final(self, text: str) -> None:
        self._emit(m.Transcript(turn_id=self.turn, role=m.Role.USER, text=text, stage=m.Stage.FINAL))
        self.turns.end(self.turn, m.Role.USER)  # Nova transcribes the user's turn once it is over
        self.history.add(m.Role.USER, text)
        self.unanswered_since = time.monotonic()

    def stream_lost(self) -> None:
        """The stream died: whatever the assistant was saying ends here."""
        if self.speaker is Speaker.SPEAKING:
            self._assistant_done(INTERRUPTED)
        self._blocks.clear()
        self._tools.clear()

    # --- output -----------------------------------------------------------------------------------

    def handle(self, output: NovaOutput) -> None:
        match output:
            case AudioOutput():
                self._audio(output)
            case TextOutput():
                self._text(output)
            case ContentStart():
                self._content_start(output)
            case ContentEnd():
                self._content_end(output)
            case ToolUse():
                self._tools[output.content_id] = output
            case UsageDelta():
                self._on_usage(output)
            case CompletionEnd():
                self._assistant_done(output.stop_reason)
            case CompletionStart():
                pass

    def _content_start(self, start: ContentStart) -> None:
        self._blocks[start.content_id] = _Block(start)
        if start.role == "USER" and start.type == "TEXT":
            self._user_turn()
        elif start.role == "ASSISTANT":
            self._assistant_speaks()

    def _text(self, output: TextOutput) -> None:
        block = self._blocks.get(output.content_id)
        if output.is_barge_in:
            self._interrupt()
            return
        if block is None:
            return
        role, stage = block.start.role, block.start.stage or "FINAL"
        if role == "USER":
            text = output.text.strip()
            if text in self._echoes:
                self._echoes.remove(text)
                return
            self._user_final(output.text)
        elif role == "ASSISTANT" and stage == "SPECULATIVE":
            # Nova sends a sentence's text just before its audio: played from about now (the FINAL
            # of an answer cut short by a shutdown holds these).
            self.turns.said(self.turn, output.text.strip())
            self._emit(
                m.Transcript(
                    turn_id=self.turn, role=m.Role.ASSISTANT, text=output.text, stage=m.Stage.SPECULATIVE
                )
            )
        elif role == "ASSISTANT":
            # Held until the block ends: only then is it known whether the user cut it short.
            block.text.append(output.text)

    def _audio(self, output: AudioOutput) -> None:
        self._assistant_speaks()
        self._emit(m.AudioOut(turn_id=self.turn, pcm=output.pcm, rate=m.OUTPUT_RATE))

    def _content_end(self, end: ContentEnd) -> None:
        block = self._blocks.pop(end.content_id, None)
        if end.stop_reason == INTERRUPTED:
            self._interrupt()
        if block is None:
            return
        start = block.start
        if start.type == "TOOL":
            tool = self._tools.pop(end.content_id, None)
            if tool is not None:
                self._on_tool_use(tool, self.turn)
            return
        if start.role == "ASSISTANT" and start.type == "TEXT" and start.stage != "SPECULATIVE":
            text = "".join(block.text).strip()
            if text:
                self.turns.final(self.turn, text)
                self.history.add(m.Role.ASSISTANT, text)
            if end.stop_reason in (END_TURN, INTERRUPTED):
                self._assistant_done(end.stop_reason)
