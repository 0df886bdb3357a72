"""The fake model behind one emulated stream: it listens to the "speech" of ``speech.py``, answers
like Nova Sonic does (transcripts, speculative and final text, audio, tool use, barge-in, usage),
and misbehaves when its plan says so (in-stream exceptions, resets, the time limit)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .speech import OUTPUT_RATE, Listener, answer_key, tagged_chunk
from .validator import ProtocolValidator

EXCEPTION_MESSAGES = {
    "throttlingException": "Too many requests, please wait before trying again.",
    "modelStreamErrorException": "The model stream failed.",
    "internalServerException": "An internal server error occurred.",
    "serviceUnavailableException": "The service is unavailable. Please try again later.",
    "modelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "validationException": "Invalid input request, please fix your input and try again.",
}
BARGE_IN_MARKER = '{ "interrupted" : true }'


@dataclass
class StreamPlan:
    """How one stream misbehaves (the default: it does not)."""

    #: Answer the request with this HTTP status and ``x-amzn-errortype`` instead of 200.
    http_status: int = 0
    error_type: str = ""
    message: str = ""
    #: Never answer the request at all (a dead endpoint).
    hold_headers: bool = False
    #: An in-stream exception type (``throttlingException``...), ``reset`` (RST_STREAM) or ``end``
    #: (the response ends without a word).
    fault: str = ""
    fault_message: str = ""
    #: ``start`` (right after promptStart) or ``utterance`` (after a user transcript).
    fault_on: str = "utterance"
    #: Utterances answered normally before the one that faults.
    skip_utterances: int = 0
    #: The per-connection limit in seconds (None: the emulator's).
    time_limit: float | None = None


@dataclass
class Answer:
    key: int
    text: str
    chunks: int
    sent: int = 0
    interrupted: bool = False


@dataclass
class StreamRecord:
    """What happened on one stream, for the tests to read."""

    label: str
    model_id: str
    plan: StreamPlan
    validator: ProtocolValidator
    user_transcripts: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    fault_sent: str = ""
    time_limit_hit: bool = False
    ended: bool = False
    #: Who signed the request: the access key id of its SigV4 credential, and its session token.
    access_key_id: str = ""
    security_token: str = ""


@dataclass
class ModelConfig:
    endpoint_ms: int = 400
    answer_chunks: int = 10
    story_chunks: int = 150
    time_limit: float = 480.0
    tool_wait: float = 15.0


class Output(Protocol):
    async def event(self, body: dict[str, Any]) -> None: ...
    async def exception(self, kind: str, message: str) -> None: ...
    async def end(self) -> None: ...
    async def reset(self) -> None: ...


class FakeNova:
    def __init__(self, out: Output, record: StreamRecord, config: ModelConfig) -> None:
        self.out = out
        self.record = record
        self.config = config
        self.validator = record.validator
        self.listener = Listener(config.endpoint_ms)
        self.session_id = str(uuid.uuid4())
        self.completion_id = str(uuid.uuid4())
        self.prompt = ""
        self.over = False
        self._utterances: asyncio.Queue[tuple[list[str], bool]] = asyncio.Queue()
        self._tool_results: dict[str, asyncio.Future[str]] = {}
        self._playback_until = 0.0
        self._barge_in = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._fault_fired = False
        self._interactive_seen = 0

    # --- input ------------------------------------------------------------------------------------

    async def receive(self, document: Any) -> None:
        checked = self.validator.check(document)
        if checked is None or self.over:
            return
        name, body = checked
        if name == "promptStart":
            self.prompt = str(body.get("promptName", ""))
            self._spawn(self._respond_forever())
            self._spawn(self._enforce_time_limit())
            await self._send("completionStart", {})
            if self.record.plan.fault and self.record.plan.fault_on == "start":
                await self._fault()
        elif name == "audioInput":
            self._listen(self.validator.audio(body))
        elif name == "contentEnd":
            self._after_block()
        elif name == "sessionEnd":
            await self._send("completionEnd", {"stopReason": "END_TURN"})
            self.over = True

    def _after_block(self) -> None:
        """A text or tool block was completed: typed text is an utterance; a tool result is awaited."""
        texts = self.validator.interactive_texts
        while self._interactive_seen < len(texts):
            text = texts[self._interactive_seen]
            self._interactive_seen += 1
            self._utterances.put_nowait((text.lower().replace(".", "").split(), False))
        for use_id, result in self.validator.tool_results.items():
            waiting = self._tool_results.get(use_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(result)

    def _listen(self, pcm: bytes) -> None:
        was_speaking = self.listener.speaking
        words = self.listener.hear(pcm)
        if self.listener.speaking and not was_speaking and time.monotonic() < self._playback_until:
            self._barge_in.set()
        if words:
            self._utterances.put_nowait((words, True))

    async def input_ended(self) -> None:
        self.validator.input_closed()
        await self.close()

    async def close(self) -> None:
        self.over = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coroutine))

    # --- output -----------------------------------------------------------------------------------

    async def _send(self, name: str, body: dict[str, Any]) -> None:
        if self.record.ended:
            return
        full = {
            "sessionId": self.session_id,
            "promptName": self.prompt,
            "completionId": self.completion_id,
            **body,
        }
        await self.out.event({"event": {name: full}})

    async def _fault(self) -> None:
        plan = self.record.plan
        self._fault_fired = True
        self.record.fault_sent = plan.fault
        self.validator.stream_failed()
        self.over = True
        if plan.fault == "reset":
            await self.out.reset()
        elif plan.fault == "end":
            await self.out.end()
        else:
            await self.out.exception(
                plan.fault, plan.fault_message or EXCEPTION_MESSAGES.get(plan.fault, "error")
            )
            await self.out.end()
        self.record.ended = True

    async def _enforce_time_limit(self) -> None:
        limit = self.record.plan.time_limit or self.config.time_limit
        await asyncio.sleep(limit)
        if self.over:
            return
        self.record.time_limit_hit = True
        self.validator.stream_failed()
        self.over = True
        await self.out.exception("modelTimeoutException", EXCEPTION_MESSAGES["modelTimeoutException"])
        await self.out.end()
        self.record.ended = True

    async def _block(
        self, kind: str, role: str, content_events: list[tuple[str, dict[str, Any]]], stop: str, **extra: Any
    ) -> None:
        content_id = str(uuid.uuid4())
        await self._send("contentStart", {"contentId": content_id, "type": kind, "role": role, **extra})
        for name, body in content_events:
            await self._send(name, {"contentId": content_id, **body})
        await self._send("contentEnd", {"contentId": content_id, "type": kind, "stopReason": stop})

    async def _text(self, role: str, stage: str, text: str, stop: str = "END_TURN") -> None:
        await self._block(
            "TEXT",
            role,
            [("textOutput", {"role": role, "content": text})],
            stop,
            additionalModelFields=json.dumps({"generationStage": stage}),
            textOutputConfiguration={"mediaType": "text/plain"},
        )

    # --- the conversation -------------------------------------------------------------------------

    async def _respond_forever(self) -> None:
        while not self.over:
            words, spoken = await self._utterances.get()
            if spoken:
                transcript = " ".join(words)
                self.record.user_transcripts.append(transcript)
                await self._text("USER", "FINAL", transcript)
                plan = self.record.plan
                heard = len(self.record.user_transcripts)
                if plan.fault and plan.fault_on == "utterance" and heard > plan.skip_utterances:
                    await self._fault()
                    return
            await self._answer(words)

    async def _answer(self, words: list[str]) -> None:
        key = answer_key(words)
        text, chunks, realtime = f"You said {' '.join(words)}.", self.config.answer_chunks, False
        if "time" in words:
            result = await self._use_tool("get_date_and_time", {"timezone": "Europe/Paris"})
            text = f"The time is {result.get('time', 'unknown')}." if "error" not in result else "No time."
        elif "bad" in words and "tool" in words:
            result = await self._use_tool("launch_rocket", {"target": "moon"})
            text = f"That failed: {result.get('error', 'no error?')}."
        elif key < 0:
            # Words of no vocabulary: the client's cue to speak first.
            text = "Hello! How can I help you today?"
        elif "story" in words:
            text, chunks, realtime = (
                "Once upon a time there was a long story.",
                self.config.story_chunks,
                True,
            )
        if self.over:
            return
        answer = Answer(key, text, chunks)
        self.record.answers.append(answer)
        self._barge_in.clear()
        await self._text("ASSISTANT", "SPECULATIVE", text, stop="PARTIAL_TURN")
        await self._audio(answer, realtime)
        # The final transcript follows the audio once it has been "played", or at the barge-in.
        remaining = self._playback_until - time.monotonic()
        if not answer.interrupted and remaining > 0:
            try:
                await asyncio.wait_for(self._barge_in.wait(), remaining)
                answer.interrupted = True
            except TimeoutError:
                pass
        if answer.interrupted:
            spoken = text[: max(1, len(text) * answer.sent // max(1, chunks))]
            await self._block(
                "TEXT",
                "ASSISTANT",
                [
                    ("textOutput", {"role": "ASSISTANT", "content": spoken}),
                    ("textOutput", {"role": "ASSISTANT", "content": BARGE_IN_MARKER}),
                ],
                "INTERRUPTED",
                additionalModelFields=json.dumps({"generationStage": "FINAL"}),
            )
        else:
            await self._text("ASSISTANT", "FINAL", text)
        await self._send(
            "usageEvent",
            {
                "details": {
                    "delta": {
                        "input": {"speechTokens": 10 * max(1, len(words)), "textTokens": 0},
                        "output": {"speechTokens": answer.sent, "textTokens": len(text.split())},
                    }
                },
                "totalInputTokens": 0,
                "totalOutputTokens": 0,
                "totalTokens": 0,
            },
        )

    async def _audio(self, answer: Answer, realtime: bool) -> None:
        content_id = str(uuid.uuid4())
        chunk_seconds = 0.04
        await self._send(
            "contentStart",
            {
                "contentId": content_id,
                "type": "AUDIO",
                "role": "ASSISTANT",
                "audioOutputConfiguration": {
                    "mediaType": "audio/lpcm",
                    "sampleRateHertz": OUTPUT_RATE,
                    "sampleSizeBits": 16,
                    "encoding": "base64",
                    "channelCount": 1,
                },
            },
        )
        started = time.monotonic()
        self._playback_until = started + answer.chunks * chunk_seconds
        for index in range(answer.chunks):
            if self._barge_in.is_set():
                answer.interrupted = True
                break
            pcm = tagged_chunk(answer.key, index, answer.chunks, time.monotonic_ns())
            await self._send(
                "audioOutput", {"contentId": content_id, "content": base64.b64encode(pcm).decode()}
            )
            answer.sent += 1
            if realtime:
                await asyncio.sleep(max(0.0, started + (index + 1) * chunk_seconds - time.monotonic()))
        await self._send("contentEnd", {"contentId": content_id, "type": "AUDIO", "stopReason": "END_TURN"})

    async def _use_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        use_id = str(uuid.uuid4())
        waiting: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tool_results[use_id] = waiting
        self.validator.tool_uses_issued.add(use_id)
        call: dict[str, Any] = {"name": name, "arguments": arguments, "tool_use_id": use_id}
        self.record.tool_calls.append(call)
        await self._block(
            "TOOL",
            "TOOL",
            [("toolUse", {"toolName": name, "toolUseId": use_id, "content": json.dumps(arguments)})],
            "TOOL_USE",
            toolUseOutputConfiguration={"mediaType": "application/json"},
        )
        try:
            raw = await asyncio.wait_for(waiting, self.config.tool_wait)
        except TimeoutError:
            self.validator.violations.append(f"{self.record.label}: no result for tool call {name} in time")
            return {"error": "no result"}
        result: dict[str, Any] = json.loads(raw)
        call["result"] = result
        return result


type OutputFactory = Callable[[StreamRecord], Output]
