"""One session of the offline engine: listens, takes turns, answers with voice, can be interrupted.

Everything here runs on the event loop and only decides; transcription and synthesis run in the
worker's shared pool. The assistant counts as speaking from the end of the user's turn until the
client has played the last of its answer (audio is sent faster than real time, so the engine keeps
a playback clock), which is the span in which user speech interrupts it.

Events per turn, as Nova Sonic gives them: ``TurnStarted(USER)`` when speech is confirmed, the
USER FINAL transcript and ``TurnEnded(USER)`` once transcribed; then ``TurnStarted(ASSISTANT)``,
any tool call, the ASSISTANT SPECULATIVE transcript, the audio sentence by sentence, and the
ASSISTANT FINAL transcript and ``TurnEnded(ASSISTANT)`` when playback is over. On barge-in:
``Interrupted``, a FINAL holding only the sentences that had started playing, and
``TurnEnded(ASSISTANT, interrupted)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog
from msgspec.structs import replace
from voice_proto import messages as m

from ...engine import QueuedEngine, SessionSetup
from ...tools import ToolRegistry, ToolResult
from .audio import FloatArray
from .endpointing import Endpointer, EndpointEvent, EndReason, SpeechPaused, SpeechStarted, UtteranceEnded
from .models import SpeechModels
from .responder import Reply, Responder
from .sentences import split_sentences
from .settings import LocalEngineSettings
from .vad import SileroDetector

log = structlog.get_logger("voice_nova.local")

#: Audio per published chunk (100 ms at 24 kHz PCM16).
_CHUNK_BYTES = m.OUTPUT_RATE * 2 // 10
_BYTES_PER_SECOND = m.OUTPUT_RATE * 2
#: The next sentence is synthesized once the client has less than this much audio left to play:
#: enough to hide synthesis, and an interrupted answer has not spent CPU on what it never says.
_LOOKAHEAD_S = 2.0
#: Silence before the end of a turn at which transcription starts, betting the turn is over.
_EARLY_TRANSCRIBE_MS = 96
#: A confirmed utterance with no words this long gets a spoken "didn't catch that"; shorter ones
#: (a cough, a door) only end their turn with reason ``empty``.
_MUMBLE_MS = 400
_NOT_HEARD = "Sorry, I didn't catch that. Could you say it again?"


@dataclass
class _Answer:
    """The assistant's side of one turn (and, for a spoken turn, the transcription before it)."""

    turn_id: int
    #: The user's audio of this turn, until it has been transcribed (kept for a continuation).
    user_audio: FloatArray | None = None
    #: The assistant's turn has started (``TurnStarted(ASSISTANT)`` went out).
    started: bool = False
    open_tool_call: m.ToolCall | None = None
    task: asyncio.Task[None] | None = None
    #: What the assistant says in this turn, once known, and the loop time at which each of its
    #: sentences starts playing (so far).
    text: str = ""
    starts: list[float] = field(default_factory=list)
    #: Milliseconds of audio of this turn sent so far.
    audio_ms: float = 0.0

    def rest(self, now: float) -> str:
        """What is left to say from ``now``: the sentence playing, again from its start, and
        those after it."""
        sentences = split_sentences(self.text)
        playing = sum(1 for starts in self.starts if starts <= now)
        return " ".join(sentences[max(0, playing - 1) :])

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class LocalEngine(QueuedEngine):
    def __init__(
        self,
        models: SpeechModels,
        settings: LocalEngineSettings,
        setup: SessionSetup,
        tools: ToolRegistry,
        timezone: str = "UTC",
    ) -> None:
        super().__init__(setup.turns)
        self._models = models
        self._settings = settings
        self._setup = setup
        self._tools = tools
        self._log = log.bind(session_id=setup.session_id)
        self._responder = Responder(timezone)
        self._responder.remember(setup.history)
        self._endpointer: Endpointer | None = None
        self._answer: _Answer | None = None
        #: Turn id of the user's utterance in progress, once it is confirmed as speech.
        self._user_turn: int | None = None
        #: Audio of an utterance the user went on with before it was transcribed.
        self._carry: FloatArray | None = None
        self._speculation: tuple[int, asyncio.Future[str]] | None = None
        #: What the answer last cut short had left to say (from its sentence playing).
        self._cut_rest = ""
        #: (user turn, the rest of the answer it cut short): said if that turn has no words.
        self._resume: tuple[int, str] | None = None
        self._playback_end = 0.0
        #: Held while a unit of this session's synthesis is in the speech pool (``_synthesize``).
        self._synthesis = asyncio.Lock()

    # --- the engine interface ---------------------------------------------------------------------

    async def start(self) -> None:
        # Not in the speech pool: a new session must not wait behind other sessions' inference
        # (the edge gives up on a claim after a few seconds).
        detector = await asyncio.to_thread(SileroDetector)
        s = self._settings
        self._endpointer = Endpointer(
            detector,
            end_silence_ms=s.end_silence_ms,
            pause_ms=_EARLY_TRANSCRIBE_MS,
            pre_roll_ms=s.pre_roll_ms,
            max_utterance_s=s.max_utterance_s,
            threshold=s.vad_threshold,
        )
        if self._setup.greet:
            self._begin(_Answer(self.turns.open(m.Role.ASSISTANT), started=True), self._greet)
        elif self._setup.answer_again and (question := _last_words(self._setup.history)):
            reply = self._responder.respond(question)
            self._begin(
                _Answer(self.turns.open(m.Role.ASSISTANT), started=True), lambda a: self._reply(a, reply)
            )

    async def push_audio(self, pcm: bytes) -> None:
        if self._closed or self._endpointer is None:
            return
        for event in self._endpointer.feed(pcm):
            self._on_endpoint(event)
        self._confirm_speech()

    async def push_text(self, text: str) -> None:
        if self._closed:
            return
        text = " ".join(text.split())
        if not text:
            self.emit(m.ErrorEvent(code="empty_text", message="typed text has no words"))
            return
        self._interrupt()
        self._carry = None
        turn = self.turns.open(m.Role.USER)
        self._heard(turn, text, m.TurnEndReason.END_TURN)
        self._begin(_Answer(turn), lambda answer: self._reply(answer, self._responder.respond(text)))

    async def end_of_utterance(self) -> None:
        if self._closed or self._endpointer is None or not self._endpointer.in_speech:
            return
        if self._user_turn is None and not self._assistant_busy:
            # The client vouches for the speech, however short.
            self._open_user_turn()
        ended = self._endpointer.end_now()
        if ended is not None:
            self._on_endpoint(ended)

    async def close(self) -> None:
        if self._answer is not None and self._answer.task is not None:
            self._answer.task.cancel()
        if self._speculation is not None:
            self._speculation[1].cancel()
        await super().close()

    # --- listening ----------------------------------------------------------------------------------

    @property
    def _assistant_busy(self) -> bool:
        return self._answer is not None and self._answer.running

    def _confirm_speech(self, voiced_ms: int | None = None) -> None:
        """Speech long enough becomes the user's turn; while the assistant speaks it must be long
        enough to interrupt, and shorter sounds (a backchannel, a cough) are let go."""
        endpointer = self._endpointer
        if endpointer is None or self._user_turn is not None:
            return
        if voiced_ms is None:
            if not endpointer.in_speech:
                return
            voiced_ms = endpointer.voiced_ms
        needed = self._settings.barge_in_ms if self._assistant_busy else self._settings.min_speech_ms
        if voiced_ms >= needed:
            self._open_user_turn()

    def _open_user_turn(self) -> None:
        continued = self._interrupt()
        if continued is not None:
            self._user_turn = continued  # the same turn goes on: its start was already announced
            return
        self._user_turn = self.turns.open(m.Role.USER)
        if self._cut_rest:
            # If this turn turns out to hold no words (a cough, "uh"), the answer it cut goes on.
            self._resume, self._cut_rest = (self._user_turn, self._cut_rest), ""

    def _on_endpoint(self, event: EndpointEvent) -> None:
        match event:
            case SpeechStarted():
                self._speculation = None
            case SpeechPaused(audio=audio, voiced_windows=voiced):
                if self._user_turn is not None and not self._speculating:
                    future = asyncio.ensure_future(self._transcribe_early(self._with_carry(audio)))
                    future.add_done_callback(_consume)
                    self._speculation = (voiced, future)
            case UtteranceEnded():
                self._on_utterance(event)

    async def _transcribe_early(self, audio: FloatArray) -> str:
        """Transcribe at a pause, betting the turn is over; and since the answer's first sentence is
        then known too, have it synthesized (into the voice's cache) while the endpoint is awaited."""
        text: str = await self._models.run(self._models.transcriber.transcribe, audio)
        # A copy: the answer counts only if the bet wins, and a copy leaves the context untouched.
        reply = copy.copy(self._responder).respond(text) if text else Reply()
        first = split_sentences(reply.text)[:1] if reply.tool is None else []
        if first and self._models.voice.cached(first[0]) is None:
            warm = asyncio.ensure_future(self._synthesize(first[0]))
            warm.add_done_callback(_consume)
        return text

    @property
    def _speculating(self) -> bool:
        return self._speculation is not None and not self._speculation[1].done()

    def _with_carry(self, audio: FloatArray) -> FloatArray:
        if self._carry is None:
            return audio
        # However often a turn is taken up again before it was transcribed, what is transcribed
        # stays within one utterance's bound (the latest of it).
        longest = int(self._settings.max_utterance_s * m.INPUT_RATE)
        return np.concatenate((self._carry, audio))[-longest:]

    def _on_utterance(self, ended: UtteranceEnded) -> None:
        # Speech ended where the silence that ended it began (or now, when the client said so).
        silence = 0.0
        if ended.reason is EndReason.SILENCE and self._endpointer is not None:
            silence = self._endpointer.end_silence_s
        self._setup.marks.speech_ended(time.monotonic() - silence)
        # A large chunk can hold a whole utterance, start to end, before any check saw it.
        self._confirm_speech(ended.voiced_ms)
        turn, self._user_turn = self._user_turn, None
        speculation, self._speculation = self._speculation, None
        if turn is None:
            return  # never confirmed as the user's turn: nothing was said to answer
        audio = self._with_carry(ended.audio)
        self._carry = None
        early = speculation[1] if speculation is not None and speculation[0] == ended.voiced_windows else None
        if speculation is not None and early is None:
            speculation[1].cancel()
        answer = _Answer(turn, user_audio=audio)
        self._begin(answer, lambda a: self._answer_speech(a, ended, early))

    # --- answering ----------------------------------------------------------------------------------

    def _begin(self, answer: _Answer, work: _Work) -> None:
        self._interrupt()
        self._answer = answer
        answer.task = asyncio.create_task(self._guarded(answer, work), name=f"answer-{answer.turn_id}")

    async def _guarded(self, answer: _Answer, work: _Work) -> None:
        try:
            await work(answer)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A failure costs this turn only: the session listens on.
            self._log.exception("answering failed", turn_id=answer.turn_id)
            self.emit(
                m.ErrorEvent(code="local_engine_error", message="the assistant could not answer that turn")
            )
            role = m.Role.ASSISTANT if answer.started else m.Role.USER
            self.turns.end(answer.turn_id, role, m.TurnEndReason.ERROR)

    async def _greet(self, answer: _Answer) -> None:
        await self._say(answer, self._responder.greeting())

    async def _answer_speech(
        self, answer: _Answer, ended: UtteranceEnded, early: asyncio.Future[str] | None
    ) -> None:
        assert answer.user_audio is not None
        if early is not None:
            text = await early
        else:
            text = await self._models.run(self._models.transcriber.transcribe, answer.user_audio)
        answer.user_audio = None
        too_long = ended.reason is EndReason.TOO_LONG
        resume, self._resume = self._resume, None
        if resume is not None and resume[0] != answer.turn_id:
            resume = None
        if not text or (resume is not None and _backchannel(text)):
            self.turns.end(answer.turn_id, m.Role.USER, m.TurnEndReason.EMPTY)
            if resume is not None:
                # A false interruption (no words, or only "hmm", "uh-huh"): the answer goes on
                # from the sentence it stopped in.
                await self._say(answer, resume[1])
            elif ended.voiced_ms >= _MUMBLE_MS or too_long:
                await self._say(answer, _NOT_HEARD)
            return
        self._heard(answer.turn_id, text, m.TurnEndReason.TOO_LONG if too_long else m.TurnEndReason.END_TURN)
        reply = self._responder.respond(text)
        if too_long:
            seconds = round(self._settings.max_utterance_s)
            notice = f"That was a long one, so I stopped listening after {seconds} seconds."
            reply = Reply(text=f"{notice} {reply.text}".strip(), tool=reply.tool)
        await self._reply(answer, reply)

    def _heard(self, turn: int, text: str, reason: m.TurnEndReason) -> None:
        self.emit(m.Transcript(turn_id=turn, role=m.Role.USER, text=text, stage=m.Stage.FINAL))
        self.turns.end(turn, m.Role.USER, reason)

    async def _reply(self, answer: _Answer, reply: Reply) -> None:
        self._start_assistant(answer)
        text = reply.text
        if reply.tool is not None:
            result = await self._call_tool(answer, reply.tool.name, reply.tool.arguments)
            text = f"{text} {self._responder.after_tool(reply.tool, result)}".strip()
        await self._say(answer, text)

    async def _call_tool(self, answer: _Answer, name: str, arguments: dict[str, object]) -> ToolResult:
        call = m.ToolCall(
            turn_id=answer.turn_id, call_id=uuid.uuid4().hex[:12], name=name, arguments=json.dumps(arguments)
        )
        answer.open_tool_call = call
        result = await self._tools.run_reported(call, self.emit)
        answer.open_tool_call = None
        return result

    def _start_assistant(self, answer: _Answer) -> None:
        if not answer.started:
            answer.started = True
            self.turns.assistant_speaks(answer.turn_id)

    async def _say(self, answer: _Answer, text: str) -> None:
        """Speak ``text`` sentence by sentence, then wait for the client to finish playing it."""
        self._start_assistant(answer)
        loop = asyncio.get_running_loop()
        answer.text = text
        self.emit(
            m.Transcript(turn_id=answer.turn_id, role=m.Role.ASSISTANT, text=text, stage=m.Stage.SPECULATIVE)
        )
        for index, sentence in enumerate(split_sentences(text)):
            if index:
                await asyncio.sleep(max(0.0, self._playback_end - loop.time() - _LOOKAHEAD_S))
            pcm = self._models.voice.cached(sentence)
            if pcm is None:
                pcm = await self._synthesize(sentence)
            starts = max(loop.time(), self._playback_end)
            answer.starts.append(starts)
            # The ledger keeps what was played on the monotonic clock (the loop's may differ).
            self.turns.said(
                answer.turn_id, sentence, time.monotonic() + starts - loop.time(), answer.audio_ms
            )
            answer.audio_ms += len(pcm) / _BYTES_PER_SECOND * 1000
            for offset in range(0, len(pcm), _CHUNK_BYTES):
                self.emit(m.AudioOut(turn_id=answer.turn_id, pcm=pcm[offset : offset + _CHUNK_BYTES]))
            self._playback_end = starts + len(pcm) / _BYTES_PER_SECOND
        await asyncio.sleep(max(0.0, self._playback_end - loop.time()))
        self.turns.final(answer.turn_id, text)
        self.turns.end(answer.turn_id, m.Role.ASSISTANT)

    async def _synthesize(self, unit: str) -> bytes:
        """One unit's audio from the worker's speech pool, with at most one unit of this session in
        the pool at a time: a cancelled caller keeps the session's place until the pool's thread
        is done with it, so interruptions in a row cannot pile this session's work up in front of
        other sessions'."""
        async with self._synthesis:
            job = asyncio.ensure_future(self._models.run(self._models.voice.speak, unit))
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                await asyncio.wait([job])
                _consume(job)
                raise

    def _interrupt(self) -> int | None:
        """Stop the assistant's turn in progress and report what of it was heard.

        Returns the turn id to continue when the user took up again an utterance whose words were
        not transcribed yet: that audio is carried into the utterance now starting.
        """
        self._cut_rest = ""
        answer = self._answer
        if answer is None or not answer.running:
            return None
        assert answer.task is not None
        answer.task.cancel()
        self._answer = None  # cancelled, though the task only ends at its next await
        now = asyncio.get_running_loop().time()
        self._playback_end = now  # the client flushes the rest
        self._cut_rest = answer.rest(now) if answer.started else ""
        if answer.open_tool_call is not None:
            error = json.dumps({"error": "interrupted by the user"})
            self.emit(replace(answer.open_tool_call, status=m.ToolCallStatus.FAILED, result=error))
        if answer.started:
            self.turns.cut(answer.turn_id)  # the FINAL holds the sentences that started playing
            return None
        if answer.user_audio is not None:
            self._carry = answer.user_audio
            return answer.turn_id
        return None


type _Work = Callable[[_Answer], Awaitable[None]]


#: Words that only keep the conversation going (fillers, backchannels), not a turn of their own.
_BACKCHANNELS = frozenset(
    {"ah", "aha", "ahem", "eh", "er", "erm", "hm", "hmm", "huh", "mhm", "mm", "mmhmm", "mmm", "oh"}
    | {"uh", "uhhuh", "uhhum", "uhm", "um", "umm", "yeah", "yep"}
)


def _backchannel(text: str) -> bool:
    """True when ``text`` holds only fillers and backchannels ("Hmm.", "Uh-huh, yeah")."""
    words = ["".join(c for c in word if c.isalpha()) for word in text.lower().split()]
    return all(word in _BACKCHANNELS for word in words if word) and any(words)


def _last_words(history: list[m.HistoryTurn]) -> str:
    """The user's last words in the history (what an answer cut short by a handover answered)."""
    return next((turn.text for turn in reversed(history) if turn.role is m.Role.USER), "")


def _consume(future: asyncio.Future[Any]) -> None:
    """Speculative work nobody waits for any more must not log 'never retrieved'."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        future.result()
