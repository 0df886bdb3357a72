"""A conversation longer than the model's per-connection limit, with the limit shortened: streams
are rotated with an overlapped hand-off, and the client hears no gap, no repeat, no lost words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from nova_emulator import EmulatorThread, ModelConfig, StreamPlan
from nova_emulator.speech import VOCABULARY, read_tag
from nova_emulator.talk import answer_chunks, speak, until
from voice_testkit.client import VoiceClient
from voice_testkit.nats import NatsServer
from voice_testkit.otlp import OtlpReceiver
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

#: The emulator ends any stream older than this (as Nova does at 8 minutes)...
TIME_LIMIT = 9.0
#: ...and the worker rotates well before.
ROTATE_AFTER = 4.0


@pytest.fixture(scope="module")
def rotating(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, EmulatorThread, OtlpReceiver]]:
    work: Path = tmp_path_factory.mktemp("rotation")
    nats = NatsServer(work).start()
    config = ModelConfig(time_limit=TIME_LIMIT)
    with EmulatorThread(work, config) as emulator, OtlpReceiver() as receiver:
        env = {
            **emulator.env(),
            "NOVA_BEDROCK_ROTATE_AFTER": str(ROTATE_AFTER),
            "NOVA_BEDROCK_NEXT_STREAM_MAX_WAIT": "3",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        stack = Stack(nats.endpoint, work, **env)
        try:
            yield stack.start_spine(), emulator, receiver
        finally:
            stack.stop_all()
            nats.stop()


def user_words(client: VoiceClient) -> list[str]:
    return [e["text"] for e in client.events if e["event"] == "transcript" and e["role"] == "user"]


async def test_rotation_before_the_limit_loses_and_repeats_nothing(
    rotating: tuple[Stack, EmulatorThread, OtlpReceiver],
) -> None:
    stack, emulator, receiver = rotating
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    await client.expect("turn", role="assistant", state="ended", timeout=10)  # the greeting

    # A story that is still being told when the first stream is due; the user cuts it short,
    # and the hand-off happens at that interruption, with the user's words replayed.
    await speak(client, "tell", "me", "a", "story")
    await client.expect("transcript", role="assistant", stage="speculative", timeout=10)
    await until(lambda: len(emulator.server.records) >= 2, 15)  # the next stream is primed
    await speak(client, "thanks")
    await client.expect("stop", timeout=10)
    await client.expect("transcript", role="assistant", stage="final", text="You said thanks.", timeout=10)

    # Then ordinary turns, across at least one more (quiet) hand-off.
    said = [("alpha", "bravo"), ("charlie", "delta"), ("echo", "foxtrot"), ("golf", "hotel")]
    for words in said:
        await speak(client, *words)
        await client.expect(
            "transcript", role="assistant", stage="final", text=f"You said {' '.join(words)}."
        )
        await asyncio.sleep(1.5)
    await client.end()
    await client.closed()

    records = emulator.server.records
    await until(lambda: all(r.validator.phase == "closed" or r.validator.failed for r in records))
    assert not emulator.server.violations()
    assert len(records) >= 3, "at least two rotations"
    assert not [r.label for r in records if r.time_limit_hit], "a stream reached the model's limit"

    # No lost words and none twice: each utterance was transcribed once, in order.
    expected = ["tell me a story", "thanks", *(" ".join(words) for words in said)]
    assert user_words(client) == expected
    # Across all streams the model answered each utterance once: the retiring stream stopped
    # hearing the user at the hand-off, so it never answered "thanks" a second time.
    answered = [a.key for r in records for a in r.answers if not a.interrupted]
    for first_word in ["thanks", *(words[0] for words in said)]:
        index = VOCABULARY.index(first_word)
        assert answered.count(index) == 1
        # No gap and no repeat in what the client played of each answer.
        assert answer_chunks(client, index) == list(range(10))

    # The story was cut at the barge-in, and nothing of it came after the stop.
    story = answer_chunks(client, VOCABULARY.index("tell"))
    assert story == list(range(len(story)))
    stop_at = next(i for i, e in enumerate(client.events) if e["event"] == "stop")
    late = [read_tag(e["pcm"]) for e in client.events[stop_at:] if e["event"] == "media"]
    assert all(tag is not None and tag.answer != VOCABULARY.index("tell") for tag in late)

    # The stream that took over at the barge-in heard "thanks" from the replayed audio, and got
    # the conversation so far as history, starting with the user.
    (taker,) = [r for r in records if "thanks" in r.user_transcripts and r.answers and r.answers[0].key == 10]
    assert taker.validator.history[0] == ("USER", "tell me a story")
    assert taker.validator.history[1][0] == "ASSISTANT"
    # Every stream promoted after it carried the conversation on (a stream still only primed when
    # the session ended never got history, and is not counted).
    promoted_later = [r for r in records[records.index(taker) + 1 :] if r.validator.history]
    assert all(("USER", "thanks") in r.validator.history for r in promoted_later)

    await until(lambda: len([s for s in list(receiver.spans) if s.name == "nova.rotation"]) >= 2, 10)
    rotations = [s for s in list(receiver.spans) if s.name == "nova.rotation"]
    moments = {s.attributes.get("nova.moment") for s in rotations}
    assert "interrupted" in moments
    assert any(
        s.attributes.get("nova.replayed_bytes", 0) > 0
        for s in rotations
        if s.attributes.get("nova.moment") == "interrupted"
    )


async def test_a_stream_that_fails_after_a_hand_off_is_reopened(
    rotating: tuple[Stack, EmulatorThread, OtlpReceiver],
) -> None:
    stack, emulator, _ = rotating
    before = len(emulator.server.records)
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    await client.expect("turn", role="assistant", state="ended", timeout=10)
    # The stream that takes over at the first hand-off fails on the second thing it hears.
    emulator.server.plan(StreamPlan(fault="throttlingException", skip_utterances=1))
    await until(lambda: len(emulator.server.records) >= before + 2, 15)
    await until(lambda: emulator.server.records[before].validator.phase == "closed", 15)  # handed off
    await speak(client, "hello", "there")
    await client.expect(
        "transcript", role="assistant", stage="final", text="You said hello there.", timeout=10
    )
    await speak(client, "alpha", "bravo")
    await client.expect(
        "transcript", role="assistant", stage="final", text="You said alpha bravo.", timeout=15
    )
    assert not [e for e in client.events if e["event"] == "error"]
    await client.end()
    await client.closed()

    first, second, third = emulator.server.records[before : before + 3]
    assert second.fault_sent == "throttlingException"
    assert third.validator.history == [("USER", "hello there"), ("ASSISTANT", "You said hello there.")]
    assert third.validator.interactive_texts == ["alpha bravo"]
    await until(
        lambda: all(r.validator.phase == "closed" or r.validator.failed for r in (first, second, third))
    )
    assert not emulator.server.violations()
