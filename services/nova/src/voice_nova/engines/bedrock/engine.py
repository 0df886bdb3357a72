"""``NOVA_ENGINE=bedrock``: one session's conversation with Amazon Nova Sonic.

The engine keeps one current stream (and, during a rotation, a primed next one). A supervisor
task reopens the current stream with the conversation so far when it fails for a reason a retry
can fix, and ends the session with a fatal error event otherwise. The user's audio goes to the
current stream as it arrives; when the client sends nothing, silence is sent in its place, so the
model hears a continuous microphone and never times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import structlog
from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
from opentelemetry import context as otel_context
from voice_proto import messages as m

from ...engine import QueuedEngine, SessionSetup
from ...tools import ToolRegistry
from . import events as ev
from . import metrics
from .audio import Microphone, silence
from .conversation import Conversation, Speaker
from .errors import Failure, RetryBudget, classify
from .history import History
from .outputs import NovaOutput, ToolUse, UsageDelta
from .rotation import Rotator
from .settings import BedrockSettings
from .stream import NovaStream

log = structlog.get_logger("voice_nova.bedrock")

#: Seconds without the user's voice before a waiting hand-off may call the conversation quiet.
_QUIET_AFTER = 1.0


class BedrockEngine(QueuedEngine):
    def __init__(
        self,
        client: AsyncBedrockRuntimeClient,
        settings: BedrockSettings,
        tools: ToolRegistry,
        setup: SessionSetup,
    ) -> None:
        super().__init__(setup.turns)
        self._client = client
        self._settings = settings
        self._tools = tools
        self._setup = setup
        self._log = log.bind(session_id=setup.session_id)
        self._microphone = Microphone(settings.replay_seconds)
        history = list(setup.history)
        if setup.answer_again:
            while history and history[-1].role is m.Role.ASSISTANT:
                history.pop()  # the answer the previous worker cut short: it is given again
        self._conversation = Conversation(
            self.emit,
            History(history),
            self.turns,
            on_tool_use=self._tool_use,
            on_turn_end=self._turn_ended,
            on_usage=self._usage,
        )
        if setup.answer_again and history:
            # The first stream sends the user's last words again as interactive text (Nova 2).
            self._conversation.unanswered_since = time.monotonic()
        self._rotator = Rotator(self, settings)
        self._current: NovaStream | None = None
        self._streams_opened = 0
        self._last_fed = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._tool_tasks: dict[asyncio.Task[None], tuple[NovaStream, str]] = {}
        self._stopping = False
        self._tokens_in = 0
        self._tokens_out = 0
        self._parent: otel_context.Context | None = None

    # --- the engine interface ---------------------------------------------------------------------

    async def start(self) -> None:
        # The worker makes its session span current around start(): the spans of the streams and
        # rotations go under it, in the edge's trace (turns have traces of their own).
        self._parent = otel_context.get_current()
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"nova-supervise-{self._setup.session_id}"),
            asyncio.create_task(self._fill_silence(), name=f"nova-silence-{self._setup.session_id}"),
            asyncio.create_task(
                self._rotator.run(self._parent), name=f"nova-rotate-{self._setup.session_id}"
            ),
        ]

    async def push_audio(self, pcm: bytes) -> None:
        self._microphone.hear(pcm)
        if self._microphone.last_voiced == self._microphone.last_heard:
            # Voiced: the user's speech has not ended before now (the turn observer's mark).
            self._setup.marks.speech_ended(self._microphone.last_voiced)
        self._feed(pcm)

    async def push_text(self, text: str) -> None:
        if not self._settings.is_nova_2:
            self.emit(m.ErrorEvent(code="text_unsupported", message="this model takes speech only"))
            return
        self._conversation.user_typed(text)
        if self._current is not None:
            self._current.send(ev.text_block(self._current.prompt, "USER", text, interactive=True))

    async def end_of_utterance(self) -> None:
        # Nova decides the end of a turn itself (turn detection); the silence that follows the
        # user's speech is what it listens for, and the silence filler provides it.
        pass

    async def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._settle_tools()
        current, self._current = self._current, None
        streams = [stream for stream in (current, self._rotator.pending) if stream is not None]
        await asyncio.gather(*(stream.close() for stream in streams))
        for direction, count in (("input", self._tokens_in), ("output", self._tokens_out)):
            metrics.session_tokens.record(count, {"direction": direction})
        self._log.info("nova session closed", tokens_in=self._tokens_in, tokens_out=self._tokens_out)
        await super().close()

    # --- streams ----------------------------------------------------------------------------------

    @property
    def current(self) -> NovaStream | None:
        return self._current

    async def _open(self, reason: str, *, primed_only: bool = False) -> NovaStream:
        self._streams_opened += 1
        metrics.streams.add(1, {"reason": reason})
        stream = NovaStream(
            self._client,
            self._settings,
            self._on_output,
            label=f"{self._setup.session_id[:8]}-{self._streams_opened}",
        )
        setup = [
            ev.session_start(self._settings),
            ev.prompt_start(stream.prompt, self._settings, self._tools.specs()),
            *ev.text_block(stream.prompt, "SYSTEM", self._settings.system_prompt, interactive=False),
        ]
        await stream.open(setup, reason=reason, parent=self._parent)
        if not primed_only:
            # Greet on the first stream that gets going (a stream that failed at once did not).
            self._continue_conversation(stream, greet=self._setup.greet and self._conversation.turn == 0)
        return stream

    def _continue_conversation(self, stream: NovaStream, *, greet: bool = False) -> dict[str, int]:
        """History, then the audio block with the user's latest audio, then what awaits an answer."""
        history = self._conversation.history.shaped()
        resend = ""
        unanswered = self._conversation.unanswered_since
        if unanswered and history and history[-1].role is m.Role.USER and self._settings.is_nova_2:
            # The user's last words never got an answer: ask again as interactive text, so the
            # model answers them, rather than leaving them in history as if answered.
            resend = history.pop().text
        stream.send(ev.history_blocks(stream.prompt, history))
        since = max(time.monotonic() - self._settings.replay_seconds, self._conversation.assistant_started_at)
        if resend:
            since = max(since, unanswered)
        replay = self._microphone.since(since)
        stream.open_audio(replay)
        if resend:
            self._conversation.expect_echo(resend)
            stream.send(ev.text_block(stream.prompt, "USER", resend, interactive=True))
        elif greet and self._settings.is_nova_2:
            # Nova 2 speaks first when told to in interactive text; v1 only ever answers audio.
            self._conversation.expect_echo(self._settings.greeting_prompt)
            stream.send(
                ev.text_block(stream.prompt, "USER", self._settings.greeting_prompt, interactive=True)
            )
        self._last_fed = time.monotonic()
        return {
            "history_messages": len(history),
            "replayed_bytes": len(replay),
            "resent_text": int(bool(resend)),
        }

    async def _supervise(self) -> None:
        try:
            await self._keep_a_stream()
        except Exception:
            # A bug of ours must end the session visibly, never leave it without a model.
            self._log.exception("nova engine failed")
            self.emit(m.ErrorEvent(code="engine_failed", message="the speech engine failed", fatal=True))

    async def _keep_a_stream(self) -> None:
        budget = RetryBudget(
            self._settings.max_retries, self._settings.retry_base_delay, self._settings.retry_max_delay
        )
        reason = "start"
        while True:
            stream = await self._open(reason)
            self._current = stream
            stream, failure = await self._watch(stream)
            if failure is None:
                return
            self._conversation.stream_lost()
            if time.monotonic() - stream.opened_at >= self._settings.healthy_after:
                budget.reset()
            delay = budget.next_delay() if failure.retryable else None
            metrics.failures.add(1, {"code": failure.code, "retried": delay is not None})
            if delay is None:
                code = failure.code if not failure.retryable else "model_unavailable"
                self._log.warning("nova stream failed for good", code=failure.code, message=failure.message)
                self.emit(m.ErrorEvent(code=code, message=failure.message, fatal=True))
                self._current = None
                await stream.abort()
                return
            self._log.warning(
                "nova stream failed; reopening",
                code=failure.code,
                message=failure.message,
                delay=round(delay, 2),
            )
            self._current = None
            await stream.abort()
            await asyncio.sleep(delay)
            reason = "retry"

    async def _watch(self, stream: NovaStream) -> tuple[NovaStream, Failure | None]:
        """Wait for the end of the current stream, following promotions: the stream that ended
        while current, and its failure (None when we closed it)."""
        while True:
            outcome = await asyncio.shield(stream.outcome)
            if stream is not self._current and self._current is not None:
                stream = self._current  # rotated out: watch its successor
                continue
            return stream, None if outcome is None else classify(outcome)

    # --- rotation (the Rotator's host) ------------------------------------------------------------

    async def prime(self) -> NovaStream:
        return await self._open("rotation", primed_only=True)

    def quiet(self) -> bool:
        return (
            self._conversation.speaker is not Speaker.SPEAKING
            and not self._conversation.unanswered_since
            and time.monotonic() - self._microphone.last_voiced > _QUIET_AFTER
        )

    def can_promote(self) -> bool:
        return not any(stream is self._current for stream, _ in self._tool_tasks.values())

    async def promote(self, nxt: NovaStream) -> dict[str, int]:
        old, self._current = self._current, nxt
        replayed = self._continue_conversation(nxt)
        if old is not None:
            # Closed in the background: the old stream's goodbye must not hold up the new one.
            self._tasks.append(asyncio.create_task(old.close(), name=f"nova-retire-{old.label}"))
        return replayed

    def _turn_ended(self, reason: str) -> None:
        self._rotator.turn_ended(reason)

    # --- audio in ---------------------------------------------------------------------------------

    def _feed(self, pcm: bytes) -> None:
        self._last_fed = time.monotonic()
        if self._current is not None:
            self._current.send_audio(pcm)

    async def _fill_silence(self) -> None:
        frame = silence(self._settings.frame_ms)
        period = self._settings.frame_ms / 1000
        gap = self._settings.silence_after_ms / 1000
        while True:
            await asyncio.sleep(period)
            if time.monotonic() - self._last_fed >= gap:
                self._feed(frame)
                # Paced by the clock, not by the last client chunk: one frame per frame period.
                self._last_fed -= gap - period

    # --- output -----------------------------------------------------------------------------------

    def _on_output(self, stream: NovaStream, output: NovaOutput) -> None:
        if stream is self._current:
            self._conversation.handle(output)
        elif isinstance(output, UsageDelta):
            self._usage(output)  # a retiring stream's tokens still count

    def _usage(self, usage: UsageDelta) -> None:
        self._tokens_in += usage.input_tokens
        self._tokens_out += usage.output_tokens
        metrics.tokens.add(usage.input_tokens, {"direction": "input"})
        metrics.tokens.add(usage.output_tokens, {"direction": "output"})
        if usage.input_tokens or usage.output_tokens:
            self.emit(m.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens))

    # --- tools ------------------------------------------------------------------------------------

    def _tool_use(self, tool: ToolUse, turn: int) -> None:
        stream = self._current
        if stream is None:
            return
        task = asyncio.create_task(self._run_tool(stream, tool, turn), name=f"nova-tool-{tool.tool_use_id}")
        self._tool_tasks[task] = (stream, tool.tool_use_id)
        task.add_done_callback(lambda done: self._tool_tasks.pop(done, None))

    async def _run_tool(self, stream: NovaStream, tool: ToolUse, turn: int) -> None:
        call = m.ToolCall(turn_id=turn, call_id=tool.tool_use_id, name=tool.name, arguments=tool.arguments)
        # Its span is the turn observer's (voice_nova.turn_trace), made from the ToolCall events.
        result = await self._tools.run_reported(call, self.emit)
        # Sent while audio keeps flowing: the result is one more block in the stream's queue.
        stream.send(ev.tool_result_block(stream.prompt, tool.tool_use_id, result.content))

    async def _settle_tools(self) -> None:
        """Closing: let running tools finish briefly; answer the rest with an error, never leave one open."""
        if not self._tool_tasks:
            return
        pending = dict(self._tool_tasks)
        _, still = await asyncio.wait(pending, timeout=self._settings.close_timeout)
        for task in still:
            task.cancel()
            stream, call_id = pending[task]
            error = json.dumps({"error": "the session ended before the tool finished"})
            stream.send(ev.tool_result_block(stream.prompt, call_id, error))
        with contextlib.suppress(BaseException):
            await asyncio.gather(*still, return_exceptions=True)
