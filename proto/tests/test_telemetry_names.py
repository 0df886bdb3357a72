"""The telemetry vocabulary is one table: names are unique and follow Prometheus's conventions, and
the metrics catalogue (docs/metrics.md) lists every metric."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from voice_proto.telemetry import counter, histogram
from voice_proto.telemetry_names import Metrics

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_every_metric_is_named_once_and_listed_in_the_catalogue() -> None:
    names = [metric.name for metric in Metrics.all()]
    assert len(names) == len(set(names))
    catalogue = CATALOGUE.read_text()
    for metric in Metrics.all():
        assert metric.name.startswith("voice_")
        assert metric.name.endswith("_total") == (metric.kind == "counter"), metric.name
        if metric.unit == "seconds":
            assert metric.name.removesuffix("_total").endswith("_seconds"), metric.name
        assert f"| `{metric.name}` | {metric.kind} |" in catalogue, metric.name


def test_instruments_are_made_from_the_table() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    counter(meter, Metrics.TURNS).add(1, {"engine": "local", "outcome": "answered"})
    histogram(meter, Metrics.FIRST_AUDIO, (0.5, 1.0)).record(0.7, {"engine": "local"})
    data = reader.get_metrics_data()
    assert data is not None
    recorded = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert set(recorded) == {"voice_turns", "voice_turn_first_audio_seconds"}
    assert recorded["voice_turn_first_audio_seconds"].unit == "s"
