"""The offline engine through the whole stack: edge, worker (NOVA_ENGINE=local) and auth as
processes on a real NATS server, and a client that speaks into the WebSocket in real time.

The questions are spoken at test time by the engine's own voice (Piper joe) and by a second,
unlike one (espeak-ng), at 16 kHz. Timings are never checked here (bench/turn_latency.py measures
them); the timeouts are generous because the machine is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from voice_nova.engines.local.sentences import split_sentences
from voice_proto.telemetry_names import Span
from voice_testkit.client import BINARY_PROTOCOL, VoiceClient
from voice_testkit.conversation import Conversation, Exchange
from voice_testkit.nats import NatsServer
from voice_testkit.otlp import OtlpReceiver, ReceivedSpan
from voice_testkit.speech import VOICES, Question, read_wav, say, silence, speaker, stream, write_wav
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

#: Cap of one utterance in this stack (the default is 20 s), so the monologue test stays short.
MAX_UTTERANCE_S = 6

QUESTIONS = {
    "piper": [
        Question("Tell me about cloud storage.", heard=("cloud", "storage"), answer=("storage",)),
        Question("Tell me more.", heard=("more",), answer=("more on storage",)),
        Question("What time is it?", heard=("time",), answer=("it's",)),
    ],
    "espeak": [
        Question("How do I keep my data secure?", heard=("data", "secure"), answer=("security",)),
        Question("What is a virtual private network?", heard=("private", "network"), answer=("network",)),
        Question("How much does compute cost?", heard=("compute", "cost"), answer=("billed",)),
    ],
}
BARGE_IN = Question("What time is it?", heard=("time",), answer=("it's",))


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every test question as a 16 kHz WAV, by (voice, text), with a little room before it."""
    folder = tmp_path_factory.mktemp("speech")
    wavs = {}
    for voice in VOICES:
        speech = speaker(voice)
        texts = [q.text for q in QUESTIONS[voice]] + [BARGE_IN.text, "Tell me about cloud storage."]
        for index, text in enumerate(dict.fromkeys(texts)):
            samples = np.concatenate((np.zeros(4800, np.int16), say(speech, text)))
            wavs[voice, text] = write_wav(folder / f"{voice}-{index}.wav", samples)
    return wavs


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    """Where the module's services export their spans."""
    with OtlpReceiver() as otlp:
        yield otlp


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("local")
    nats = NatsServer(work).start()
    stack = Stack(
        nats.endpoint,
        work,
        NOVA_ENGINE="local",
        NOVA_LOCAL_MAX_UTTERANCE_S=str(MAX_UTTERANCE_S),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    try:
        stack.start_auth(wait=False)
        stack.start_worker(wait=False)
        stack.start_edge(wait=False)
        stack.start_transcripts(wait=False)
        stack.wait_ready(timeout=180)  # the worker loads its models before it is ready
        yield stack
    finally:
        stack.stop_all()
        nats.stop()


@pytest.fixture
async def talk(local_stack: Stack) -> AsyncIterator[Conversation]:
    client = await VoiceClient.open(local_stack.ws_url(), key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
    conversation = Conversation(client)
    yield conversation
    await conversation.close()


async def greeted(talk: Conversation) -> None:
    """Let the greeting play to its end, so that what follows is not a barge-in."""
    await talk.wait_turn_end("assistant", turnId=1, timeout=60)


def check_answer(exchange: Exchange, question: Question) -> None:
    heard = exchange.heard.lower()
    assert all(word in heard for word in question.heard), f"asked {question.text!r}, heard {exchange.heard!r}"
    said = exchange.said.lower()
    assert any(word in said for word in question.answer), (
        f"asked {question.text!r}, answered {exchange.said!r}"
    )
    assert exchange.said == exchange.planned
    assert not exchange.interrupted
    assert exchange.audio_bytes > 24_000 * 2 // 2, "less than half a second of answer audio"


async def test_the_session_event_says_the_engine_takes_text_end_of_utterance_and_tools_at_24_khz(
    talk: Conversation,
) -> None:
    assert talk.client.session["capabilities"] == ["client_endpointing", "text_input", "tools"]
    assert talk.client.session["outputRate"] == 24_000


async def test_the_assistant_greets_first(talk: Conversation) -> None:
    await greeted(talk)
    shown = [e for _, e in talk.events if e["event"] in ("turn", "transcript")]
    assert shown[0] == {"event": "turn", "turnId": 1, "role": "assistant", "state": "started"}
    greeting = talk.of("transcript", role="assistant", stage="final", turnId=1)[0]
    assert "Virtual Cloud Assistant" in greeting["text"]
    assert not talk.of("transcript", role="user")
    first_media = next(i for i, (_, e) in enumerate(talk.events) if e["event"] == "media")
    speculative = next(i for i, (_, e) in enumerate(talk.events) if e.get("stage") == "speculative")
    assert speculative < first_media


async def converse(stack: Stack, voice: str, spoken: dict[tuple[str, str], Path]) -> None:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
    talk = Conversation(client)
    try:
        await greeted(talk)
        for question in QUESTIONS[voice]:
            exchange = await talk.exchange(read_wav(spoken[voice, question.text]))
            check_answer(exchange, question)
            turns = talk.of("turn", turnId=exchange.turn_id)
            assert [(t["role"], t["state"]) for t in turns] == [
                ("user", "started"),
                ("user", "ended"),
                ("assistant", "started"),
                ("assistant", "ended"),
            ]
            if "time" in question.text:
                # Date and time come through the tool path: a call, then its result.
                assert [(c["name"], c["status"]) for c in exchange.tool_calls] == [
                    ("get_date_and_time", "started"),
                    ("get_date_and_time", "completed"),
                ]
                assert '"time"' in exchange.tool_calls[1]["result"]
    finally:
        await talk.close()


async def test_spoken_questions_are_heard_and_answered(
    local_stack: Stack, spoken: dict[tuple[str, str], Path]
) -> None:
    """Each voice asks its questions in a session of its own, both at once."""
    await asyncio.gather(*(converse(local_stack, voice, spoken) for voice in VOICES))


async def test_speech_while_the_assistant_talks_interrupts_it(
    talk: Conversation, spoken: dict[tuple[str, str], Path]
) -> None:
    await greeted(talk)
    start = len(talk.events)
    await talk.say(read_wav(spoken["piper", "Tell me about cloud storage."]))
    speculative = await talk.wait_for(
        lambda e: e.get("event") == "transcript" and e["role"] == "assistant" and e["stage"] == "speculative",
        after=start,
    )
    answered_turn = talk.events[speculative][1]["turnId"]
    await talk.wait_for(lambda e: e.get("event") == "media", after=speculative)

    # The user speaks again while the answer plays: the answer stops, the new question is answered.
    barge_in = len(talk.events)
    voiced_end = await talk.say(read_wav(spoken["espeak", BARGE_IN.text]))
    stop = await talk.wait_for(lambda e: e.get("event") == "stop", after=barge_in)
    assert talk.events[stop][1]["turnId"] == answered_turn
    cut = talk.of("transcript", after=barge_in, role="assistant", stage="final", turnId=answered_turn)[0]
    assert cut["interrupted"] is True
    planned = talk.events[speculative][1]["text"]
    assert planned.startswith(cut["text"])
    assert len(cut["text"]) < len(planned)
    assert talk.of("turn", after=barge_in, turnId=answered_turn, role="assistant", state="ended") == [
        {
            "event": "turn",
            "turnId": answered_turn,
            "role": "assistant",
            "state": "ended",
            "reason": "interrupted",
        }
    ]

    heard = await talk.wait_for(
        lambda e: e.get("event") == "transcript" and e["role"] == "user" and e["stage"] == "final",
        after=stop,
    )
    exchange = await talk.answer_to(talk.events[heard][1], voiced_end, after=barge_in)
    assert exchange.turn_id > answered_turn
    check_answer(exchange, BARGE_IN)


async def test_silence_alone_makes_no_turn(talk: Conversation) -> None:
    await greeted(talk)
    after = len(talk.events)
    rng = np.random.default_rng(3)
    hiss = (rng.standard_normal(16_000 * 2) * 60).astype("<i2").tobytes()
    await talk.say(silence(2.0) + hiss, then_silence=1.5)
    assert [e for _, e in talk.events[after:] if e["event"] != "media"] == []


async def test_typed_text_is_a_turn_and_cuts_the_greeting(talk: Conversation) -> None:
    await talk.wait_for(lambda e: e.get("event") == "media")
    # Control characters (the reported NUL once failed the turn) are gone before the engine hears it.
    await talk.client.send_text("What is a\u0000 virtual\tprivate network?")
    await talk.wait_for(lambda e: e.get("event") == "stop" and e["turnId"] == 1)
    heard = await talk.wait_for(lambda e: e.get("event") == "transcript" and e["role"] == "user")
    assert talk.events[heard][1]["text"] == "What is a virtual private network?"
    loop = asyncio.get_running_loop()
    exchange = await talk.answer_to(talk.events[heard][1], loop.time(), after=heard)
    assert exchange.turn_id == 2
    check_answer(exchange, Question("", heard=("network",), answer=("network",)))
    assert not talk.of("error")

    # The edge's longest text, with no sentence end: the answer is as short as for a short one.
    after = len(talk.events)
    await talk.client.send_text(("zorp blen quandle fribb " * 100)[:2000])
    heard = await talk.wait_for(lambda e: e.get("event") == "transcript" and e["role"] == "user", after=after)
    long = await talk.answer_to(talk.events[heard][1], loop.time(), after=heard)
    assert long.said.startswith("Sorry, I didn't understand that.")
    assert len(long.said) < 250
    assert long.audio_bytes > 0
    assert not talk.of("error", after=after)


async def test_bad_audio_gets_an_answer_or_an_event_never_a_failure(
    talk: Conversation, spoken: dict[tuple[str, str], Path]
) -> None:
    """What the browser can send, through the whole stack in real time. The engine's own garbage
    (empty, odd-length, random bytes) is in services/nova/tests/test_local_session.py
    (``test_garbage_audio_never_fails_the_session``); this one adds what only the stack shows: no
    error event reaches the client for loud noise, clipped speech is still understood, and a
    monologue past the cap ends as ``too_long`` with the assistant saying so."""
    await greeted(talk)

    # Loud noise: no words, so no answer, at most a turn that ends empty.
    after = len(talk.events)
    rng = np.random.default_rng(5)
    noise = np.clip(rng.standard_normal(16_000 * 2) * 8000, -32768, 32767).astype("<i2").tobytes()
    await talk.say(noise)
    await asyncio.sleep(2.0)
    assert not talk.of("error", after=after)
    assert not talk.of("transcript", after=after, role="assistant")
    for ended in talk.of("turn", after=after, role="user", state="ended"):
        assert ended["reason"] == "empty"

    # Clipped: far too loud, flattened at full scale. Still understood, so still listening.
    question = np.frombuffer(read_wav(spoken["piper", "What time is it?"]), dtype="<i2")
    clipped = np.clip(question.astype(np.int32) * 8, -32768, 32767).astype("<i2").tobytes()
    exchange = await talk.exchange(clipped)
    assert "time" in exchange.heard.lower()
    assert exchange.audio_bytes > 0

    # A monologue past the cap: the turn ends there, and the assistant says so.
    after = len(talk.events)
    talk_on = b"".join(
        read_wav(spoken["piper", text]) for text in ["Tell me about cloud storage.", "What time is it?"] * 3
    )
    await talk.say(talk_on)
    ended = await talk.wait_turn_end("user", after=after)
    assert ended["reason"] == "too_long"
    answer = await talk.wait_turn_end("assistant", after=after, turnId=ended["turnId"])
    said = talk.of("transcript", after=after, role="assistant", stage="final", turnId=answer["turnId"])[0]
    assert f"stopped listening after {MAX_UTTERANCE_S} seconds" in said["text"]


async def test_the_client_report_of_what_it_played_decides_the_interrupted_final(talk: Conversation) -> None:
    """After a `stop` the client says how much of the turn it played (`played`): the turn's FINAL
    holds the sentences whose audio was played, here only the first."""
    await greeted(talk)
    start = len(talk.events)
    await talk.client.send_text("Tell me about cloud storage.")
    index = await talk.wait_for(
        lambda e: e.get("stage") == "speculative" and e.get("role") == "assistant", after=start
    )
    planned = talk.events[index][1]
    index = await talk.wait_for(lambda e: e.get("event") == "media", after=index)
    first_audio = talk.events[index][0]
    # Let the second sentence's audio arrive and start playing by the worker's clock, so that the
    # estimate would keep both sentences: the client's report (100 ms played) keeps the first.
    await talk.wait_for(lambda _e: received_seconds(talk, after=index) > 3.0, after=index)
    await asyncio.sleep(max(0.0, first_audio + 3.0 - asyncio.get_running_loop().time()))
    await talk.client.send_text("What time is it?")  # typed text interrupts
    stop = talk.events[await talk.wait_for(lambda e: e.get("event") == "stop", after=index)][1]
    assert stop["turnId"] == planned["turnId"]
    await talk.client.send_json({"type": "played", "turnId": stop["turnId"], "playedMs": 100})
    index = await talk.wait_for(
        lambda e: (
            e.get("event") == "transcript"
            and e.get("stage") == "final"
            and e.get("turnId") == stop["turnId"]
            and e.get("role") == "assistant"
        )
    )
    final = talk.events[index][1]
    assert final["interrupted"] is True
    assert final["text"] == split_sentences(planned["text"])[0]


def received_seconds(talk: Conversation, after: int) -> float:
    return sum(len(e["pcm"]) for _, e in talk.events[after:] if e.get("event") == "media") / (24_000 * 2)


#: What the turn of a typed and of a spoken question holds, in every service, below its ``turn``.
TYPED_STAGES = {Span.RESPONDER, Span.SYNTHESIS}
SPOKEN_STAGES = {Span.ENDPOINTING, Span.SPEECH_TO_TEXT, Span.RESPONDER, Span.SYNTHESIS}
EVERY_TURN = {Span.EDGE_TURN_INPUT, Span.EDGE_TURN_OUTPUT, Span.TRANSCRIPTS_STORE}


async def turn_trace(receiver: OtlpReceiver, sid: str, turn_id: int, names: set[str]) -> list[ReceivedSpan]:
    turn = receiver.wait_for(Span.TURN, {"session.id": sid, "turn.id": turn_id}, timeout=30)
    for _ in range(300):
        spans = receiver.in_trace(turn.trace_id)
        if names <= {s.name for s in spans}:
            return spans
        await asyncio.sleep(0.1)
    raise AssertionError(f"turn {turn_id}: {sorted({s.name for s in spans})}, wanted {sorted(names)}")


async def test_each_turn_is_a_trace_of_its_own_across_the_services(
    talk: Conversation, receiver: OtlpReceiver, spoken: dict[tuple[str, str], Path]
) -> None:
    await greeted(talk)
    loop = asyncio.get_running_loop()
    after = len(talk.events)
    typed_at = loop.time()
    await talk.client.send_text("What is a virtual private network?")
    heard = await talk.wait_for(lambda e: e.get("event") == "transcript" and e["role"] == "user", after=after)
    typed = await talk.answer_to(talk.events[heard][1], typed_at, after=after)
    # Spoken, and ended by the client (push to talk): both ends then time the answer from the same
    # moment, as they do a typed one, and differ only by the messages' way through edge and NATS.
    after = len(talk.events)
    await stream(talk.client, read_wav(spoken["piper", "What time is it?"]))
    ended_at = loop.time()
    await talk.client.send_audio(b"", end_of_utterance=True)
    await stream(talk.client, silence(0.5))
    heard = await talk.wait_for(
        lambda e: e.get("event") == "transcript" and e["role"] == "user" and e["stage"] == "final",
        after=after,
    )
    said = await talk.answer_to(talk.events[heard][1], ended_at, after=after)
    sid = talk.client.session_id
    await talk.close()

    session = receiver.wait_for(Span.NOVA_SESSION, {"session.id": sid})
    for exchange, stages in ((typed, TYPED_STAGES), (said, SPOKEN_STAGES)):
        spans = await turn_trace(receiver, sid, exchange.turn_id, stages | EVERY_TURN)
        print(f"turn {exchange.turn_id}:\n{receiver.tree(spans[0].trace_id)}")  # shown with -s
        (turn,) = [s for s in spans if s.name == Span.TURN]
        # A trace of its own, linked to the session's.
        assert turn.trace_id != session.trace_id
        assert (session.trace_id, session.span_id) in turn.links
        assert turn.attributes["turn.outcome"] == "answered"
        assert turn.attributes["turn.interrupted"] is False
        assert turn.attributes["engine.name"] == "local"
        for stage in stages:
            (span,) = [s for s in spans if s.name == stage]
            assert span.parent_span_id == turn.span_id, stage
            assert span.service == "voice-nova"
        by_service = {s.service for s in spans}
        assert {"voice-nova", "voice-edge", "voice-transcripts"} <= by_service
        for span in spans:
            if span.name in EVERY_TURN:
                assert span.attributes["turn.id"] == exchange.turn_id, span
        # The worker's figure and the client's agree: what the worker measures is what users wait.
        assert exchange.first_audio_at is not None
        client_ms = (exchange.first_audio_at - exchange.voiced_end_at) * 1000
        assert abs(turn.attributes["turn.first_audio_ms"] - client_ms) <= 50, (turn.attributes, client_ms)
    # The spoken question went through the clock tool: its call is a child of the turn.
    spans = await turn_trace(receiver, sid, said.turn_id, {Span.TOOL})
    (turn,) = [s for s in spans if s.name == Span.TURN]
    (tool,) = [s for s in spans if s.name == Span.TOOL]
    assert tool.parent_span_id == turn.span_id
    assert (tool.attributes["tool.name"], tool.attributes["tool.ok"]) == ("get_date_and_time", True)
