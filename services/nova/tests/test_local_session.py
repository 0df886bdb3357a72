"""One offline engine session in process, with the real models: the events it gives for what it
gets, including what the browser cannot easily send (a handover, one huge chunk, garbage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import numpy as np
import pytest
from voice_nova.engine import EngineEvent, SessionSetup
from voice_nova.engines.local.engine import LocalEngine
from voice_nova.engines.local.knowledge import TOPICS_BY_NAME
from voice_nova.engines.local.models import SpeechModels, load_models
from voice_nova.engines.local.sentences import split_sentences
from voice_nova.engines.local.settings import LocalEngineSettings
from voice_nova.tools import default_tools
from voice_nova.turns import Turns
from voice_proto import messages as m
from voice_testkit.speech import say, silence, speaker

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def models() -> Iterator[SpeechModels]:
    loaded = load_models(LocalEngineSettings())
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def question() -> bytes:
    return say(speaker("espeak"), "What is a virtual private network?").astype("<i2").tobytes()


class Session:
    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine
        self.events: list[EngineEvent] = []
        self._reader = asyncio.create_task(self._read())
        self._arrived = asyncio.Event()

    async def _read(self) -> None:
        async for event in self.engine.events():
            self.events.append(event)
            self._arrived.set()

    async def until(self, predicate: Callable[[EngineEvent], bool], timeout: float = 60.0) -> EngineEvent:
        async def wait() -> EngineEvent:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(wait(), timeout)

    def shown(self) -> list[EngineEvent]:
        """Everything but audio."""
        return [e for e in self.events if not isinstance(e, m.AudioOut)]


type OpenSession = Callable[..., Awaitable[Session]]


@pytest.fixture
async def open_session(models: SpeechModels) -> AsyncIterator[OpenSession]:
    sessions: list[Session] = []

    async def start(
        history: list[m.HistoryTurn] | None = None, next_turn_id: int = 1, report_wait: float = 0.0
    ) -> Session:
        setup = SessionSetup(
            session_id=f"s{len(sessions)}",
            principal="alice",
            history=history or [],
            greet=False,
            turns=Turns(first_id=next_turn_id, report_wait=report_wait),
        )
        engine = LocalEngine(models, LocalEngineSettings(), setup, default_tools())
        await engine.start()
        session = Session(engine)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        await session.engine.close()
        await session._reader


def is_user_final(event: EngineEvent) -> bool:
    return isinstance(event, m.Transcript) and event.role is m.Role.USER and event.stage is m.Stage.FINAL


def is_audio(event: EngineEvent) -> bool:
    return isinstance(event, m.AudioOut)


async def test_a_handover_does_not_greet_and_goes_on_with_the_conversation(
    open_session: OpenSession,
) -> None:
    security = TOPICS_BY_NAME["security"]
    history = [
        m.HistoryTurn(role=m.Role.USER, text="How do I keep my data secure?"),
        m.HistoryTurn(role=m.Role.ASSISTANT, text=security.answers[0]),
    ]
    session = await open_session(history=history, next_turn_id=7)
    await session.engine.push_text("Tell me more.")
    await session.until(is_audio)
    started = session.shown()[0]
    assert isinstance(started, m.TurnStarted)
    assert started.role is m.Role.USER
    assert started.turn_id == 7  # where the edge said the session's turns go on, above the old ones
    planned = next(
        e for e in session.shown() if isinstance(e, m.Transcript) and e.stage is m.Stage.SPECULATIVE
    )
    assert planned.text == security.answers[1]


async def test_date_and_time_are_a_tool_call_before_the_answer(
    open_session: OpenSession,
) -> None:
    session = await open_session()
    await session.engine.push_text("what time is it in Tokyo")
    await session.until(is_audio)
    calls = [e for e in session.shown() if isinstance(e, m.ToolCall)]
    assert [(c.name, c.status) for c in calls] == [
        ("get_date_and_time", "started"),
        ("get_date_and_time", "completed"),
    ]
    assert calls[0].call_id == calls[1].call_id
    assert calls[0].arguments == '{"timezone": "Asia/Tokyo"}'
    planned = next(
        e for e in session.shown() if isinstance(e, m.Transcript) and e.stage is m.Stage.SPECULATIVE
    )
    assert planned.text.startswith("It's ")
    assert planned.text.endswith(" in Tokyo.")
    assert session.shown().index(calls[1]) < session.shown().index(planned)


async def test_empty_text_is_an_error_event_and_nothing_else(
    open_session: OpenSession,
) -> None:
    session = await open_session()
    await session.engine.push_text("  \n ")
    error = await session.until(lambda e: isinstance(e, m.ErrorEvent))
    assert isinstance(error, m.ErrorEvent)
    assert (error.code, error.fatal) == ("empty_text", False)
    assert session.shown() == [error]


async def test_a_whole_utterance_in_one_chunk_is_heard(open_session: OpenSession, question: bytes) -> None:
    session = await open_session()
    await session.engine.push_audio(silence(0.5) + question + silence(1.0))
    heard = await session.until(is_user_final)
    assert isinstance(heard, m.Transcript)
    assert "private network" in heard.text.lower()


async def test_the_client_ends_the_utterance_without_waiting_for_silence(
    open_session: OpenSession, question: bytes
) -> None:
    session = await open_session()
    # As a push-to-talk client sends it: the button is let go a moment after the last word.
    pcm = silence(0.3) + question + silence(0.3)
    for offset in range(0, len(pcm), 640):
        await session.engine.push_audio(pcm[offset : offset + 640])
    assert not [e for e in session.events if is_user_final(e)]
    await session.engine.end_of_utterance()
    heard = await session.until(is_user_final)
    assert isinstance(heard, m.Transcript)
    assert "network" in heard.text.lower()


async def test_garbage_audio_never_fails_the_session(open_session: OpenSession, question: bytes) -> None:
    """Bytes no browser sends (empty, one stray byte, odd lengths, random data, full-scale DC) reach
    the engine directly; the stack's version (tests/test_local_engine.py) covers noise, clipping
    and an over-long utterance as a client sends them."""
    session = await open_session()
    rng = np.random.default_rng(11)
    for chunk in (
        b"",
        b"\x01",  # a stray byte
        bytes(rng.integers(0, 256, 3333, dtype=np.uint8)),  # odd length, random bytes
        np.full(16_000, 32767, dtype="<i2").tobytes(),  # a second of full-scale DC
        np.clip(rng.standard_normal(16_000 * 3) * 20000, -32768, 32767).astype("<i2").tobytes(),
        silence(1.0),
    ):
        await session.engine.push_audio(chunk)
    await session.engine.end_of_utterance()
    await asyncio.sleep(0.5)
    for event in session.shown():
        assert isinstance(event, m.TurnStarted | m.TurnEnded | m.Transcript | m.Interrupted), event
    # And it still listens.
    await session.engine.push_audio(question + silence(1.0))
    heard = await session.until(lambda e: is_user_final(e) and "network" in e.text.lower())  # type: ignore[union-attr]
    assert isinstance(heard, m.Transcript)


async def test_a_sound_with_no_words_does_not_cost_the_answer(open_session: OpenSession) -> None:
    """A 0.27 s "uh" (espeak) cuts into "What time is it?"'s answer: it holds no words, so the
    answer goes on from the sentence it stopped in, and the time is still told."""
    uh = say(speaker("espeak"), "uh").astype("<i2").tobytes()
    session = await open_session()
    await session.engine.push_text("What time is it?")
    await session.until(is_audio)
    await asyncio.sleep(0.6)
    sound = silence(0.1) + uh + silence(1.2)
    for start in range(0, len(sound), 640):  # 20 ms frames in real time, as a microphone sends
        await session.engine.push_audio(sound[start : start + 640])
        await asyncio.sleep(0.02)

    def told(event: EngineEvent) -> bool:
        return is_assistant_final(event) and not event.interrupted  # type: ignore[union-attr]

    final = await session.until(told, timeout=60)
    assert isinstance(final, m.Transcript)
    assert final.text.lower().startswith("it's")
    ended = [e for e in session.shown() if isinstance(e, m.TurnEnded)]
    # Whether the sound stopped the answer at all or not, the answer's end is ``end_turn``.
    assert ended[-1] == m.TurnEnded(turn_id=final.turn_id, role=m.Role.ASSISTANT)
    assert not [e for e in session.shown() if isinstance(e, m.ErrorEvent)]


def is_assistant_final(event: EngineEvent) -> bool:
    return isinstance(event, m.Transcript) and event.role is m.Role.ASSISTANT and event.stage is m.Stage.FINAL


@pytest.mark.parametrize("reported", [True, False], ids=["client_report", "playback_estimate"])
async def test_an_interrupted_final_holds_only_what_was_played(
    open_session: OpenSession, reported: bool
) -> None:
    """Cut in the first sentence of a long answer: its FINAL holds that sentence only, whether the
    client reports what it played (100 ms of the turn) or the worker's playback clock decides."""
    session = await open_session(report_wait=30.0 if reported else 0.0)
    await session.engine.push_text("Tell me about cloud storage.")
    planned = await session.until(
        lambda e: (
            isinstance(e, m.Transcript) and e.role is m.Role.ASSISTANT and e.stage is m.Stage.SPECULATIVE
        )
    )
    assert isinstance(planned, m.Transcript)
    await session.until(is_audio)
    await session.engine.push_text("What time is it?")  # typed text interrupts too
    await session.until(lambda e: isinstance(e, m.Interrupted))
    if reported:
        session.engine.turns.heard(planned.turn_id, 100.0)
    final = await session.until(lambda e: is_assistant_final(e) and e.turn_id == planned.turn_id)  # type: ignore[union-attr]
    assert isinstance(final, m.Transcript)
    assert final.interrupted
    first, *rest = split_sentences(planned.text)
    assert rest, "the answer has more than one sentence"
    assert final.text == first
