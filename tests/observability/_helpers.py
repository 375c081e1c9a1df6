"""An orchestrator on loopback emulators with observers, and the real OpenTelemetry SDK with
in-memory exporters (no network, no global providers touched)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hafs_actors import UnifiedOrchestrator
from hafs_actors.testing.emulators import Emulator, EmulatorConfig, open_emulators
from tests.orchestrator._helpers import emulator_config, make_config

#: Stands for a real API key: it must never reach a span, a metric, a label or a log.
CANARY = "sk-canary-7f3a9c1e5b2d4c6a8e0f1a2b3c4d5e6f"


@attrs.define
class Otel:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def metrics(self) -> dict[str, Any]:
        """Metric name -> its data points, from one collection."""
        data: MetricsData | None = self.reader.get_metrics_data()
        out: dict[str, Any] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = list(metric.data.data_points)
        return out


def otel_sdk() -> Otel:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return Otel(spans, reader, tracer_provider, MeterProvider(metric_readers=[reader]))


@asynccontextmanager
async def observed(
    providers: Sequence[str] = ("openai", "gemini"),
    *,
    emulators: Mapping[str, EmulatorConfig] | None = None,
    orchestrator: Mapping[str, Any] | None = None,
    api_key: str = "emulator-key",
    provider_changes: Mapping[str, Mapping[str, Any]] | None = None,
    **config: Any,
) -> AsyncIterator[tuple[UnifiedOrchestrator, dict[str, Emulator]]]:
    """Emulators for ``providers`` and an orchestrator built with ``orchestrator`` kwargs."""
    configs = {
        name: (emulators or {}).get(name, emulator_config(api_key=api_key)) for name in providers
    }
    async with open_emulators(providers, configs=configs) as emus:
        cfg = make_config(emus, api_key=api_key, providers=provider_changes, **config)
        async with UnifiedOrchestrator(cfg, **(orchestrator or {})) as orch:
            yield orch, dict(emus)
