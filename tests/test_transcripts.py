"""Transcripts through the whole stack: a conversation is stored in order, each principal reads
only its own, and a transcripts service that was down catches up with nothing lost or doubled."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import httpx
import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_testkit.client import VoiceClient
from voice_testkit.nats import NatsServer
from voice_testkit.recorder import Recorder
from voice_testkit.scripted_conversation import SAID, SCRIPTED_ENGINE, first_half, second_half
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

SCRIPTED = SCRIPTED_ENGINE


def as_(principal: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {API_KEYS[principal]}"}


def said(finals: list[m.Transcript]) -> list[dict[str, Any]]:
    return [
        {"turnId": t.turn_id, "role": t.role.value.lower(), "text": t.text, "interrupted": t.interrupted}
        for t in finals
    ]


async def stored(stack: Stack, sid: str, turns: int, timeout: float = 30.0) -> dict[str, Any]:
    """The session as the API shows it, once it holds ``turns`` turns and has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=stack.service_url("transcripts"), headers=as_("alice")) as http:
        while True:
            response = await http.get(f"/api/sessions/{sid}")
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                if len(body["turns"]) >= turns and body["endedAt"]:
                    return body
            if loop.time() > deadline:
                raise AssertionError(f"not stored in time: {response.status_code} {response.text}")
            await asyncio.sleep(0.2)


async def finals(recorder: Recorder, sid: str, count: int) -> list[m.Transcript]:
    await recorder.wait_for(
        m.Transcript, lambda _t: len(final_of(recorder, sid)) >= count, session_id=sid, timeout=10
    )
    return final_of(recorder, sid)


def final_of(recorder: Recorder, sid: str) -> list[m.Transcript]:
    return [t for t in recorder.of_type(m.Transcript, sid) if t.stage is m.Stage.FINAL]


async def test_a_conversation_is_stored_in_order_and_only_its_owner_reads_it(fresh_stack: Stack) -> None:
    fresh_stack.start_spine(NOVA_ENGINE=SCRIPTED)
    fresh_stack.start_transcripts()
    bus = await fresh_stack.nats.connect()
    recorder = await Recorder().listen(bus, channels.TRANSCRIPT)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    sid = client.session_id
    await first_half(client)
    await second_half(client)
    expected = said(await finals(recorder, sid, 5))
    assert [(t["role"], t["text"], t["interrupted"]) for t in expected] == SAID

    body = await stored(fresh_stack, sid, 5)
    assert [{k: t[k] for k in ("turnId", "role", "text", "interrupted")} for t in body["turns"]] == expected
    assert (body["principal"], body["endReason"]) == ("alice", "hangup")
    offsets = [t["offset"] for t in body["turns"]]
    assert offsets == sorted(offsets)

    async with httpx.AsyncClient(base_url=fresh_stack.service_url("transcripts")) as http:
        assert (await http.get(f"/api/sessions/{sid}")).status_code == 401
        refused = await http.get(f"/api/sessions/{sid}", headers={"Authorization": "ApiKey not-a-key"})
        assert (refused.status_code, refused.json()["detail"]["reason"]) == (401, "unknown_key")
        # Another principal neither reads, lists, exports nor deletes it; the admin reads it.
        assert (await http.get(f"/api/sessions/{sid}", headers=as_("bob"))).status_code == 404
        assert (await http.get(f"/api/sessions/{sid}/export", headers=as_("bob"))).status_code == 404
        assert (await http.delete(f"/api/sessions/{sid}", headers=as_("bob"))).status_code == 404
        assert (await http.get("/api/sessions", headers=as_("bob"))).json()["sessions"] == []
        mine = (await http.get("/api/sessions", headers=as_("alice"))).json()["sessions"]
        assert [(s["sessionId"], s["turns"]) for s in mine] == [(sid, 5)]
        assert (await http.get(f"/api/sessions/{sid}", headers=as_("ops"))).status_code == 200
        assert (await http.get("/api/sessions?principal=alice", headers=as_("bob"))).status_code == 403

        text = await http.get(f"/api/sessions/{sid}/export?format=text", headers=as_("alice"))
        assert text.headers["content-disposition"] == f'attachment; filename="transcript-{sid}.txt"'
        lines = text.text.splitlines()[2:]
        assert [line.split("] ", 1)[1] for line in lines] == [
            "user: hello there",
            "assistant: turn 1 with 3 chunks",
            "user: what time is it",
            "assistant (interrupted): turn 2 with 100 chunks",
            "user: thanks bye",
        ]
        assert (await http.delete(f"/api/sessions/{sid}", headers=as_("alice"))).status_code == 204
        assert (await http.get(f"/api/sessions/{sid}", headers=as_("ops"))).status_code == 404
        ready = await http.get("/ready")
        assert ready.json() == {"ready": True, "checks": {"nats": True, "database": True}}
        metrics = (await http.get(fresh_stack.metrics_url("transcripts"))).text.splitlines()
        lag = [
            line for line in metrics if line.startswith('voice_consumer_lag_messages{consumer="transcripts"')
        ]
        assert len(lag) == 1
        assert lag[0].endswith(" 0.0")  # caught up
    await bus.drain()


async def test_a_stopped_service_catches_up_with_nothing_lost_or_doubled(
    fresh_stack: Stack, postgres_url: str
) -> None:
    fresh_stack.start_spine(NOVA_ENGINE=SCRIPTED)
    fresh_stack.start_transcripts(TRANSCRIPTS_DATABASE_URL=postgres_url, TRANSCRIPTS_ACK_WAIT="2")
    bus = await fresh_stack.nats.connect()
    recorder = await Recorder().listen(bus, channels.TRANSCRIPT)
    lifecycle = await Recorder().listen(bus, channels.LIFECYCLE)
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    sid = client.session_id
    await first_half(client)
    await finals(recorder, sid, 2)
    async with httpx.AsyncClient(
        base_url=fresh_stack.service_url("transcripts"), headers=as_("alice")
    ) as http:
        for _ in range(100):
            response = await http.get(f"/api/sessions/{sid}")
            if response.status_code == 200 and len(response.json()["turns"]) == 2:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the first half was not stored")

    fresh_stack.processes["transcripts"].kill()  # no goodbye: whatever it held unacknowledged comes again
    await second_half(client)
    expected = said(await finals(recorder, sid, 5))
    await lifecycle.wait_for(m.Lifecycle, lambda e: e.kind is m.LifecycleKind.ENDED, session_id=sid)

    fresh_stack.start_transcripts(TRANSCRIPTS_DATABASE_URL=postgres_url, TRANSCRIPTS_ACK_WAIT="2")
    body = await stored(fresh_stack, sid, 5)
    assert [{k: t[k] for k in ("turnId", "role", "text", "interrupted")} for t in body["turns"]] == expected
    assert fresh_stack.processes["transcripts"].stop() == 0
    await bus.drain()


def test_it_stops_cleanly_when_nats_stops_with_it(fresh_stack: Stack, own_nats: NatsServer) -> None:
    """Stopping a whole dev run stops NATS and every service at once: the transcripts service must
    not wait out a read on the dead connection, nor fail closing it."""
    transcripts = fresh_stack.start_transcripts()
    own_nats.process.signal(signal.SIGTERM)
    transcripts.signal(signal.SIGTERM)
    assert transcripts.proc is not None
    assert transcripts.proc.wait(10) == 0, transcripts.log_text()[-2000:]
