"""End, resume, and what a client sees when the system cannot serve it."""

from __future__ import annotations

import asyncio

import pytest
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_testkit.client import VoiceClient, refused
from voice_testkit.recorder import Recorder
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

PCM = b"\x10\x00" * 320


async def test_end_closes_and_the_worker_ends_the_session(stack: Stack, bus: Bus) -> None:
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    sid = client.session_id
    await client.end()
    assert (await client.closed()).code == 1000
    ended = await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED, session_id=sid)
    assert ended.reason == "hangup"
    assert ended.principal == "alice"


async def test_a_dropped_client_resumes_the_same_session(stack: Stack, bus: Bus) -> None:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    sid, token = client.session_id, client.resume_token
    assert client.session["capabilities"] == ["text_input"]  # the loopback engine echoes text
    # It echoes the microphone byte for byte: the client plays it at the input's rate.
    assert client.session["outputRate"] == client.session["inputRate"] == m.INPUT_RATE
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE, sid)
    await client.close()  # the socket drops without an end message
    await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.SUSPENDED)

    again = await VoiceClient.open(
        stack.ws_url(query=f"session={sid}"), key=API_KEYS["alice"], resume_token=token
    )
    assert again.session_id == sid
    assert again.resume_token == token
    assert again.session["capabilities"] == ["text_input"]
    assert again.session["outputRate"] == m.INPUT_RATE
    await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.RESUMED)
    await again.send_audio(PCM)
    assert (await again.expect("media"))["pcm"] == PCM
    await again.end()


async def test_a_wrong_resume_token_is_refused(stack: Stack) -> None:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    await client.close()
    url = stack.ws_url(query=f"session={client.session_id}")
    assert (await refused(url, key=API_KEYS["alice"], resume_token="guessed-token")).code == 4403
    # Another principal holding the right token is refused too.
    assert (await refused(url, key=API_KEYS["bob"], resume_token=client.resume_token)).code == 4403
    # The real owner still can.
    again = await VoiceClient.open(url, key=API_KEYS["alice"], resume_token=client.resume_token)
    await again.end()


async def test_resume_of_an_unknown_or_malformed_session_is_refused(stack: Stack) -> None:
    unknown = stack.ws_url(query="session=nobody-owns-this-session")
    assert (await refused(unknown, key=API_KEYS["alice"], resume_token="x")).code == 4403
    malformed = stack.ws_url(query="session=bad.id.*")
    assert (await refused(malformed, key=API_KEYS["alice"], resume_token="x")).code == 4400


async def test_a_resume_after_the_window_is_refused(fresh_stack: Stack) -> None:
    fresh_stack.start_spine(NOVA_RESUME_WINDOW="0.5")
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    await client.close()
    await asyncio.sleep(1.5)
    url = fresh_stack.ws_url(query=f"session={client.session_id}")
    assert (await refused(url, key=API_KEYS["alice"], resume_token=client.resume_token)).code == 4403


async def test_a_second_connection_taking_over_closes_the_first(stack: Stack) -> None:
    first = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    url = stack.ws_url(query=f"session={first.session_id}")
    second = await VoiceClient.open(url, key=API_KEYS["alice"], resume_token=first.resume_token)
    assert (await first.closed()).code == 4409
    await second.send_audio(PCM)
    assert (await second.expect("media"))["pcm"] == PCM
    await second.end()


async def test_no_worker_closes_with_1013(fresh_stack: Stack) -> None:
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_edge(wait=False, EDGE_START_TIMEOUT="1.0")
    fresh_stack.wait_ready()
    assert (await refused(fresh_stack.ws_url(), key=API_KEYS["alice"])).code == 1013


async def test_auth_unavailable_closes_with_1013_not_4401(fresh_stack: Stack) -> None:
    fresh_stack.start_worker(wait=False)
    fresh_stack.start_edge(wait=False, EDGE_AUTH_TIMEOUT="0.5")
    fresh_stack.wait_ready()
    assert (await refused(fresh_stack.ws_url(), key=API_KEYS["alice"])).code == 1013


async def test_services_exit_cleanly_on_sigterm(fresh_stack: Stack) -> None:
    fresh_stack.start_spine()
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    codes = fresh_stack.stop_all()
    assert (await client.closed()).code == 1012
    assert codes == {"edge": 0, "nova": 0, "auth": 0}
