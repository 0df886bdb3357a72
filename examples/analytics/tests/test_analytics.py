"""The example subscriber counts a scripted conversation through the whole stack, and counts
every record once however often it is delivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from voice_analytics.stats import StatsStore
from voice_dev.natsserver import free_port
from voice_proto import messages as m
from voice_proto.channels import Service
from voice_proto.streams import Record
from voice_testkit.client import VoiceClient
from voice_testkit.processes import ManagedProcess
from voice_testkit.scripted_conversation import SCRIPTED_ENGINE, first_half, second_half
from voice_testkit.stack import API_KEYS, Stack, script

pytestmark = pytest.mark.stack


async def stats_of(url: str, sid: str, principal: str = "ops", timeout: float = 30.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    headers = {"Authorization": f"ApiKey {API_KEYS[principal]}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        while True:
            response = await http.get(f"/stats/sessions/{sid}")
            if response.status_code == 200 and response.json()["endedAt"]:
                body: dict[str, Any] = response.json()
                return body
            if response.status_code not in (200, 404) or loop.time() > deadline:
                raise AssertionError(f"{response.status_code} {response.text}")
            await asyncio.sleep(0.2)


async def test_a_scripted_conversation_is_counted(fresh_stack: Stack, tmp_path: Path) -> None:
    fresh_stack.start_spine(NOVA_ENGINE=SCRIPTED_ENGINE)
    port = free_port()
    env = fresh_stack.service_env(
        Service.ANALYTICS, ANALYTICS_HTTP_PORT=str(port), ANALYTICS_DATABASE=str(tmp_path / "a.db")
    )
    analytics = ManagedProcess("analytics", [script("voice-analytics")], env, tmp_path).start()
    url = f"http://127.0.0.1:{port}"
    try:
        analytics.wait_ready(f"{url}/ready")
        client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
        await first_half(client)
        await second_half(client)
        stats = await stats_of(url, client.session_id)
        assert stats["principal"] == "alice"
        assert stats["endReason"] == "hangup"
        assert stats["turns"] == {"user": 3, "assistant": 2}
        assert stats["interruptions"] == 1
        assert stats["words"] == {"user": 2 + 4 + 2, "assistant": 5 + 5}
        assert 0 < stats["lengthSeconds"] < 60
        async with httpx.AsyncClient(base_url=url) as http:
            bob = {"Authorization": f"ApiKey {API_KEYS['bob']}"}
            assert (await http.get(f"/stats/sessions/{client.session_id}", headers=bob)).status_code == 403
            assert (await http.get("/stats/sessions")).status_code == 401
    finally:
        assert analytics.stop() == 0


async def test_each_record_counts_once(tmp_path: Path) -> None:
    store = await StatsStore.open(tmp_path / "a.db")
    sid = "analytics-test-session-1"
    at = datetime(2026, 11, 1, tzinfo=UTC)
    said = m.Transcript(turn_id=1, role=m.Role.USER, text="one two three", stage=m.Stage.FINAL)
    records = [
        Record(
            sid,
            1,
            at,
            m.Lifecycle(kind=m.LifecycleKind.STARTED, principal="alice", at=at.timestamp()),
            None,
            0,
        ),
        Record(sid, 2, at, said, None, 0),
        Record(
            sid,
            3,
            at,
            m.Transcript(turn_id=1, role=m.Role.USER, text="x", stage=m.Stage.SPECULATIVE),
            None,
            0,
        ),
    ]
    await store.count(records)
    await store.count(records[1:])  # redelivered
    stats = await store.session(sid)
    assert stats is not None
    assert (stats.turns, stats.words) == ({"user": 1, "assistant": 0}, {"user": 3, "assistant": 0})
    await store.forget_before(3)
    await store.close()
