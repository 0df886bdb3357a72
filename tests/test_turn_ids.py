"""Turn ids belong to the session, not to a worker: they go on growing when the session moves, so
that nothing downstream (the edge, the browser's transcript) mistakes a new turn for an old one.

The bedrock engine against the Nova Sonic emulator, two workers: the user barges in on an answer,
the owner is SIGKILLed, the session moves; later the new owner is stopped and it moves back. Every
answer after each move reaches the client with its audio and a turn id above every earlier one.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.client import VoiceClient
from voice_testkit.nova_emulator import EmulatorThread
from voice_testkit.nova_emulator.speech import VOCABULARY
from voice_testkit.nova_emulator.talk import answer_chunks, speak
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(90)]


@pytest.fixture
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    with EmulatorThread(tmp_path_factory.mktemp("emulator")) as running:
        yield running


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


async def moved(lifecycle: Recorder, session_id: str, after: str) -> str:
    event = await lifecycle.wait_for(
        m.Lifecycle,
        lambda e: e.kind is m.LifecycleKind.HANDED_OVER and e.worker_id != after,
        session_id=session_id,
        timeout=15,
    )
    return event.worker_id


async def test_turn_ids_grow_across_two_moves_and_every_answer_is_heard(
    fresh_stack: Stack, emulator: EmulatorThread
) -> None:
    worker_env: dict[str, str] = {
        **emulator.env(),
        "NOVA_BEDROCK_RETRY_BASE_DELAY": "0.1",
        "NOVA_BEDROCK_CONNECT_TIMEOUT": "3",
    }
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_edge(wait=False)
    fresh_stack.start_worker("nova-a", wait=False, **worker_env)
    fresh_stack.start_worker("nova-b", wait=False, **worker_env)
    fresh_stack.wait_ready()
    bus = await fresh_stack.nats.connect()
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    await client.expect("turn", role="assistant", state="ended", timeout=15)  # the greeting
    started = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.STARTED, timeout=5)

    # The user barges in on the story: that turn is interrupted.
    await speak(client, "tell", "me", "a", "story")
    for _ in range(10):
        await client.expect("media", timeout=10)
    await speak(client, "thanks")
    stop = await client.expect("stop", timeout=10)
    await client.expect("transcript", role="assistant", stage="final", text="You said thanks.", timeout=10)

    # The owner dies: the session moves, and the new owner's answers are heard, with new ids.
    fresh_stack.processes[started.worker_id].signal(signal.SIGKILL)
    second = await moved(lifecycle, client.session_id, after=started.worker_id)
    hello = await ask(client, "hello")
    alpha = await ask(client, "alpha")
    assert stop["turnId"] < hello["turnId"] < alpha["turnId"]
    assert answer_chunks(client, key("hello")) == list(range(10))
    assert answer_chunks(client, key("alpha")) == list(range(10)), "the answer's audio reached the client"

    # It moves again (the owner stops; a worker takes its place): ids go on growing.
    fresh_stack.start_worker(started.worker_id, wait=True, **worker_env)
    assert fresh_stack.processes[second].stop() == 0
    await moved(lifecycle, client.session_id, after=second)
    bravo = await ask(client, "bravo")
    assert bravo["turnId"] > alpha["turnId"]
    assert answer_chunks(client, key("bravo")) == list(range(10))

    opened = [e["turnId"] for e in client.events if e["event"] == "turn" and e["state"] == "started"]
    firsts = list(dict.fromkeys(opened))  # each turn's id, in the order the turns opened
    assert firsts == sorted(firsts), opened
    assert len(set(firsts)) == len(firsts), opened
    assert not [e for e in client.events if e["event"] == "error"]
    await client.end()
    await bus.drain()
