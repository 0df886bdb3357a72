"""Readiness means health, not room: a worker at capacity stays ready (a PodDisruptionBudget counts
ready pods, so a full worker must not block node drains; tests/test_helm.py reasons about the
budget) and says how full it is in its metrics; sessions beyond capacity are turned away by the
queue group, not by readiness."""

from __future__ import annotations

import httpx
import pytest
from voice_testkit.client import VoiceClient, refused
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack


def gauge(metrics: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(f"{name}{{")]
    assert len(values) == 1, metrics
    return values[0]


async def test_a_full_worker_stays_ready_and_reports_its_load(fresh_stack: Stack) -> None:
    fresh_stack.start_auth(wait=False)
    fresh_stack.start_worker(wait=False, NOVA_MAX_SESSIONS="1")
    fresh_stack.start_edge(wait=False)
    fresh_stack.wait_ready()
    client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
    worker = fresh_stack.service_url("nova")
    async with httpx.AsyncClient(base_url=worker, follow_redirects=True) as http:
        ready = await http.get("/ready")
        assert (ready.status_code, ready.json()["ready"]) == (200, True)
        metrics = (await http.get(fresh_stack.metrics_url("nova"))).text
    assert gauge(metrics, "voice_worker_sessions") == 1
    assert gauge(metrics, "voice_worker_capacity") == 1
    # No room: the next caller is told to try again later (no worker claims), the worker stays ready.
    assert (await refused(fresh_stack.ws_url(), key=API_KEYS["bob"])).code == 1013
    async with httpx.AsyncClient(base_url=worker, follow_redirects=True) as http:
        assert (await http.get("/ready")).status_code == 200
    await client.end()
