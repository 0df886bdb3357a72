"""A worker told to stop (SIGTERM) finishes what it is saying: it stops claiming at once, lets the
answer in progress finish (up to NOVA_DRAIN_TIMEOUT), then hands the session over. An answer that
outlasts the bound ends ``handover`` with a FINAL of what was played, and the next worker says it
again."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.client import VoiceClient
from voice_testkit.nova_emulator import EmulatorThread
from voice_testkit.nova_emulator.speech import VOCABULARY
from voice_testkit.nova_emulator.talk import answer_chunks, speak
from voice_testkit.processes import ManagedProcess
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

STORY = "Once upon a time there was a long story."


@pytest.fixture
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    with EmulatorThread(tmp_path_factory.mktemp("emulator")) as running:
        yield running


async def exited(process: ManagedProcess, timeout: float = 30.0) -> int:
    """Wait for a process to exit without blocking the loop (the client must go on reading)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (code := process.returncode) is None:
        if loop.time() > deadline:
            raise TimeoutError(f"{process.name} did not exit")
        await asyncio.sleep(0.05)
    return code


async def owner(lifecycle: Recorder, session_id: str, kind: m.LifecycleKind) -> str:
    event = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is kind, session_id=session_id, timeout=15)
    return event.worker_id


async def test_an_answer_that_outlasts_the_drain_ends_handover_and_is_said_again(
    fresh_stack: Stack, emulator: EmulatorThread
) -> None:
    """Nova Sonic engine: the story plays for 6 s, the bound is 1 s."""
    env = {**emulator.env(), "NOVA_DRAIN_TIMEOUT": "1", "NOVA_BEDROCK_CONNECT_TIMEOUT": "3"}
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_edge(wait=False, EDGE_HEARTBEAT_TIMEOUT="60")  # the move must come from the drain
    fresh_stack.start_worker("nova-a", wait=False, **env)
    fresh_stack.start_worker("nova-b", wait=False, **env)
    fresh_stack.wait_ready()
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    await client.expect("turn", role="assistant", state="ended", timeout=15)  # the greeting
    first = await owner(lifecycle, client.session_id, m.LifecycleKind.STARTED)

    await speak(client, "tell", "me", "a", "story")
    started = await client.expect("turn", role="assistant", state="started", timeout=10)
    for _ in range(5):
        await client.expect("media", timeout=10)
    fresh_stack.processes[first].signal(signal.SIGTERM)

    cut = await client.expect("turn", turnId=started["turnId"], state="ended", timeout=10)
    assert cut["reason"] == "handover"
    said = [e for e in client.events if e["event"] == "transcript" and e["turnId"] == started["turnId"]]
    final = [e for e in said if e["role"] == "assistant" and e["stage"] == "final"]
    assert len(final) == 1
    assert final[0]["interrupted"] is True
    assert STORY.startswith(final[0]["text"].removesuffix("."))
    assert await exited(fresh_stack.processes[first]) == 0
    assert await owner(lifecycle, client.session_id, m.LifecycleKind.HANDED_OVER) != first

    again = await client.expect("transcript", role="assistant", stage="final", text=STORY, timeout=20)
    assert again["turnId"] > started["turnId"]
    chunks = answer_chunks(client, VOCABULARY.index("tell"))
    assert chunks[-10:] == list(range(140, 150)), "the story was told again, to its end"
    assert not [e for e in client.events if e["event"] == "error"]
    await client.end()
    await bus.drain()


async def test_the_offline_engine_finishes_its_answer_before_the_session_moves(fresh_stack: Stack) -> None:
    """Offline engine, the default bound: the answer in progress is played to its end (FINAL not
    interrupted), then the session moves and the other worker answers the next question."""
    env = {"NOVA_ENGINE": "local", "NOVA_DRAIN_TIMEOUT": "20"}
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_edge(wait=False, EDGE_HEARTBEAT_TIMEOUT="60")  # the move must come from the drain
    fresh_stack.start_worker("nova-a", wait=False, **env)
    fresh_stack.start_worker("nova-b", wait=False, **env)
    fresh_stack.wait_ready(timeout=180)  # the workers load their models first
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    await client.expect("turn", role="assistant", state="ended", timeout=30)  # the greeting
    first = await owner(lifecycle, client.session_id, m.LifecycleKind.STARTED)

    await client.send_text("Tell me about cloud storage.")
    planned = await client.expect("transcript", role="assistant", stage="speculative", timeout=30)
    await client.expect("media", timeout=30)
    fresh_stack.processes[first].signal(signal.SIGTERM)

    final = await client.expect("transcript", role="assistant", stage="final", timeout=30)
    assert final["turnId"] == planned["turnId"]
    assert final["text"] == planned["text"]
    assert final["interrupted"] is False
    ended = await client.expect("turn", turnId=planned["turnId"], role="assistant", state="ended")
    assert ended["reason"] == "end_turn"
    assert not [e for e in lifecycle.of_type(m.Lifecycle) if e.kind is m.LifecycleKind.HANDED_OVER]
    assert await exited(fresh_stack.processes[first]) == 0
    assert await owner(lifecycle, client.session_id, m.LifecycleKind.HANDED_OVER) != first

    await client.send_text("What time is it?")
    answer = await client.expect("transcript", role="assistant", stage="final", timeout=30)
    assert answer["turnId"] > final["turnId"]
    assert "it's" in answer["text"].lower()
    assert not [e for e in client.events if e["event"] == "error"]
    await client.end()
    await bus.drain()
