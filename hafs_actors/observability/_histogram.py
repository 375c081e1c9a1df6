"""Fixed-bucket latency histograms for ``status()``: always on, so recording must cost next to
nothing (a bisect and two additions) and a snapshot must be a few small tuples.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import attrs

__all__ = ["LATENCY_BUCKETS", "HistogramSnapshot", "LatencyHistogram", "ProviderLatency"]

#: Upper bounds in seconds (inclusive, Prometheus ``le``); a last, implicit bucket is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)


@attrs.frozen
class HistogramSnapshot:
    """A copy of one histogram: ``counts[i]`` samples fell in ``(bounds[i-1], bounds[i]]``; the
    last count is the +Inf bucket."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """An estimate of quantile ``q`` (0..1), interpolated linearly inside its bucket.

        None when empty; a quantile in the +Inf bucket reports the largest finite bound (as
        Prometheus' ``histogram_quantile`` does).
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                if i == len(self.bounds):
                    return self.bounds[-1]
                low = self.bounds[i - 1] if i else 0.0
                return low + (self.bounds[i] - low) * max(rank - seen, 0.0) / n
            seen += n
        return self.bounds[-1]


class LatencyHistogram:
    """Counts samples into fixed buckets; not thread-safe (one trio thread records)."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        if not bounds or list(bounds) != sorted(set(bounds)) or not math.isfinite(bounds[-1]):
            raise ValueError("bounds must be finite, strictly increasing and not empty")
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def record(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        counts = tuple(self._counts)
        return HistogramSnapshot(self._bounds, counts, sum(counts), self._sum)


@attrs.frozen
class ProviderLatency:
    """One provider's latency: every successful attempt end to end, and streams' first token."""

    end_to_end: HistogramSnapshot
    ttft: HistogramSnapshot


class ProviderLatencyHistograms:
    """The live pair behind :class:`ProviderLatency`, owned by a provider cell."""

    __slots__ = ("end_to_end", "ttft")

    def __init__(self) -> None:
        self.end_to_end = LatencyHistogram()
        self.ttft = LatencyHistogram()

    def record(self, elapsed: float, ttft: float | None) -> None:
        """A successful attempt: ``elapsed`` end to end, ``ttft`` for a stream."""
        self.end_to_end.record(elapsed)
        if ttft is not None:
            self.ttft.record(ttft)

    def snapshot(self) -> ProviderLatency:
        return ProviderLatency(self.end_to_end.snapshot(), self.ttft.snapshot())
