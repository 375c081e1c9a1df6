"""Compare two runs: per target and metric, the value in each run, the change, and whether the
change is larger than the runs' own noise.

Targets pair up by name; when the runs share no name but each has exactly one target, those
two are paired (comparing, say, one provider against another across two runs). Latency
changes carry a bootstrap confidence interval from the raw samples (as GenAI-Perf's compare
does with repeated runs): a change whose interval includes zero is noise and is not called
better or worse. Rates and counts have no samples to resample; a change below
``min_change`` is noise for them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import attrs

from .metrics import LATENCY_METRICS, TargetSummary, percentile
from .report import BenchReport, TargetResult

__all__ = ["STATS", "Comparison", "MetricDelta", "TargetPair", "compare_reports"]

Unit: TypeAlias = Literal["s", "req/s", "tok/s", "ratio", "count"]
STATS: tuple[str, ...] = ("mean", "p50", "p90", "p95", "p99", "max")
_BOOTSTRAP_VALUES = 2000  # values per side a resample draws from (a seeded subsample if more)


@attrs.frozen
class MetricDelta:
    """One metric in run A and run B. ``change`` is relative ((B - A) / A) when A is non-zero;
    ``ci`` is the bootstrap confidence interval of ``change`` when samples allow one."""

    metric: str  # e.g. "ttft.p50", "request_rate"
    label: str
    unit: Unit
    a: float | None
    b: float | None
    higher_is_better: bool
    ci: tuple[float, float] | None = None
    min_change: float = 0.01

    @property
    def delta(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b - self.a

    @property
    def change(self) -> float | None:
        if self.a is None or self.b is None or self.a == 0:
            return None
        return (self.b - self.a) / abs(self.a)

    @property
    def noise(self) -> bool:
        """The change is within the runs' noise: the interval spans zero or, without an
        interval, the change is below ``min_change`` (percentage points for ratios)."""
        if self.ci is not None:
            return self.ci[0] <= 0.0 <= self.ci[1]
        size = self.delta if self.unit in ("ratio", "count") else self.change
        if self.unit == "count":
            return size == 0
        return size is None or abs(size) < self.min_change

    @property
    def verdict(self) -> bool | None:
        """True if B is better than A, False if worse, None if noise or unknown."""
        delta = self.delta
        if delta is None or delta == 0 or self.noise:
            return None
        return (delta > 0) == self.higher_is_better

    def change_text(self) -> str:
        """The change as printed: relative (``+12.5%``), in points for ratios, or absolute."""
        if self.delta is None:
            return "\u2013"
        if self.unit == "ratio":
            return f"{self.delta * 100:+.1f} pt"
        if self.change is None:
            return f"{self.delta:+g}"
        return f"{self.change * 100:+.1f}%"

    def ci_text(self) -> str:
        """The interval as printed: ``[-3.1%, +0.4%]``, or ``""``."""
        if self.ci is None:
            return ""
        return f"[{self.ci[0] * 100:+.1f}%, {self.ci[1] * 100:+.1f}%]"


@attrs.frozen
class TargetPair:
    a_name: str
    b_name: str
    deltas: tuple[MetricDelta, ...]

    @property
    def title(self) -> str:
        return self.a_name if self.a_name == self.b_name else f"{self.a_name} -> {self.b_name}"


@attrs.frozen
class Comparison:
    a_label: str
    b_label: str
    pairs: tuple[TargetPair, ...]
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain JSON data (``hafs bench compare --json``)."""
        return {
            "a": self.a_label,
            "b": self.b_label,
            "confidence": self.confidence,
            "warnings": list(self.warnings),
            "only_in_a": list(self.only_in_a),
            "only_in_b": list(self.only_in_b),
            "pairs": [
                {
                    "a": p.a_name,
                    "b": p.b_name,
                    "metrics": [
                        {
                            "metric": d.metric,
                            "unit": d.unit,
                            "a": d.a,
                            "b": d.b,
                            "change": d.change,
                            "ci": None if d.ci is None else list(d.ci),
                            "noise": d.noise,
                            "verdict": {True: "better", False: "worse", None: None}[d.verdict],
                        }
                        for d in p.deltas
                    ],
                }
                for p in self.pairs
            ],
        }


_LABELS = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E"}


def _stat(values: Sequence[float], stat: str) -> float:
    if stat == "mean":
        return sum(values) / len(values)
    if stat == "max":
        return values[-1]
    return percentile(values, float(stat[1:]))


def _bootstrap(
    a: list[float],
    b: list[float],
    stats: Sequence[str],
    rng: random.Random,
    resamples: int,
    confidence: float,
) -> dict[str, tuple[float, float]]:
    """Per statistic, the percentile-bootstrap interval of (stat(B) - stat(A)) / stat(A)."""
    if len(a) < 2 or len(b) < 2:
        return {}
    if len(a) > _BOOTSTRAP_VALUES:
        a = rng.sample(a, _BOOTSTRAP_VALUES)
    if len(b) > _BOOTSTRAP_VALUES:
        b = rng.sample(b, _BOOTSTRAP_VALUES)
    changes: dict[str, list[float]] = {s: [] for s in stats}
    for _ in range(resamples):
        ra = sorted(rng.choices(a, k=len(a)))
        rb = sorted(rng.choices(b, k=len(b)))
        for s in stats:
            base = _stat(ra, s)
            if base:
                changes[s].append((_stat(rb, s) - base) / abs(base))
    tail = (1 - confidence) / 2 * 100
    out = {}
    for s, values in changes.items():
        if len(values) >= resamples // 2:
            values.sort()
            out[s] = (percentile(values, tail), percentile(values, 100 - tail))
    return out


def _deltas(
    ta: TargetResult,
    tb: TargetResult,
    stats: Sequence[str],
    rng: random.Random,
    resamples: int,
    confidence: float,
    min_change: float,
) -> tuple[MetricDelta, ...]:
    a, b = ta.summary, tb.summary
    deltas: list[MetricDelta] = []
    for metric in LATENCY_METRICS:
        da, db = a.metric(metric), b.metric(metric)
        have = [s for s in stats if _has(da, s) and _has(db, s)]
        cis = (
            _bootstrap(ta.values(metric), tb.values(metric), have, rng, resamples, confidence)
            if resamples
            else {}
        )
        for stat in have:
            deltas.append(
                MetricDelta(
                    metric=f"{metric}.{stat}",
                    label=f"{_LABELS[metric]} {stat}",
                    unit="s",
                    a=None if da is None else da.stat(stat),
                    b=None if db is None else db.stat(stat),
                    higher_is_better=False,
                    ci=cis.get(stat),
                    min_change=min_change,
                )
            )
    deltas.extend(_rate_deltas(a, b, min_change))
    return tuple(deltas)


def _has(d: Any, stat: str) -> bool:
    return d is None or stat in ("mean", "max", "p50", "p90", "p95", "p99") or stat in d.percentiles


def _rate_deltas(a: TargetSummary, b: TargetSummary, min_change: float) -> list[MetricDelta]:
    def delta(metric: str, label: str, unit: Unit, x: Any, y: Any, up: bool) -> MetricDelta:
        return MetricDelta(metric, label, unit, x, y, up, min_change=min_change)

    out = [
        delta("request_rate", "requests/s", "req/s", a.request_rate, b.request_rate, True),
        delta(
            "output_token_rate",
            "output tok/s",
            "tok/s",
            a.output_token_rate,
            b.output_token_rate,
            True,
        ),
    ]
    if a.goodput is not None or b.goodput is not None:
        out.append(
            delta(
                "goodput.fraction",
                "goodput",
                "ratio",
                None if a.goodput is None else a.goodput.fraction,
                None if b.goodput is None else b.goodput.fraction,
                True,
            )
        )
    out.append(
        delta(
            "error_rate",
            "error rate",
            "ratio",
            a.failed / a.requests if a.requests else None,
            b.failed / b.requests if b.requests else None,
            False,
        )
    )
    out.append(delta("dropped", "dropped", "count", a.dropped, b.dropped, False))
    return out


def _load_warnings(a: BenchReport, b: BenchReport, a_label: str, b_label: str) -> list[str]:
    la, lb = a.config.get("load") or {}, b.config.get("load") or {}
    da, db = la.get("description", "?"), lb.get("description", "?")
    if la.get("model") != lb.get("model"):
        return [
            f"load models differ: {a_label} ran {da}, {b_label} ran {db}; closed- and open-loop "
            "latencies measure different things and are not comparable"
        ]
    keys = ("concurrency", "rate", "arrival", "burstiness", "max_concurrency", "ramp")
    if any(la.get(k) != lb.get(k) for k in keys):
        return [f"loads differ: {a_label} ran {da}, {b_label} ran {db}"]
    if (a.config.get("dataset") or {}) != (b.config.get("dataset") or {}):
        return [f"the request datasets differ between {a_label} and {b_label}"]
    return []


def compare_reports(
    a: BenchReport,
    b: BenchReport,
    *,
    a_label: str = "A",
    b_label: str = "B",
    resamples: int = 200,
    confidence: float = 0.95,
    min_change: float = 0.01,
    seed: int = 0,
) -> Comparison:
    """Pair the targets of two runs and compute every metric's change from A to B, with a
    ``confidence`` bootstrap interval (``resamples`` draws; 0 turns it off)."""
    a_names = [t.name for t in a.targets]
    b_names = [t.name for t in b.targets]
    common = [n for n in a_names if n in b_names]
    if not common and len(a_names) == 1 and len(b_names) == 1:
        pairs_names = [(a_names[0], b_names[0])]
    else:
        pairs_names = [(n, n) for n in common]
    paired_a = {x for x, _ in pairs_names}
    paired_b = {y for _, y in pairs_names}
    extra = [
        f"p{p:g}"
        for p in (a.config.get("percentiles") or ())
        if p in (b.config.get("percentiles") or ()) and f"p{p:g}" not in STATS
    ]
    stats = (*STATS[:-1], *extra, STATS[-1])
    rng = random.Random(seed)
    pairs = tuple(
        TargetPair(
            x,
            y,
            _deltas(a.target(x), b.target(y), stats, rng, resamples, confidence, min_change),
        )
        for x, y in pairs_names
    )
    return Comparison(
        a_label=a_label,
        b_label=b_label,
        pairs=pairs,
        only_in_a=tuple(n for n in a_names if n not in paired_a),
        only_in_b=tuple(n for n in b_names if n not in paired_b),
        warnings=tuple(_load_warnings(a, b, a_label, b_label)),
        confidence=confidence,
    )
