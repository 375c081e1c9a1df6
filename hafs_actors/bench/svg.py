"""Hand-written SVG charts for the HTML reports: CDFs, histograms and a timeline scatter.

No plotting dependency: each chart is a few dozen elements with native ``<title>`` tooltips,
so the report stays one self-contained file that opens anywhere. Inputs are seconds; axes
show milliseconds (or microseconds/seconds when that reads better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import attrs

from .metrics import percentile

__all__ = [
    "PALETTE",
    "Series",
    "XYSeries",
    "cdf_chart",
    "format_seconds",
    "format_tick",
    "histogram_chart",
    "nice_ticks",
    "time_unit",
    "timeline_chart",
    "xy_chart",
]

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
)

_CDF_POINTS = 400  # quantiles drawn per CDF curve, whatever the sample count
_MAX_DOTS = 2500  # timeline points per series
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 58, 16, 14, 40


@attrs.frozen
class Series:
    """One target's values on a chart; ``values`` must be sorted for CDFs and histograms."""

    label: str
    color: str
    values: Sequence[float]


def format_seconds(seconds: float) -> str:
    """A latency for humans: ``850 µs``, ``12.3 ms``, ``1.25 s``."""
    if seconds != seconds:  # NaN
        return "\u2013"
    a = abs(seconds)
    if a == 0:
        return "0 ms"
    if a < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if a < 1.0:
        ms = seconds * 1e3
        return f"{ms:.1f} ms" if a < 0.1 else f"{ms:.0f} ms"
    return f"{seconds:.2f} s" if a < 10 else f"{seconds:.1f} s"


def format_tick(seconds: float) -> str:
    """An axis tick: round values without trailing zeros (``250 ms``, ``1.5 s``)."""
    a = abs(seconds)
    if a == 0:
        return "0"
    if a < 1e-3:
        return f"{seconds * 1e6:.4g} µs"
    if a < 1.0:
        return f"{seconds * 1e3:.4g} ms"
    return f"{seconds:.4g} s"


def time_unit(largest: float) -> tuple[str, float]:
    """The unit an axis reaching ``largest`` seconds reads best in, and its scale."""
    if largest < 1e-3:
        return "µs", 1e6
    if largest < 1.0:
        return "ms", 1e3
    return "s", 1.0


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            step = factor * magnitude
            break
    start = math.ceil(low / step - 1e-9) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _f(x: float) -> str:
    return f"{x:.1f}"


class _Frame:
    """The plot area of one chart and its linear scales."""

    def __init__(
        self, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float]
    ) -> None:
        self.width, self.height = width, height
        self.x0, self.x1 = _PAD_LEFT, width - _PAD_RIGHT
        self.y0, self.y1 = height - _PAD_BOTTOM, _PAD_TOP
        self.lo_x, self.hi_x = x_range
        self.lo_y, self.hi_y = y_range
        if self.hi_x <= self.lo_x:
            self.hi_x = self.lo_x + 1e-3
        if self.hi_y <= self.lo_y:
            self.hi_y = self.lo_y + 1.0

    def x(self, value: float) -> float:
        value = min(max(value, self.lo_x), self.hi_x)
        return self.x0 + (value - self.lo_x) / (self.hi_x - self.lo_x) * (self.x1 - self.x0)

    def y(self, value: float) -> float:
        value = min(max(value, self.lo_y), self.hi_y)
        return self.y0 - (value - self.lo_y) / (self.hi_y - self.lo_y) * (self.y0 - self.y1)

    def axes(
        self,
        x_label: str,
        y_label: str,
        *,
        y_format: str = "count",
        x_format: str = "seconds",
        x_ticks: int = 6,
        y_ticks: int = 4,
    ) -> list[str]:
        """Frame, grid, ticks and labels. A ``seconds`` axis is drawn in one unit (µs, ms or
        s, whichever reads best) named in its label; ``percent`` adds ``(%)``; a ``count``
        label names its own unit."""
        out = [
            f'<rect class="plot" x="{self.x0}" y="{self.y1}" width="{self.x1 - self.x0}" '
            f'height="{self.y0 - self.y1}"/>'
        ]
        y_unit, y_scale = time_unit(max(abs(self.lo_y), abs(self.hi_y)))
        x_unit, x_scale = time_unit(max(abs(self.lo_x), abs(self.hi_x)))
        if y_format == "seconds":
            y_label = f"{y_label} ({y_unit})"
        elif y_format == "percent":
            y_label = f"{y_label} (%)"
        if x_format == "seconds":
            x_label = (
                x_label.format(unit=x_unit) if "{unit}" in x_label else f"{x_label} ({x_unit})"
            )
        for t in nice_ticks(self.lo_y, self.hi_y, y_ticks):
            y = self.y(t)
            text = f"{t * 100:.0f}" if y_format == "percent" else f"{t:g}"
            if y_format == "seconds":
                text = f"{t * y_scale:.4g}"
            out.append(
                f'<line class="grid" x1="{self.x0}" x2="{self.x1}" y1="{_f(y)}" y2="{_f(y)}"/>'
            )
            out.append(
                f'<text class="tick" x="{self.x0 - 6}" y="{_f(y + 3.5)}" text-anchor="end">'
                f"{escape(text)}</text>"
            )
        for t in nice_ticks(self.lo_x, self.hi_x, x_ticks):
            x = self.x(t)
            out.append(
                f'<line class="grid" x1="{_f(x)}" x2="{_f(x)}" y1="{self.y1}" y2="{self.y0}"/>'
            )
            text = f"{t * x_scale:.4g}" if x_format == "seconds" else f"{t:g}"
            out.append(
                f'<text class="tick" x="{_f(x)}" y="{self.y0 + 15}" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
        out.append(
            f'<text class="axis-label" x="{(self.x0 + self.x1) / 2:.0f}" y="{self.height - 6}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
        cy = (self.y0 + self.y1) / 2
        out.append(
            f'<text class="axis-label" x="13" y="{cy:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 13 {cy:.0f})">{escape(y_label)}</text>'
        )
        return out


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


def _empty(width: int, height: int, message: str) -> str:
    return _svg(
        width,
        height,
        [
            f'<rect class="plot" x="0" y="0" width="{width}" height="{height}"/>',
            f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" '
            f'text-anchor="middle">{escape(message)}</text>',
        ],
        message,
    )


def axis_limit(series: Sequence[Series]) -> tuple[float, float, bool]:
    """The x range shared by all series. It starts at 0, unless every value sits far from 0
    (then at a round value below the smallest, so a narrow distribution keeps its shape), and
    ends at the largest value, or at p99.5 (with a note) when a far tail would squash
    everything else into one corner."""
    filled = [s.values for s in series if s.values]
    if not filled:
        return 0.0, 1.0, False
    top = max(v[-1] for v in filled)
    bottom = min(v[0] for v in filled)
    p995 = max(percentile(v, 99.5) for v in filled)
    clipped = top > 3 * p995 and p995 > 0
    high = max(p995 * 1.1 if clipped else top * 1.04, 1e-6)
    low = 0.0
    if bottom > 0.5 * high:
        ticks = nice_ticks(0.0, high - bottom, 4)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else high - bottom
        low = math.floor(bottom / step) * step if step > 0 else 0.0
        if low >= bottom:  # keep the smallest value off the axis line
            low = max(low - step, 0.0)
    return low, high, clipped


def cdf_chart(
    series: Sequence[Series],
    *,
    title: str,
    width: int = 640,
    height: int = 300,
    unit: str = "requests",
) -> str:
    """Empirical CDFs of several targets on one axis (each drawn from 400 quantiles)."""
    if not any(s.values for s in series):
        return _empty(width, height, f"no {title} data")
    lo, hi, clipped = axis_limit(series)
    frame = _Frame(width, height, (lo, hi), (0.0, 1.0))
    x_label = f"{title} ({{unit}}; axis clipped at p99.5)" if clipped else title
    body = frame.axes(x_label, f"fraction of {unit}", y_format="percent", y_ticks=4, x_ticks=8)
    for s in series:
        if not s.values:
            continue
        points = []
        for k in range(_CDF_POINTS + 1):
            p = 100.0 * k / _CDF_POINTS
            points.append(f"{_f(frame.x(percentile(s.values, p)))},{_f(frame.y(p / 100))}")
        body.append(
            f'<polyline class="cdf" stroke="{s.color}" points="{" ".join(points)}">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
        for p in (50.0, 99.0):
            v = percentile(s.values, p)
            body.append(
                f'<circle cx="{_f(frame.x(v))}" cy="{_f(frame.y(p / 100))}" r="3.5" '
                f'fill="{s.color}" class="marker"><title>{escape(s.label)} p{p:g}: '
                f"{escape(format_seconds(v))}</title></circle>"
            )
    return _svg(width, height, body, f"{title} CDF")


def histogram_chart(
    values: Sequence[float],
    *,
    color: str,
    x_range: tuple[float, float],
    title: str,
    bins: int = 36,
    width: int = 320,
    height: int = 190,
) -> str:
    """A histogram of sorted ``values`` over a shared ``x_range``, with p50/p90/p99 lines.
    Values past the range land in the last bin (its tooltip says so)."""
    if not values:
        return _empty(width, height, "no data")
    lo, hi = x_range
    step = (hi - lo) / bins if hi > lo else 1.0
    counts = [0] * bins
    for v in values:
        counts[min(max(int((v - lo) / step), 0), bins - 1)] += 1
    overflow = sum(1 for v in values if v > hi)
    frame = _Frame(width, height, (lo, hi), (0.0, max(counts) * 1.08))
    body = frame.axes(title, "chunks" if "ITL" in title else "requests", x_ticks=4)
    for i, c in enumerate(counts):
        if c == 0:
            continue
        x, y = frame.x(lo + i * step), frame.y(c)
        w = max(frame.x(lo + (i + 1) * step) - x - 0.6, 0.8)
        tip = f"{format_seconds(lo + i * step)} to {format_seconds(lo + (i + 1) * step)}: {c}"
        if i == bins - 1 and overflow:
            tip += f" (includes {overflow} beyond the axis)"
        body.append(
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(frame.y0 - y)}" '
            f'fill="{color}" class="bar"><title>{escape(tip)}</title></rect>'
        )
    for row, (label, p) in enumerate((("p50", 50.0), ("p90", 90.0), ("p99", 99.0))):
        v = percentile(values, p)
        if v > hi:
            continue
        x = frame.x(v)
        body.append(
            f'<line class="pline" x1="{_f(x)}" x2="{_f(x)}" y1="{frame.y1}" y2="{frame.y0}">'
            f"<title>{label}: {escape(format_seconds(v))}</title></line>"
            f'<text class="plabel" x="{_f(x + 3)}" y="{frame.y1 + 10 + 11 * row}">{label}</text>'
        )
    return _svg(width, height, body, f"{title} histogram")


def timeline_chart(
    series: Sequence[tuple[Series, Sequence[float]]],
    *,
    warmup_end: float | None,
    failures: Sequence[tuple[str, float, float, str]] = (),
    width: int = 980,
    height: int = 280,
) -> str:
    """End-to-end latency (y) of each request against its start time (x); warm-up shaded;
    failed requests as red crosses at the time they took to fail.

    ``series`` pairs each target's latencies with the matching start offsets (not sorted);
    ``failures`` are ``(target, start, e2e, error type)``.
    """
    starts = [x for _, xs in series for x in xs] + [f[1] for f in failures]
    if not starts:
        return _empty(width, height, "no requests")
    ys_all = sorted([v for s, _ in series for v in s.values] + [f[2] for f in failures])
    y_hi = percentile(ys_all, 99.5) * 1.15 if ys_all else 1.0
    frame = _Frame(width, height, (0.0, max(starts) * 1.02 or 1.0), (0.0, max(y_hi, 1e-6)))
    body = frame.axes(
        "request start, since the target's run began",
        "end-to-end latency",
        y_format="seconds",
        x_ticks=8,
    )
    if warmup_end:
        x = frame.x(warmup_end)
        body.append(
            f'<rect class="warmup" x="{frame.x0}" y="{frame.y1}" width="{_f(x - frame.x0)}" '
            f'height="{frame.y0 - frame.y1}"><title>warm-up (excluded from metrics)</title></rect>'
        )
    for s, xs in series:
        stride = max(1, math.ceil(len(xs) / _MAX_DOTS))
        dots = [
            f'<circle cx="{_f(frame.x(x))}" cy="{_f(frame.y(y))}" r="2.2"/>'
            for x, y in list(zip(xs, s.values, strict=True))[::stride]
        ]
        body.append(
            f'<g fill="{s.color}" class="dots"><title>{escape(s.label)}</title>'
            + "".join(dots)
            + "</g>"
        )
    stride = max(1, math.ceil(len(failures) / _MAX_DOTS))
    for name, x, y, kind in failures[::stride]:
        cx, cy = frame.x(x), frame.y(y)
        body.append(
            f'<path class="fail" d="M{_f(cx - 3.5)},{_f(cy - 3.5)}l7,7m0,-7l-7,7">'
            f"<title>{escape(name)}: {escape(kind)} after {format_seconds(y)}</title></path>"
        )
    return _svg(width, height, body, "timeline")


@attrs.frozen
class XYSeries:
    """One target's points on an x/y chart (``xs`` and ``ys`` pair up)."""

    label: str
    color: str
    xs: Sequence[float]
    ys: Sequence[float]


def xy_chart(
    series: Sequence[XYSeries],
    *,
    x_label: str,
    y_label: str,
    x_format: str = "count",
    y_format: str = "seconds",
    lines: bool = False,
    empty: str = "no data",
    width: int = 1000,
    height: int = 260,
) -> str:
    """Dots (or lines through the points, in order) of several series on shared axes.
    Axis labels must carry their unit unless the format adds it (``seconds``)."""
    xs = [x for s in series for x in s.xs]
    ys = sorted(y for s in series for y in s.ys)
    if not xs:
        return _empty(width, height, empty)
    y_hi = (percentile(ys, 99.5) * 1.15 if lines is False else ys[-1] * 1.08) or 1.0
    frame = _Frame(width, height, (min(0.0, min(xs)), max(xs) * 1.02 or 1.0), (0.0, y_hi))
    body = frame.axes(x_label, y_label, x_format=x_format, y_format=y_format, x_ticks=8)
    for s in series:
        points = list(zip(s.xs, s.ys, strict=True))
        if lines:
            path = " ".join(f"{_f(frame.x(x))},{_f(frame.y(y))}" for x, y in points)
            body.append(
                f'<polyline class="cdf" stroke="{s.color}" points="{path}">'
                f"<title>{escape(s.label)}</title></polyline>"
            )
            continue
        stride = max(1, math.ceil(len(points) / _MAX_DOTS))
        dots = "".join(
            f'<circle cx="{_f(frame.x(x))}" cy="{_f(frame.y(y))}" r="2.2"/>'
            for x, y in points[::stride]
        )
        body.append(f'<g fill="{s.color}" class="dots"><title>{escape(s.label)}</title>{dots}</g>')
    return _svg(width, height, body, f"{y_label} against {x_label}")
