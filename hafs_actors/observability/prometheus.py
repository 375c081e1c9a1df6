"""Prometheus export: the same metrics as the OpenTelemetry observer under Prometheus names
(units in the names, ``_total`` counters), served by a small trio task on loopback.

prometheus-client's own ``start_http_server`` runs a thread; the runtime runs none, so
:func:`serve_metrics` serves the exposition from a trio task instead (h11, one request per
connection). Importing this module imports prometheus-client (the ``prometheus`` extra).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import attrs
import h11
import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

import supervisors

from ..resilience import CircuitState
from ._events import (
    AttemptEnded,
    AttemptStarted,
    BreakerTransition,
    LimiterWait,
    Observer,
    RequestFailed,
    RequestInfo,
    RequestSucceeded,
    StreamEventInfo,
    SupervisorEventInfo,
)

if TYPE_CHECKING:
    from ..orchestrator import UnifiedOrchestrator
    from ..testing.emulators import Emulator

__all__ = [
    "EmulatorCollector",
    "MetricsEndpoint",
    "PrometheusExporter",
    "emulator_metrics_endpoint",
    "metrics_endpoint",
    "serve_metrics",
]

_SECONDS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96)
_CHUNK_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5)
_TOKENS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
_REQUEST_LIMIT = 16 * 1024  # bytes of request head a scrape may send
_READ_TIMEOUT = 10.0


class PrometheusExporter(Observer):
    """An observer recording into its own :class:`CollectorRegistry` (or the one given).

    Register it (``orch.add_observer(exporter)``) and serve ``exporter.registry`` with
    :func:`serve_metrics`, or do both with :func:`metrics_endpoint`.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        request = ["operation", "provider", "model"]
        self._duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (per request, every attempt included).",
            [*request, "error_type"],
            buckets=_SECONDS,
            registry=r,
        )
        self._tokens = Histogram(
            "gen_ai_client_token_usage_tokens",
            "Number of input and output tokens used, per request.",
            [*request, "token_type"],
            buckets=_TOKENS,
            registry=r,
        )
        self._ttft = Histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time from the request to the first output chunk the caller received.",
            request,
            buckets=_SECONDS,
            registry=r,
        )
        self._per_chunk = Histogram(
            "gen_ai_client_operation_time_per_output_chunk_seconds",
            "Time between consecutive output chunks the caller received.",
            request,
            buckets=_CHUNK_SECONDS,
            registry=r,
        )
        self._requests = Counter(
            "hafs_router_requests_total",
            "Requests by outcome (ok, error, cancelled).",
            ["operation", "outcome", "error_type"],
            registry=r,
        )
        self._active = Gauge(
            "hafs_router_active_requests", "Requests in flight.", ["operation"], registry=r
        )
        self._attempts = Counter(
            "hafs_router_attempts_total",
            "Attempts by provider and outcome (ok or the error class).",
            ["provider", "outcome"],
            registry=r,
        )
        self._fallbacks = Counter(
            "hafs_router_fallbacks_total",
            "Moves from a provider to the next candidate.",
            ["provider"],
            registry=r,
        )
        self._retries = Counter(
            "hafs_router_retries_total", "Retries on the same provider.", ["provider"], registry=r
        )
        self._breaker = Gauge(
            "hafs_breaker_state",
            "1 for the circuit breaker's current state, 0 for the others.",
            ["provider", "state"],
            registry=r,
        )
        self._transitions = Counter(
            "hafs_breaker_transitions_total",
            "Circuit breaker transitions by new state and reason.",
            ["provider", "state", "reason"],
            registry=r,
        )
        self._limiter_wait = Histogram(
            "hafs_limiter_wait_seconds",
            "Time attempts that waited for the rate limiter waited.",
            ["provider"],
            buckets=_SECONDS,
            registry=r,
        )
        self._restarts = Counter(
            "hafs_supervisor_restarts_total",
            "Provider actor restarts.",
            ["provider"],
            registry=r,
        )
        self._give_ups = Counter(
            "hafs_supervisor_give_ups_total",
            "Provider supervisors that gave up (the provider was marked down).",
            ["provider"],
            registry=r,
        )
        self._serving: dict[int, tuple[str, str]] = {}
        self._breakers: set[str] = set()

    def _set_breaker(self, provider: str, current: CircuitState) -> None:
        self._breakers.add(provider)
        for state in CircuitState:
            self._breaker.labels(provider, state.value).set(int(state is current))

    def on_request(self, request: RequestInfo) -> None:
        self._active.labels(request.operation).inc()

    def on_attempt(self, event: AttemptStarted | AttemptEnded) -> None:
        if isinstance(event, AttemptEnded):
            self._attempts.labels(event.attempt.provider, event.error_type or "ok").inc()
            return
        if event.provider not in self._breakers:
            self._set_breaker(event.provider, CircuitState.CLOSED)  # until a transition says
        self._serving[event.request.id] = (event.provider, event.model)
        if event.retry:
            self._retries.labels(event.provider).inc()
        if event.fallback_from is not None:
            self._fallbacks.labels(event.fallback_from).inc()

    def on_stream_event(self, event: StreamEventInfo) -> None:
        if event.chunk is None:
            return
        info = event.request
        provider, model = self._serving.get(info.id, ("", ""))
        labels = (info.operation, provider, info.model or model)
        if event.chunk == 0:
            self._ttft.labels(*labels).observe(event.at - info.started)
        elif event.gap is not None:
            self._per_chunk.labels(*labels).observe(event.gap)

    def on_result(self, event: RequestSucceeded) -> None:
        info = event.request
        self._serving.pop(info.id, None)
        self._active.labels(info.operation).dec()
        result = event.result
        labels = (info.operation, event.provider or "", result.model or info.model or "")
        self._duration.labels(*labels, "").observe(event.duration)
        usage = result.usage
        for token_type, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
            if count is not None:
                self._tokens.labels(*labels, token_type).observe(count)
        self._requests.labels(info.operation, "ok", "").inc()

    def on_error(self, event: RequestFailed) -> None:
        info = event.request
        serving = self._serving.pop(info.id, None)
        self._active.labels(info.operation).dec()
        model = info.model or (serving[1] if serving else "")
        error_type = event.error_type
        self._duration.labels(info.operation, event.provider or "", model, error_type).observe(
            event.duration
        )
        outcome = "cancelled" if event.cancelled else "error"
        self._requests.labels(info.operation, outcome, error_type).inc()

    def on_breaker_transition(self, event: BreakerTransition) -> None:
        transition = event.event
        self._set_breaker(event.provider, transition.state)
        self._transitions.labels(
            event.provider, transition.state.value, transition.reason.value
        ).inc()

    def on_supervisor_event(self, event: SupervisorEventInfo) -> None:
        if isinstance(event.event, supervisors.ChildRestarted):
            self._restarts.labels(event.provider).inc()
        elif isinstance(event.event, supervisors.GaveUp):
            self._give_ups.labels(event.provider).inc()

    def on_limiter_wait(self, event: LimiterWait) -> None:
        if event.seconds > 0:  # as the OpenTelemetry observer: attempts that waited
            self._limiter_wait.labels(event.provider).observe(event.seconds)


# --- the endpoint ---------------------------------------------------------------------------------


async def serve_metrics(
    port: int = 0,
    *,
    registry: CollectorRegistry,
    host: str = "127.0.0.1",
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``registry`` at ``http://host:port/metrics`` until cancelled.

    Run it with ``port = await nursery.start(partial(serve_metrics, 9464, registry=...))``;
    ``task_status`` reports the bound port (``port=0`` picks a free one). Loopback by default:
    pass ``host="0.0.0.0"`` only where the network is trusted.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]
    task_status.started(bound)
    await trio.serve_listeners(partial(_handle, registry), listeners)


async def _handle(registry: CollectorRegistry, stream: trio.SocketStream) -> None:
    async with stream:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_REQUEST_LIMIT)
        with trio.move_on_after(_READ_TIMEOUT):
            request = await _read_request(conn, stream)
            if request is None:
                return
            status, headers, body = _respond(registry, request)
            headers.append(("connection", "close"))
            headers.append(("content-length", str(len(body))))
            data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
            if request.method != b"HEAD":
                data += conn.send(h11.Data(data=body)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
            await stream.send_all(data)


async def _read_request(conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return None
        if isinstance(event, h11.Request):
            return event
        if event is h11.NEED_DATA:
            data = await stream.receive_some(4096)
            conn.receive_data(data)
            if not data:
                return None
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _respond(
    registry: CollectorRegistry, request: h11.Request
) -> tuple[int, list[tuple[str, str]], bytes]:
    text = [("content-type", "text/plain; charset=utf-8")]
    if request.method not in (b"GET", b"HEAD"):
        return 405, [*text, ("allow", "GET, HEAD")], b"method not allowed\n"
    if request.target.split(b"?", 1)[0] not in (b"/metrics", b"/"):
        return 404, text, b"not found: the metrics are at /metrics\n"
    accept = dict(request.headers).get(b"accept", b"").decode("latin-1")
    encoder, content_type = choose_encoder(accept)
    return 200, [("content-type", content_type)], encoder(registry)


@attrs.frozen
class MetricsEndpoint:
    exporter: PrometheusExporter
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


@asynccontextmanager
async def metrics_endpoint(
    orchestrator: UnifiedOrchestrator, port: int = 0, *, host: str = "127.0.0.1"
) -> AsyncIterator[MetricsEndpoint]:
    """Register a :class:`PrometheusExporter` on ``orchestrator`` and serve it for the block.

    What ``--metrics-port`` of ``hafs demo`` and ``hafs emulate`` calls::

        async with metrics_endpoint(orch, args.metrics_port) as endpoint:
            print(f"metrics at {endpoint.url}")
            ...
    """
    exporter = PrometheusExporter()
    orchestrator.add_observer(exporter)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            partial(serve_metrics, port, registry=exporter.registry, host=host)
        )
        yield MetricsEndpoint(exporter, host, bound)
        nursery.cancel_scope.cancel()


class EmulatorCollector:
    """The emulators' own counters as Prometheus metrics, read at each scrape (``hafs emulate
    --metrics-port``): requests by provider, endpoint and status, injected faults, quota
    rejections, connections and tokens."""

    def __init__(self, emulators: Mapping[str, Emulator]) -> None:
        self._emulators = emulators

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "hafs_emulator_requests",
            "Requests answered by an emulator (status 0: no answer, a hang)",
            labels=["provider", "endpoint", "status"],
        )
        faults = CounterMetricFamily(
            "hafs_emulator_faults", "Faults injected by an emulator", labels=["provider", "kind"]
        )
        rejections = CounterMetricFamily(
            "hafs_emulator_quota_rejections", "Requests refused by the quota", labels=["provider"]
        )
        tokens = CounterMetricFamily(
            "hafs_emulator_tokens", "Tokens an emulator counted", labels=["provider", "direction"]
        )
        for name, emulator in self._emulators.items():
            stats = emulator.stats()
            for (endpoint, status), count in stats.requests.items():
                requests.add_metric([name, endpoint, str(status)], count)
            for kind, count in stats.faults.items():
                faults.add_metric([name, kind], count)
            rejections.add_metric([name], stats.quota_rejections)
            tokens.add_metric([name, "input"], stats.input_tokens)
            tokens.add_metric([name, "output"], stats.output_tokens)
        yield from (requests, faults, rejections, tokens)


@asynccontextmanager
async def emulator_metrics_endpoint(
    emulators: Mapping[str, Emulator], port: int = 0, *, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve the emulators' counters at ``http://host:port/metrics`` for the block; yields the
    URL."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(EmulatorCollector(emulators))
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(partial(serve_metrics, port, registry=registry, host=host))
        yield f"http://{host}:{bound}/metrics"
        nursery.cancel_scope.cancel()
