"""Turns have one owner, whatever happens to the workers: turn ids grow for the session's whole
life (a new turn is never mistaken for an old one by the edge or the browser), and a worker told
to stop (SIGTERM) finishes what it is saying before the session moves (up to NOVA_DRAIN_TIMEOUT);
an answer that outlasts the bound ends ``handover`` with a FINAL of what was played, and the next
worker says it again.

Each test runs auth, an edge and two workers (the bedrock engine against the Nova Sonic emulator,
or the offline engine) as processes.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from voice_proto import Bus, channels
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


@dataclass
class Call:
    """A client's session on one of two workers, and the session's lifecycle as the bus says it."""

    bus: Bus
    lifecycle: Recorder
    client: VoiceClient
    #: The worker that took the session first.
    owner: str

    async def moved(self, after: str) -> str:
        """The worker that took the session over from ``after``."""
        event = await self.lifecycle.wait_for(
            m.Lifecycle,
            lambda e: e.kind is m.LifecycleKind.HANDED_OVER and e.worker_id != after,
            session_id=self.client.session_id,
            timeout=15,
        )
        return event.worker_id

    async def end(self) -> None:
        assert not [e for e in self.client.events if e["event"] == "error"]
        await self.client.end()
        await self.bus.drain()


async def call_on_two_workers(stack: Stack, worker_env: dict[str, str], **edge_env: str) -> Call:
    """Auth, an edge and workers nova-a and nova-b; a client greeted by whichever took it."""
    stack.start_auth(wait=False)
    stack.start_edge(wait=False, **edge_env)
    stack.start_worker("nova-a", wait=False, **worker_env)
    stack.start_worker("nova-b", wait=False, **worker_env)
    stack.wait_ready(timeout=180)  # an offline worker loads its models first
    bus = await stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    await client.expect("turn", role="assistant", state="ended", timeout=30)  # the greeting
    started = await lifecycle.wait_for(
        m.Lifecycle, lambda e: e.kind is m.LifecycleKind.STARTED, session_id=client.session_id, timeout=5
    )
    return Call(bus, lifecycle, client, started.worker_id)


def bedrock_env(emulator: EmulatorThread, **extra: str) -> dict[str, str]:
    return {
        **emulator.env(),
        "NOVA_BEDROCK_RETRY_BASE_DELAY": "0.1",
        "NOVA_BEDROCK_CONNECT_TIMEOUT": "3",
        **extra,
    }


def key(word: str) -> int:
    return VOCABULARY.index(word)


async def ask(client: VoiceClient, *words: str) -> dict[str, Any]:
    """Say the words until the model hears them (audio sent while the session moves is lost);
    the answer's final transcript."""
    for _ in range(3):
        await speak(client, *words)
        try:
            await client.expect("transcript", role="user", text=" ".join(words), timeout=5)
        except TimeoutError:
            continue
        return await client.expect("transcript", role="assistant", stage="final", timeout=10)
    raise AssertionError(f"the model never heard {words}")


async def exited(process: ManagedProcess, timeout: float = 30.0) -> int:
    """Wait for a process to exit without blocking the loop (the client must go on reading)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (code := process.returncode) is None:
        if loop.time() > deadline:
            raise TimeoutError(f"{process.name} did not exit")
        await asyncio.sleep(0.05)
    return code


async def test_turn_ids_grow_across_two_moves_and_every_answer_is_heard(
    fresh_stack: Stack, emulator: EmulatorThread
) -> None:
    """Bedrock: the user barges in on an answer, the owner is SIGKILLed, the session moves; later
    the new owner is stopped and it moves back. Every answer after each move reaches the client
    with its audio and a turn id above every earlier one."""
    env = bedrock_env(emulator)
    call = await call_on_two_workers(fresh_stack, env)
    client = call.client

    # The user barges in on the story: that turn is interrupted.
    await speak(client, "tell", "me", "a", "story")
    for _ in range(10):
        await client.expect("media", timeout=10)
    await speak(client, "thanks")
    stop = await client.expect("stop", timeout=10)
    await client.expect("transcript", role="assistant", stage="final", text="You said thanks.", timeout=10)

    # The owner dies: the session moves, and the new owner's answers are heard, with new ids.
    fresh_stack.processes[call.owner].signal(signal.SIGKILL)
    second = await call.moved(after=call.owner)
    hello = await ask(client, "hello")
    alpha = await ask(client, "alpha")
    assert stop["turnId"] < hello["turnId"] < alpha["turnId"]
    assert answer_chunks(client, key("hello")) == list(range(10))
    assert answer_chunks(client, key("alpha")) == list(range(10)), "the answer's audio reached the client"

    # It moves again (the owner stops; a worker takes its place): ids go on growing.
    fresh_stack.start_worker(call.owner, wait=True, **env)
    assert fresh_stack.processes[second].stop() == 0
    await call.moved(after=second)
    bravo = await ask(client, "bravo")
    assert bravo["turnId"] > alpha["turnId"]
    assert answer_chunks(client, key("bravo")) == list(range(10))

    opened = [e["turnId"] for e in client.events if e["event"] == "turn" and e["state"] == "started"]
    firsts = list(dict.fromkeys(opened))  # each turn's id, in the order the turns opened
    assert firsts == sorted(firsts), opened
    assert len(set(firsts)) == len(firsts), opened
    await call.end()


async def test_an_answer_that_outlasts_the_drain_ends_handover_and_is_said_again(
    fresh_stack: Stack, emulator: EmulatorThread
) -> None:
    """Nova Sonic engine: the story plays for 6 s, the bound is 1 s."""
    # The move must come from the drain: heartbeats would take a minute to be missed.
    call = await call_on_two_workers(
        fresh_stack, bedrock_env(emulator, NOVA_DRAIN_TIMEOUT="1"), EDGE_HEARTBEAT_TIMEOUT="60"
    )
    client, first = call.client, call.owner

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
    assert await call.moved(after=first) != first

    again = await client.expect("transcript", role="assistant", stage="final", text=STORY, timeout=20)
    assert again["turnId"] > started["turnId"]
    chunks = answer_chunks(client, key("tell"))
    assert chunks[-10:] == list(range(140, 150)), "the story was told again, to its end"
    await call.end()


async def test_the_offline_engine_finishes_its_answer_before_the_session_moves(fresh_stack: Stack) -> None:
    """Offline engine, the default bound: the answer in progress is played to its end (FINAL not
    interrupted), then the session moves and the other worker answers the next question."""
    # espeak-ng speaks: it loads and synthesizes in a fraction of the time of the default voice.
    env = {"NOVA_ENGINE": "local", "NOVA_LOCAL_VOICE": "espeak", "NOVA_DRAIN_TIMEOUT": "20"}
    call = await call_on_two_workers(fresh_stack, env, EDGE_HEARTBEAT_TIMEOUT="60")
    client, first = call.client, call.owner

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
    assert not [e for e in call.lifecycle.of_type(m.Lifecycle) if e.kind is m.LifecycleKind.HANDED_OVER]
    assert await exited(fresh_stack.processes[first]) == 0
    assert await call.moved(after=first) != first

    await client.send_text("What time is it?")
    answer = await client.expect("transcript", role="assistant", stage="final", timeout=30)
    assert answer["turnId"] > final["turnId"]
    assert "it's" in answer["text"].lower()
    await call.end()
