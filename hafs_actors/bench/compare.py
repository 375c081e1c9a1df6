"""Compare two runs: per target and metric, the value in each run and the change.

Targets pair up by name; when the runs share no name but each has exactly one target, those
two are paired (comparing, say, one provider against another across two runs).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from .metrics import LATENCY_METRICS, TargetSummary
from .report import BenchReport

__all__ = ["STATS", "Comparison", "MetricDelta", "TargetPair", "compare_reports"]

Unit: TypeAlias = Literal["s", "req/s", "tok/s", "ratio", "count"]
STATS: tuple[str, ...] = ("mean", "p50", "p90", "p95", "p99", "max")
_NOISE = 1e-9  # relative changes below this are float rounding, not a difference


@attrs.frozen
class MetricDelta:
    """One metric in run A and run B. ``change`` is relative ((B - A) / A) when A is non-zero."""

    metric: str  # e.g. "ttft.p50", "request_rate"
    label: str
    unit: Unit
    a: float | None
    b: float | None
    higher_is_better: bool

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
    def improved(self) -> bool | None:
        """True if B is better than A, False if worse, None if equal (within float noise)
        or unknown."""
        delta = self.delta
        change = self.change
        if delta is None or delta == 0 or (change is not None and abs(change) < _NOISE):
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

    @property
    def verdict(self) -> bool | None:
        """:attr:`improved`, but ``None`` when the change rounds to zero as printed."""
        if self.change_text().lstrip("+-").startswith(("0.0%", "0.0 pt")):
            return None
        return self.improved


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


_LABELS = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E"}


def _summary_deltas(a: TargetSummary, b: TargetSummary) -> tuple[MetricDelta, ...]:
    deltas: list[MetricDelta] = []
    for metric in LATENCY_METRICS:
        da, db = a.metric(metric), b.metric(metric)
        for stat in STATS:
            deltas.append(
                MetricDelta(
                    metric=f"{metric}.{stat}",
                    label=f"{_LABELS[metric]} {stat}",
                    unit="s",
                    a=None if da is None else getattr(da, stat),
                    b=None if db is None else getattr(db, stat),
                    higher_is_better=False,
                )
            )
    deltas.append(
        MetricDelta("request_rate", "requests/s", "req/s", a.request_rate, b.request_rate, True)
    )
    deltas.append(
        MetricDelta(
            "output_token_rate",
            "output tokens/s",
            "tok/s",
            a.output_token_rate,
            b.output_token_rate,
            True,
        )
    )
    if a.goodput is not None or b.goodput is not None:
        deltas.append(
            MetricDelta(
                "goodput.fraction",
                "goodput",
                "ratio",
                None if a.goodput is None else a.goodput.fraction,
                None if b.goodput is None else b.goodput.fraction,
                True,
            )
        )
    deltas.append(
        MetricDelta(
            "error_rate",
            "error rate",
            "ratio",
            a.failed / a.requests if a.requests else None,
            b.failed / b.requests if b.requests else None,
            False,
        )
    )
    deltas.append(MetricDelta("dropped", "dropped", "count", a.dropped, b.dropped, False))
    return tuple(deltas)


def compare_reports(
    a: BenchReport, b: BenchReport, *, a_label: str = "A", b_label: str = "B"
) -> Comparison:
    """Pair the targets of two runs and compute every metric's change from A to B."""
    a_names = [t.name for t in a.targets]
    b_names = [t.name for t in b.targets]
    common = [n for n in a_names if n in b_names]
    if not common and len(a_names) == 1 and len(b_names) == 1:
        pairs_names = [(a_names[0], b_names[0])]
    else:
        pairs_names = [(n, n) for n in common]
    paired_a = {x for x, _ in pairs_names}
    paired_b = {y for _, y in pairs_names}
    pairs = tuple(
        TargetPair(x, y, _summary_deltas(a.target(x).summary, b.target(y).summary))
        for x, y in pairs_names
    )
    return Comparison(
        a_label=a_label,
        b_label=b_label,
        pairs=pairs,
        only_in_a=tuple(n for n in a_names if n not in paired_a),
        only_in_b=tuple(n for n in b_names if n not in paired_b),
    )
