"""Recordings through the whole stack: auth, a worker on the offline engine, an edge that says the
session is recorded, and the recordings service, as processes on a real NATS server.

One conversation per test, spoken in real time: the user barges in on the greeting with a question
and hears the answer. The recording is then checked against what crossed the WebSocket: its length
against the wall time, the question found in the left channel by correlation with the audio that was
sent, the answer in the right with the audio that was received, the greeting cut at the ``stop``,
and the index's offsets where those turns were. A second call survives the recorder being SIGKILLed
in its middle. The API serves Range requests and refuses someone else's recording.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from voice_recordings.encode import decode_ogg
from voice_testkit.client import BINARY_PROTOCOL, VoiceClient
from voice_testkit.conversation import Conversation
from voice_testkit.nats import NatsServer
from voice_testkit.speech import say, speaker
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

QUESTION = "What time is it?"


@pytest.fixture(scope="module")
def recorded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("recordings")
    nats = NatsServer(work).start()
    stack = Stack(
        nats.endpoint,
        work,
        NOVA_ENGINE="local",
        EDGE_RECORDING="true",
        EDGE_RECORDING_OPT_OUT="true",
        RECORDINGS_SETTLE="1.0",
    )
    try:
        stack.start_auth(wait=False)
        stack.start_worker(wait=False)
        stack.start_edge(wait=False)
        stack.start_recordings(wait=False)
        stack.wait_ready(timeout=180)  # the worker loads its models before it is ready
        yield stack
    finally:
        stack.stop_all()
        nats.stop()


@pytest.fixture(scope="module")
def question() -> bytes:
    samples = say(speaker("piper"), QUESTION)
    return np.concatenate((np.zeros(3200, np.int16), samples)).astype("<i2").tobytes()


@dataclass
class Call:
    session_id: str
    #: Loop times: the session event, the question's first frame, the stop, the hang-up.
    opened_at: float
    asked_at: float
    stop_at: float
    ended_at: float
    #: The answer's audio as the client received it (24 kHz PCM16), and when its first chunk came.
    answer: bytes
    answer_at: float
    answer_turn: int


async def call(stack: Stack, question: bytes, *, during: Any = None) -> Call:
    """Greeting, barged in on by the spoken question, then the whole answer, then hang up.
    ``during`` (a callable) runs once the greeting plays: the recorder's SIGKILL."""
    loop = asyncio.get_running_loop()
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
    opened_at = loop.time()
    assert client.session["recorded"] is True
    talk = Conversation(client)
    try:
        await talk.wait_for(lambda e: e.get("event") == "media")
        if during is not None:
            during()
        await asyncio.sleep(1.0)
        start = len(talk.events)
        asked_at = loop.time()
        await talk.say(question, then_silence=1.0)
        stop = await talk.wait_for(lambda e: e.get("event") == "stop", after=start)
        assert talk.events[stop][1]["turnId"] == 1
        heard = await talk.wait_for(
            lambda e: e.get("event") == "transcript" and e["role"] == "user" and e["stage"] == "final",
            after=start,
        )
        turn = talk.events[heard][1]["turnId"]
        await talk.wait_turn_end("assistant", turnId=turn, after=start)
        media = [
            (t, e) for t, e in talk.events[heard:] if e.get("event") == "media" and t > talk.events[stop][0]
        ]
        await asyncio.sleep(0.5)
        ended_at = loop.time()
        return Call(
            session_id=client.session_id,
            opened_at=opened_at,
            asked_at=asked_at,
            stop_at=talk.events[stop][0],
            ended_at=ended_at,
            answer=b"".join(e["pcm"] for _, e in media),
            answer_at=media[0][0],
            answer_turn=turn,
        )
    finally:
        await talk.close()


def api(stack: Stack, principal: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.service_url("recordings"),
        headers={"Authorization": f"ApiKey {API_KEYS[principal]}"},
        timeout=10,
    )


def stored(stack: Stack, session_id: str, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with api(stack, "alice") as client:
        while time.monotonic() < deadline:
            found = client.get(f"/api/recordings/{session_id}")
            if found.status_code == 200:
                recording: dict[str, Any] = found.json()
                return recording
            time.sleep(0.3)
    raise AssertionError(f"no recording of {session_id} after {timeout}s")


def audio(stack: Stack, session_id: str) -> bytes:
    with api(stack, "alice") as client:
        response = client.get(f"/api/recordings/{session_id}/audio")
        assert response.status_code == 200
        return response.content


def at_rate(pcm: bytes, rate: int, to: int) -> npt.NDArray[np.float32]:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    positions = np.arange(0, len(samples) - 1, rate / to)
    resampled: npt.NDArray[np.float32] = np.interp(positions, np.arange(len(samples)), samples).astype(
        np.float32
    )
    return resampled


def find(
    needle: npt.NDArray[np.float32], haystack: npt.NDArray[np.float32], rate: int
) -> tuple[float, float]:
    """Where ``needle`` is in ``haystack`` (seconds) and how alike they are there (normalised
    correlation, 1 = identical)."""
    size = 1 << int(np.ceil(np.log2(len(haystack) + len(needle))))
    spectrum = np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size))
    correlation = np.fft.irfft(spectrum, size)[: len(haystack) - len(needle) + 1]
    running = np.concatenate(([0.0], np.cumsum(haystack.astype(np.float64) ** 2)))
    energy = np.sqrt(np.maximum(running[len(needle) :] - running[: -len(needle)], 0.0))
    # Where the haystack is (nearly) silent nothing is alike: an RMS floor of -60 dBFS.
    floor = 1e-3 * np.sqrt(len(needle))
    normalised = correlation / (np.linalg.norm(needle) * np.maximum(energy, floor))
    best = int(np.argmax(normalised))
    return best / rate, float(normalised[best])


def check(recording: dict[str, Any], data: bytes, sent: bytes, made: Call) -> None:
    samples, rate = decode_ogg(data)
    assert samples.shape[0] == 2
    seconds = samples.shape[1] / rate
    wall = made.ended_at - made.opened_at
    assert abs(seconds - wall) <= 0.05 * wall, f"recording {seconds:.2f} s, call {wall:.2f} s"
    assert abs(recording["duration"] - seconds) < 0.1

    # The question on the left, as it was sent; the answer on the right, as it was heard.
    question = at_rate(sent, 16_000, 16_000)
    left = samples[0, ::3].astype(np.float32)  # 48 kHz -> 16 kHz (Opus is band-limited below 8 kHz)
    asked, likeness = find(question, left, 16_000)
    assert likeness > 0.6, f"the question is not in the left channel (correlation {likeness:.2f})"
    assert find(question, samples[1, ::3].astype(np.float32), 16_000)[1] < 0.3, "the question leaks right"
    answer = at_rate(made.answer, 24_000, 16_000)[: 16_000 * 2]
    answered, likeness = find(answer, samples[1, ::3].astype(np.float32), 16_000)
    assert likeness > 0.6, f"the answer is not in the right channel (correlation {likeness:.2f})"

    # The recording's clock against the client's: where the question went in.
    offset = made.asked_at - asked
    turns = recording["turns"]
    greeting = next(t for t in turns if t["role"] == "assistant" and t["turnId"] == 1)
    reply = next(t for t in turns if t["role"] == "assistant" and t["turnId"] == made.answer_turn)
    user = next(t for t in turns if t["role"] == "user" and t["turnId"] == made.answer_turn)
    assert greeting["interrupted"] is True
    assert not reply["interrupted"]
    assert "time" in user["text"].lower()
    assert reply["text"]
    # The greeting stops at the stop, and nothing of it plays after.
    assert abs(greeting["end"] - (made.stop_at - offset)) < 0.5, (
        turns,
        asked,
        answered,
        made.stop_at - offset,
    )
    right = np.abs(samples[1])
    quiet = right[int((greeting["end"] + 0.1) * rate) : int((reply["start"] - 0.1) * rate)]
    assert quiet.size == 0 or float(quiet.mean()) < 0.005, "greeting audio after the stop"
    # The index's offsets are where the turns were.
    assert abs(reply["start"] - answered) < 0.3, (reply, answered)
    assert abs(reply["start"] - (made.answer_at - offset)) < 0.5
    assert user["start"] <= asked + 0.7 <= user["end"] + 0.7


async def test_a_spoken_conversation_is_recorded_as_it_was_heard(
    recorded_stack: Stack, question: bytes
) -> None:
    made = await call(recorded_stack, question)
    recording = await asyncio.to_thread(stored, recorded_stack, made.session_id)
    assert recording["principal"] == "alice"
    data = await asyncio.to_thread(audio, recorded_stack, made.session_id)
    check(recording, data, question, made)

    with api(recorded_stack, "alice") as alice:
        # Range requests: the right bytes, 206, and the size.
        ranged = alice.get(f"/api/recordings/{made.session_id}/audio", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206
        assert ranged.content == data[100:200]
        assert ranged.headers["content-range"] == f"bytes 100-199/{len(data)}"
        tail = alice.get(f"/api/recordings/{made.session_id}/audio", headers={"Range": "bytes=-50"})
        assert tail.content == data[-50:]
        beyond = alice.get(
            f"/api/recordings/{made.session_id}/audio", headers={"Range": f"bytes={len(data)}-"}
        )
        assert beyond.status_code == 416
        # The signed URL plays without a credential (an <audio> element sends none).
        signed = httpx.get(recorded_stack.service_url("recordings") + recording["audioUrl"])
        assert signed.content == data
        listed = alice.get("/api/recordings").json()["recordings"]
        assert made.session_id in [r["sessionId"] for r in listed]

    # Someone else's recording is refused, and not listed; the admin sees it.
    with api(recorded_stack, "bob") as bob:
        assert bob.get(f"/api/recordings/{made.session_id}").status_code == 404
        assert bob.get(f"/api/recordings/{made.session_id}/audio").status_code == 404
        assert bob.get("/api/recordings").json()["recordings"] == []
        assert bob.get("/api/recordings", params={"principal": "alice"}).status_code == 403
    with api(recorded_stack, "ops") as admin:
        everyone = admin.get("/api/recordings", params={"principal": "alice", "limit": 1}).json()
        assert everyone["recordings"][0]["sessionId"] == made.session_id
    assert (
        httpx.get(recorded_stack.service_url("recordings") + f"/api/recordings/{made.session_id}").status_code
        == 401
    )


async def test_a_recorder_killed_mid_call_still_records_all_of_it(
    recorded_stack: Stack, question: bytes
) -> None:
    recorder = recorded_stack.processes["recordings"]
    made = await call(recorded_stack, question, during=recorder.kill)
    assert not recorder.running
    await asyncio.to_thread(recorded_stack.start_recordings)
    recording = await asyncio.to_thread(stored, recorded_stack, made.session_id)
    check(recording, await asyncio.to_thread(audio, recorded_stack, made.session_id), question, made)


async def test_a_session_that_opts_out_is_not_recorded(recorded_stack: Stack) -> None:
    client = await VoiceClient.open(
        recorded_stack.ws_url(query="record=off"), key=API_KEYS["alice"], protocol=BINARY_PROTOCOL
    )
    assert client.session["recorded"] is False
    config = httpx.get(f"{recorded_stack.http_url()}/api/config").json()
    assert config["recording"] == {"optOut": True, "url": ""}
    await client.expect("media", timeout=30)
    await client.end()
    await asyncio.sleep(3.0)  # the recorder's settle time and more
    with api(recorded_stack, "alice") as alice:
        assert alice.get(f"/api/recordings/{client.session_id}").status_code == 404
