"""Latency statistics and goodput, computed exactly from the raw samples.

Percentiles use linear interpolation between closest ranks (numpy's default ``linear``
method), so figures can be checked against any other tool without a numpy dependency.
Times are seconds everywhere; only the presentation layers convert to milliseconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from .samples import RequestSample

__all__ = [
    "DEFAULT_PERCENTILES",
    "LATENCY_METRICS",
    "Distribution",
    "Goodput",
    "LatencyMetric",
    "Slo",
    "SloMetric",
    "TargetSummary",
    "parse_duration",
    "parse_slo",
    "percentile",
    "summarize",
]

LatencyMetric: TypeAlias = Literal["ttft", "itl", "tpot", "e2e"]
LATENCY_METRICS: tuple[LatencyMetric, ...] = ("ttft", "itl", "tpot", "e2e")
SloMetric: TypeAlias = Literal["ttft", "tpot", "e2e"]
_SLO_METRICS: tuple[SloMetric, ...] = ("ttft", "tpot", "e2e")
DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)


def percentile_name(p: float) -> str:
    """``p50``, ``p99.9``: the key of a percentile in tables and JSON."""
    return f"p{p:g}"


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``50,90,99,99.9`` as numbers within 0..100 (``ValueError`` otherwise)."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"not a list of percentiles: {text!r} (e.g. 50,90,99,99.9)") from None
    if not values or not all(0 <= v <= 100 for v in values):
        raise ValueError(f"percentiles must be within 0..100: {text!r}")
    return tuple(sorted(set(values)))


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of already sorted values, numpy ``linear`` method."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    rank = (len(sorted_values) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    frac = rank - low
    lo_v, hi_v = sorted_values[low], sorted_values[high]
    return lo_v + (hi_v - lo_v) * frac


@attrs.frozen
class Distribution:
    """Summary statistics of one latency metric (seconds). ``std`` is the population std;
    ``percentiles`` holds the run's requested percentiles by name (``p99.9``)."""

    count: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    percentiles: dict[str, float] = attrs.field(factory=dict)

    def stat(self, name: str) -> float:
        """A statistic by name: ``mean``, ``max``, ``p50`` or any requested percentile."""
        if name in self.percentiles:
            return self.percentiles[name]
        value: float = getattr(self, name)
        return value

    @classmethod
    def of(
        cls, values: Iterable[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES
    ) -> Distribution | None:
        """Statistics of ``values``; ``None`` when there are none (unknown is not zero)."""
        ordered = sorted(values)
        n = len(ordered)
        if n == 0:
            return None
        mean = math.fsum(ordered) / n
        var = math.fsum((v - mean) ** 2 for v in ordered) / n
        return cls(
            count=n,
            mean=mean,
            std=math.sqrt(var),
            min=ordered[0],
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            max=ordered[-1],
            percentiles={percentile_name(p): percentile(ordered, p) for p in percentiles},
        )


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us|µs|m|min)?\s*$")
_UNIT_SECONDS = {"ms": 1e-3, "us": 1e-6, "µs": 1e-6, "s": 1.0, "m": 60.0, "min": 60.0}


def parse_duration(text: str, *, default_unit: str = "s") -> float:
    """Parse ``500ms``, ``2s``, ``1.5``, ``1m`` into seconds; ``ValueError`` says what is wrong."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 500ms, 2s, 1.5s)")
    value = float(match.group(1))
    return value * _UNIT_SECONDS[match.group(2) or default_unit]


@attrs.frozen
class Slo:
    """A user service-level objective: ``metric`` of a request must be at most ``threshold`` s.

    ``tpot`` is only defined for requests with more than one output token; a request with a
    single token meets a TPOT objective (as in vLLM's goodput).
    """

    metric: SloMetric
    threshold: float

    def __attrs_post_init__(self) -> None:
        if self.metric not in _SLO_METRICS:
            raise ValueError(f"SLO metric must be one of {', '.join(_SLO_METRICS)}")
        if not (self.threshold > 0 and math.isfinite(self.threshold)):
            raise ValueError(f"SLO threshold must be a positive duration, got {self.threshold}")

    def met_by(self, sample: RequestSample) -> bool:
        if not sample.ok:
            return False
        value = getattr(sample, self.metric)
        if value is None:
            return self.metric == "tpot"
        return bool(value <= self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}<={self.threshold * 1000:g}ms"


def parse_slo(text: str) -> Slo:
    """Parse ``ttft=500ms`` (bare numbers are milliseconds, as in vLLM's ``--goodput``)."""
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not sep or not value.strip():
        raise ValueError(f"SLO {text!r} must look like METRIC=DURATION, e.g. ttft=500ms")
    if name not in _SLO_METRICS:
        raise ValueError(f"SLO {text!r}: metric must be one of {', '.join(_SLO_METRICS)}")
    seconds = parse_duration(value, default_unit="ms")
    if seconds <= 0:
        raise ValueError(f"SLO {text!r}: threshold must be positive")
    return Slo(metric=name, threshold=seconds)


@attrs.frozen
class Goodput:
    """Requests meeting every SLO: ``fraction`` of those offered, ``rate`` per second."""

    slos: tuple[Slo, ...]
    good: int
    offered: int
    fraction: float
    rate: float


@attrs.frozen
class TargetSummary:
    """Everything one target's measured requests say, for tables, JSON and comparisons.

    ``requests`` counts measured requests that were sent (warm-up excluded); ``dropped`` those
    an open loop could not send because the outstanding cap was hit; ``late`` those sent more
    than the lateness threshold after their scheduled time (the harness could not keep up).
    ``duration`` is the measurement window: from the end of warm-up to the last measured
    completion. ``tokens_estimated`` counts successful requests whose output token count was
    not reported by the provider and was taken as the number of text chunks.
    """

    requests: int
    ok: int
    errors: dict[str, int]
    dropped: int
    late: int
    warmup_requests: int
    duration: float
    request_rate: float
    output_tokens: int
    output_token_rate: float
    tokens_estimated: int
    ttft: Distribution | None
    itl: Distribution | None
    tpot: Distribution | None
    e2e: Distribution | None
    goodput: Goodput | None

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def metric(self, name: LatencyMetric) -> Distribution | None:
        dist: Distribution | None = getattr(self, name)
        return dist


def summarize(
    samples: Sequence[RequestSample],
    *,
    window_start: float,
    slos: Sequence[Slo] = (),
    dropped: int = 0,
    late_threshold: float = 0.01,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> TargetSummary:
    """Summarize one target's samples; warm-up samples are counted but excluded from metrics.

    ``window_start`` is when measurement began (the end of warm-up), on the samples' clock.
    """
    measured = [s for s in samples if not s.warmup]
    ok = [s for s in measured if s.ok]
    errors = Counter(s.error_type for s in measured if s.error_type is not None)
    end = max((s.start + s.e2e for s in measured), default=window_start)
    duration = max(end - window_start, 0.0)
    output_tokens = sum(s.output_tokens or 0 for s in ok)
    itl_values = [gap for s in ok for gap in s.itl()]
    goodput = None
    if slos:
        good = sum(1 for s in measured if all(slo.met_by(s) for slo in slos))
        offered = len(measured) + dropped
        goodput = Goodput(
            slos=tuple(slos),
            good=good,
            offered=offered,
            fraction=good / offered if offered else 0.0,
            rate=good / duration if duration > 0 else 0.0,
        )
    return TargetSummary(
        requests=len(measured),
        ok=len(ok),
        errors=dict(sorted(errors.items())),
        dropped=dropped,
        late=sum(
            1
            for s in measured
            if s.scheduled is not None and s.start - s.queued - s.scheduled > late_threshold
        ),
        warmup_requests=len(samples) - len(measured),
        duration=duration,
        request_rate=len(ok) / duration if duration > 0 else 0.0,
        output_tokens=output_tokens,
        output_token_rate=output_tokens / duration if duration > 0 else 0.0,
        tokens_estimated=sum(1 for s in ok if s.tokens_source == "chunks"),
        ttft=Distribution.of((s.ttft for s in ok if s.ttft is not None), percentiles),
        itl=Distribution.of(itl_values, percentiles),
        tpot=Distribution.of((s.tpot for s in ok if s.tpot is not None), percentiles),
        e2e=Distribution.of((s.e2e for s in ok), percentiles),
        goodput=goodput,
    )


_VLLM_METRICS: dict[LatencyMetric, str] = {
    "ttft": "ttft",
    "tpot": "tpot",
    "itl": "itl",
    "e2e": "e2el",
}


def vllm_metrics(
    summary: TargetSummary, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> dict[str, float | None]:
    """The summary under the names vLLM's ``bench serve`` gives its results
    (``request_throughput``, ``output_throughput``, ``request_goodput``, ``p99_ttft_ms``...),
    so a figure can be set beside one of vLLM's without a translation table."""
    out: dict[str, float | None] = {
        "completed": summary.ok,
        "request_throughput": summary.request_rate,
        "output_throughput": summary.output_token_rate,
        "total_output_tokens": summary.output_tokens,
        "request_goodput": None if summary.goodput is None else summary.goodput.rate,
    }
    for metric, name in _VLLM_METRICS.items():
        d = summary.metric(metric)
        out[f"mean_{name}_ms"] = None if d is None else d.mean * 1000
        out[f"median_{name}_ms"] = None if d is None else d.p50 * 1000
        out[f"std_{name}_ms"] = None if d is None else d.std * 1000
        for p in percentiles:
            key = percentile_name(p)
            out[f"{key}_{name}_ms"] = None if d is None else d.stat(key) * 1000
    return out
