"""Observability: hooks, OpenTelemetry and Prometheus export, latency histograms.

- :class:`Observer` and its events: typed hooks registered on the orchestrator
  (``UnifiedOrchestrator(observers=[...])`` or ``orch.add_observer(...)``);
- :mod:`hafs_actors.observability.otel`: spans and GenAI metrics (the ``otel`` extra), switched
  on by ``UnifiedOrchestrator(telemetry=True)``, ``[telemetry] otel = true`` or ``HAFS_OTEL=1``;
- :mod:`hafs_actors.observability.prometheus`: the same metrics for Prometheus (the
  ``prometheus`` extra) and a trio ``/metrics`` endpoint;
- :class:`LatencyHistogram`: the fixed-bucket histograms behind ``status()``.

Neither OpenTelemetry nor prometheus-client is imported until its module is. See
docs/observability.md.
"""

from __future__ import annotations

from .._exports import publish as _publish
from ._dispatch import ObserverDispatcher, StreamWatch
from ._events import (
    AttemptEnded,
    AttemptStarted,
    BreakerTransition,
    LimiterWait,
    Observer,
    Operation,
    RequestFailed,
    RequestInfo,
    RequestKind,
    RequestSucceeded,
    StreamEventInfo,
    SupervisorEventInfo,
)
from ._histogram import (
    LATENCY_BUCKETS,
    HistogramSnapshot,
    LatencyHistogram,
    ProviderLatency,
    ProviderLatencyHistograms,
)
from ._settings import SemconvMode, TelemetrySettings, resolve_telemetry, semconv_mode
from ._wiring import telemetry_observer

__all__ = [
    "LATENCY_BUCKETS",
    "AttemptEnded",
    "AttemptStarted",
    "BreakerTransition",
    "HistogramSnapshot",
    "LatencyHistogram",
    "LimiterWait",
    "Observer",
    "ObserverDispatcher",
    "Operation",
    "ProviderLatency",
    "ProviderLatencyHistograms",
    "RequestFailed",
    "RequestInfo",
    "RequestKind",
    "RequestSucceeded",
    "SemconvMode",
    "StreamEventInfo",
    "StreamWatch",
    "SupervisorEventInfo",
    "TelemetrySettings",
    "resolve_telemetry",
    "semconv_mode",
    "telemetry_observer",
]

_publish(__name__, globals(), __all__)
