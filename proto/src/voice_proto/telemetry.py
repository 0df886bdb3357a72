"""OpenTelemetry set-up: traces always (so trace ids exist to propagate and log), exported over
OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces/metrics variant) is set; metrics
served for Prometheus and exported over OTLP likewise."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .telemetry_names import Metric


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def shutdown(self) -> None:
        """Flush what is buffered; called on the way out."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _otlp_configured(signal: str) -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def _version(service: str) -> str:
    """The service package's version (the shared runtime's for a package named otherwise)."""
    for package in (service, "voice-proto"):
        try:
            return version(package)
        except PackageNotFoundError:
            continue
    return "unknown"


def setup_telemetry(service: str) -> Telemetry:
    """Providers for ``service`` (``voice-<name>``, also its package's name, whose version becomes
    ``service.version``). ``OTEL_RESOURCE_ATTRIBUTES`` adds to the resource (the Helm chart puts the
    pod's name, namespace and ``deployment.environment`` there through the downward API)."""
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", service),
            "service.version": _version(service),
        }
    )
    tracer_provider = TracerProvider(resource=resource)
    if _otlp_configured("TRACES"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)

    readers: list[MetricReader] = [PrometheusMetricReader()]
    if _otlp_configured("METRICS"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider)


# --- instruments made from the catalogue (voice_proto.telemetry_names.Metrics) ---------------------


def counter(meter: metrics.Meter, metric: Metric) -> metrics.Counter:
    assert metric.kind == "counter", metric
    return meter.create_counter(metric.instrument, unit=metric.otel_unit, description=metric.description)


def histogram(
    meter: metrics.Meter, metric: Metric, buckets: Sequence[float] | None = None
) -> metrics.Histogram:
    assert metric.kind == "histogram", metric
    return meter.create_histogram(
        metric.instrument,
        unit=metric.otel_unit,
        description=metric.description,
        explicit_bucket_boundaries_advisory=buckets,
    )


def gauge(
    meter: metrics.Meter, metric: Metric, observe: Callable[[], Iterable[metrics.Observation]]
) -> metrics.ObservableGauge:
    """An observable gauge; ``observe`` is called at every scrape or export."""
    assert metric.kind == "gauge", metric
    return meter.create_observable_gauge(
        metric.instrument,
        callbacks=[lambda _options: list(observe())],
        unit=metric.otel_unit,
        description=metric.description,
    )
