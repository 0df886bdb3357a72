"""What an operator scrapes and alerts on, on one stack of every service exporting to a receiver:
each service's ``/metrics`` at exactly that path on its own port, the placement outcome of a session
refused with 1013 (counted, and an error on its ``edge.session``), the first-audio histogram counting
each answered turn once, turns by outcome, probes and scrapes leaving no spans, and the shipped alert
rules and dashboard naming only metrics that exist."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from voice_dev.natsserver import free_port
from voice_proto.channels import Service
from voice_proto.ops import UNTRACED_PATHS
from voice_proto.telemetry_names import Metrics, Span
from voice_testkit.client import VoiceClient, refused
from voice_testkit.otlp import OtlpReceiver
from voice_testkit.processes import ManagedProcess
from voice_testkit.scripted_conversation import SCRIPTED_ENGINE, first_half, second_half
from voice_testkit.stack import API_KEYS, Stack, script

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "helm" / "voice" / "files" / "prometheus-rules.yaml"
DASHBOARD = ROOT / "helm" / "voice" / "files" / "grafana-dashboard.json"
#: Made only by the Nova Sonic engine: tests/test_nova_bedrock.py finds them in its worker's scrape.
BEDROCK_ONLY = {metric.name for metric in Metrics.all() if metric.name.startswith("voice_nova_bedrock_")}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, without the exporter's scope labels."""
    found = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        kept = [
            label for label in re.findall(r'(\w+="[^"]*")', labels or "") if not label.startswith("otel_")
        ]
        found[f"{name}{{{','.join(kept)}}}"] = float(value)
    return found


def family(sample: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", sample.split("{", 1)[0])


def named_in(expressions: list[str]) -> set[str]:
    return {family(name) for expr in expressions for name in re.findall(r"\bvoice_[a-z_]+", expr)}


async def test_every_service_is_scraped_at_metrics_and_the_rules_name_what_it_exports(
    fresh_stack: Stack, tmp_path: Path
) -> None:
    with OtlpReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        fresh_stack.start_auth(wait=False, **env)
        fresh_stack.start_edge(wait=False, **env)
        fresh_stack.start_worker(wait=False, NOVA_ENGINE=SCRIPTED_ENGINE, NOVA_MAX_SESSIONS="1", **env)
        fresh_stack.start_transcripts(wait=False, **env)
        analytics_port, analytics_metrics = free_port(), free_port()
        analytics = ManagedProcess(
            "analytics",
            [script("voice-analytics")],
            fresh_stack.service_env(
                Service.ANALYTICS,
                ANALYTICS_HTTP_PORT=str(analytics_port),
                ANALYTICS_DATABASE=str(tmp_path / "analytics.db"),
                METRICS_PORT=str(analytics_metrics),
                **env,
            ),
            tmp_path,
        ).start()
        try:
            fresh_stack.wait_ready()
            analytics.wait_ready(f"http://127.0.0.1:{analytics_port}/ready")

            assert (await refused(fresh_stack.ws_url(), key="not-a-key")).code == 4401
            client = await VoiceClient.open(fresh_stack.ws_url(), key=API_KEYS["alice"])
            # The one worker is full: the next session is refused with 1013.
            assert (await refused(fresh_stack.ws_url(), key=API_KEYS["bob"])).code == 1013
            await first_half(client)  # one answered turn
            await second_half(client)  # one interrupted turn, one the assistant never answers

            metrics_urls = {name: fresh_stack.metrics_url(name) for name in fresh_stack.processes}
            metrics_urls["analytics"] = f"http://127.0.0.1:{analytics_metrics}/metrics"
            probes = [f"{fresh_stack.http_url()}/health", f"{fresh_stack.http_url()}/ready"]
            probes += [f"{fresh_stack.service_url(n)}/ready" for n in ("nova", "transcripts")]
            scraped: dict[str, dict[str, float]] = {}
            async with httpx.AsyncClient(follow_redirects=False) as http:
                for url in probes:
                    assert (await http.get(url)).status_code == 200, url
                for name, url in metrics_urls.items():
                    response = await http.get(url)  # exactly /metrics: no redirect, no slash
                    assert response.status_code == 200, (name, response.status_code)
                    assert response.headers["content-type"].startswith("text/plain")
                    scraped[name] = samples(response.text)
                # The service's own port does not serve them.
                assert (await http.get(f"{fresh_stack.http_url()}/metrics")).status_code == 404
                # Turns are counted when they close: the last one closes with the session.
                empty = f'voice_turns_total{{engine="{SCRIPTED_ENGINE}",outcome="empty"}}'
                for _ in range(100):
                    nova = samples((await http.get(metrics_urls["nova"])).text)
                    if empty in nova:
                        break
                    await asyncio.sleep(0.1)
        finally:
            analytics.stop()

        edge = scraped["edge"]
        assert edge['voice_edge_placements_total{outcome="no_worker"}'] == 1
        assert edge['voice_edge_placements_total{outcome="placed"}'] == 1
        assert edge['voice_edge_placements_total{outcome="auth_refused"}'] == 1
        engine = f'engine="{SCRIPTED_ENGINE}"'
        # Each of the two answers (the interrupted one began to play too) counted once.
        assert nova[f"voice_turn_first_audio_seconds_count{{{engine}}}"] == 2
        assert nova[f'voice_turns_total{{{engine},outcome="answered"}}'] == 1
        assert nova[f'voice_turns_total{{{engine},outcome="interrupted"}}'] == 1
        assert nova[f'voice_turns_total{{{engine},outcome="empty"}}'] == 1
        assert nova['voice_worker_capacity{worker="nova"}'] >= 1
        assert scraped["auth"]['voice_auth_validations_total{outcome="ok",scheme="api_key"}'] >= 1
        assert 'voice_consumer_lag_messages{consumer="transcripts"}' in scraped["transcripts"]
        assert 'voice_consumer_lag_messages{consumer="analytics"}' in scraped["analytics"]

        # The rules and the dashboard name only metrics the services export.
        exported = {family(sample) for service in scraped.values() for sample in service} | {
            family(sample) for sample in nova
        }
        rules = yaml.safe_load(RULES.read_text())
        alerts = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
        dashboard = json.loads(DASHBOARD.read_text())
        panels = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
        for expressions in (alerts, panels):
            named = named_in(expressions)
            assert named, expressions
            assert named - BEDROCK_ONLY <= exported, named - BEDROCK_ONLY - exported

        # The refused session's span says why, with error status.
        refusal = receiver.wait_for(Span.EDGE_SESSION, {"placement.outcome": "no_worker"})
        assert refusal.status == 2
        fresh_stack.stop_all()  # they flush their last spans on the way out
        # Probes and scrapes made no spans: every span is one of the platform's own.
        names = {span.name for span in receiver.spans}
        assert not {n for n in names if re.search(r"/(health|ready|metrics)\b|^(GET|POST) ", n)}, names
        paths = {s.attributes.get("url.path") or s.attributes.get("http.route") for s in receiver.spans}
        assert not paths & UNTRACED_PATHS, paths
        assert "WS /ws" in names  # requests and connections themselves are traced
