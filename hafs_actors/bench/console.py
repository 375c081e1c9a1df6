"""Terminal presentation: rich tables for a report or a comparison, and a live progress bar.

The progress display never refreshes itself from a thread (trio only): the CLI calls
:meth:`ProgressDisplay.tick` from a trio task a few times a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import attrs
import trio
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .compare import Comparison, MetricDelta
from .metrics import DEFAULT_PERCENTILES, LATENCY_METRICS, Distribution, percentile_name
from .report import BenchReport, TargetResult
from .runner import BenchObserver
from .samples import RequestSample
from .spec import BenchSpec
from .svg import format_seconds

__all__ = [
    "Col",
    "ProgressDisplay",
    "comparison_tables",
    "failure_lines",
    "fit_tables",
    "latency_tables",
    "make_console",
    "summary_tables",
]


def make_console(*, stderr: bool = False) -> Console:
    """A console for tables: the terminal's width (``COLUMNS``, else 80 when redirected), so
    what a log file holds is what an 80-column terminal shows."""
    return Console(stderr=stderr, highlight=False)


@attrs.frozen
class Col:
    """A column of :func:`fit_tables`: its header and alignment. Key columns may wrap."""

    header: str
    justify: Literal["left", "right"] = "right"
    style: str = ""


_KEY_MAX = 28  # a key column (target names) wraps beyond this many cells


def _cells(text: str) -> int:
    return max((Text.from_markup(line).cell_len for line in text.split("\n")), default=0)


def fit_tables(
    title: str,
    keys: Sequence[Col],
    columns: Sequence[Col],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    sections: Sequence[bool] = (),
) -> list[Table]:
    """Tables that fit ``width`` cells without cutting a number: value columns are never
    shrunk; when they do not all fit, they are split over several tables, each repeating the
    ``keys`` columns (which alone may wrap). ``rows`` hold ``len(keys) + len(columns)`` cells
    of rich markup (escape data first); ``sections[i]`` draws a rule after row ``i``.
    """
    n_keys = len(keys)

    def need(i: int, cap: int | None = None) -> int:
        col = (*keys, *columns)[i]
        wanted = max([_cells(col.header)] + [_cells(r[i]) for r in rows])
        return min(wanted, cap) if cap else wanted

    key_widths = [need(i, _KEY_MAX) for i in range(n_keys)]
    value_widths = [need(n_keys + j) for j in range(len(columns))]

    def table(group: Sequence[int], title_text: str) -> Table:
        t = Table(
            title=title_text,
            title_justify="left",
            header_style="bold",
            show_edge=False,
            padding=(0, 0, 0, 1),
        )
        for col, w in zip(keys, key_widths, strict=True):
            t.add_column(
                col.header, justify=col.justify, style=col.style, max_width=w, overflow="fold"
            )
        for j in group:
            col = columns[j]
            t.add_column(
                col.header,
                justify=col.justify,
                style=col.style,
                no_wrap=True,
                min_width=value_widths[j],
            )
        for i, row in enumerate(rows):
            t.add_row(
                *row[:n_keys],
                *(row[n_keys + j] for j in group),
                end_section=bool(sections and sections[i]),
            )
        return t

    def width_of(group: Sequence[int]) -> int:
        fixed = sum(key_widths) + sum(value_widths[j] for j in group)
        return fixed + 2 * (n_keys + len(group)) - 1  # one space of padding, a rule between

    groups: list[list[int]] = [[]]
    for j in range(len(columns)):
        if groups[-1] and width_of([*groups[-1], j]) > width:
            groups.append([])
        groups[-1].append(j)
    return [
        table(group, title + (f" ({g + 1}/{len(groups)})" if len(groups) > 1 else ""))
        for g, group in enumerate(groups)
    ]


_DASH = "\u2013"
_SHORT = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E"}
_TARGET = Col("target", "left", "bold")


def _d(d: Distribution | None, stat: str) -> str:
    return _DASH if d is None else format_seconds(d.stat(stat))


def _stats(report: BenchReport) -> list[str]:
    """mean, the run's percentiles, max."""
    chosen = report.config.get("percentiles") or DEFAULT_PERCENTILES
    return ["mean", *(percentile_name(p) for p in chosen), "max"]


def summary_tables(report: BenchReport, width: int) -> list[Table]:
    """One row per target: outcome counts, vLLM's throughput figures, headline latencies and
    goodput; split into several tables when ``width`` cells cannot hold every column."""
    has_goodput = any(t.summary.goodput is not None for t in report.targets)
    headers = ["ok", "failed", "dropped", "req/s", "out tok/s"]
    headers += ["TTFT p50", "TTFT p99", "E2E p50", "E2E p99"]
    if has_goodput:
        headers += ["goodput", "good req/s"]
    rows = []
    for t in report.targets:
        s = t.summary
        row = [
            escape(t.name),
            str(s.ok),
            f"[red]{s.failed}[/]" if s.failed else "0",
            f"[red]{s.dropped}[/]" if s.dropped else "0",
            f"{s.request_rate:.2f}",
            f"{s.output_token_rate:.0f}",
            _d(s.ttft, "p50"),
            _d(s.ttft, "p99"),
            _d(s.e2e, "p50"),
            _d(s.e2e, "p99"),
        ]
        if has_goodput:
            g = s.goodput
            row.append(_DASH if g is None else f"{g.fraction * 100:.1f}%")
            row.append(_DASH if g is None else f"{g.rate:.2f}")
        rows.append(row)
    label = report.config.get("label")
    title = "hafs bench: summary" + (f" ({escape(str(label))})" if label else "")
    return fit_tables(title, [_TARGET], [Col(h) for h in headers], rows, width)


def failure_lines(report: BenchReport) -> list[str]:
    """Why requests failed: per target and error type, the count and the first message (a run
    whose every request failed otherwise shows only dashes)."""
    lines = []
    for t in report.targets:
        first: dict[str, str] = {}
        for s in t.samples:
            if s.error_type is not None and not s.warmup:
                first.setdefault(s.error_type, s.error or "")
        for kind, count in t.summary.errors.items():
            lines.append(f"{t.name}: {count} x {kind}: {first.get(kind, '')}".rstrip(": "))
        if t.summary.dropped:
            lines.append(f"{t.name}: {t.summary.dropped} dropped (the outstanding cap was reached)")
    return lines


def latency_tables(report: BenchReport, width: int) -> list[Table]:
    """Every latency metric's mean, percentiles and max per target, fitted to ``width``."""
    stats = _stats(report)
    rows, sections = [], []
    for metric in LATENCY_METRICS:
        for i, t in enumerate(report.targets):
            d = t.summary.metric(metric)
            rows.append(
                [
                    _SHORT[metric] if i == 0 else "",
                    escape(t.name),
                    *(_d(d, stat) for stat in stats),
                    str(0 if d is None else d.count),
                ]
            )
            sections.append(i == len(report.targets) - 1)
    return fit_tables(
        "latency",
        [Col("metric", "left"), _TARGET],
        [Col(stat) for stat in (*stats, "n")],
        rows,
        width,
        sections=sections,
    )


def _value(d: MetricDelta, value: float | None) -> str:
    if value is None:
        return _DASH
    if d.unit == "s":
        return format_seconds(value)
    if d.unit == "ratio":
        return f"{value * 100:.1f}%"
    if d.unit == "count":
        return f"{value:g}"
    return f"{value:.2f}"


def _change(d: MetricDelta) -> str:
    color = {True: "green", False: "red", None: ""}[d.verdict]
    text = d.change_text()
    return f"[{color}]{text}[/]" if color else text


def comparison_tables(comparison: Comparison, width: int) -> list[Table]:
    """One table per paired target: each metric in A and B, the change (green: better, red:
    worse, plain: within the noise) and its bootstrap confidence interval."""
    tables = []
    level = f"{comparison.confidence * 100:g}% CI"
    for pair in comparison.pairs:
        groups = [
            prefix if (prefix := d.metric.split(".")[0]) in LATENCY_METRICS else ""
            for d in pair.deltas
        ]
        rows = [
            [escape(d.label), _value(d, d.a), _value(d, d.b), _change(d), d.ci_text() or _DASH]
            for d in pair.deltas
        ]
        sections = [i + 1 < len(groups) and groups[i + 1] != g for i, g in enumerate(groups)]
        tables += fit_tables(
            f"compare: {escape(pair.title)}",
            [Col("metric", "left")],
            [
                Col(escape(comparison.a_label)),
                Col(escape(comparison.b_label)),
                Col("change"),
                Col(level),
            ],
            rows,
            width,
            sections=sections,
        )
    return tables


class ProgressDisplay(BenchObserver):
    """A rich progress bar per target, fed by the runner's observer hooks."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._totals: dict[str, float] = {}
        self._by_time: dict[str, tuple[float, float]] = {}  # name -> (start, planned seconds)
        self._counts: dict[str, list[int]] = {}  # name -> [done, failed, dropped]

    @contextmanager
    def shown(self) -> Iterator[ProgressDisplay]:
        with self.progress:
            yield self
            self.tick()

    def target_started(self, name: str, spec: BenchSpec) -> None:
        self._counts[name] = [0, 0, 0]
        if spec.requests is not None:
            total = float(spec.requests + spec.warmup_requests)
        else:
            assert spec.duration is not None
            total = spec.duration + spec.warmup_seconds
            self._by_time[name] = (trio.current_time(), total)
        self._totals[name] = total
        self._tasks[name] = self.progress.add_task(name, total=total, status="starting")

    def request_finished(self, name: str, sample: RequestSample) -> None:
        counts = self._counts[name]
        counts[0] += 1
        if not sample.ok:
            counts[1] += 1
        if name not in self._by_time:
            self.progress.advance(self._tasks[name])

    def requests_dropped(self, name: str, count: int) -> None:
        self._counts[name][2] += count

    def target_finished(self, name: str, result: TargetResult) -> None:
        self._by_time.pop(name, None)
        self.progress.update(self._tasks[name], completed=self._totals[name])
        self.tick()

    def tick(self) -> None:
        """Refresh the display (call from a trio task, a few times a second)."""
        now = trio.current_time()
        for name, (start, planned) in self._by_time.items():
            self.progress.update(self._tasks[name], completed=min(now - start, planned))
        for name, (done, failed, dropped) in self._counts.items():
            bits = [f"{done} done"]
            if failed:
                bits.append(f"[red]{failed} failed[/]")
            if dropped:
                bits.append(f"[red]{dropped} dropped[/]")
            self.progress.update(self._tasks[name], status=", ".join(bits))
        self.progress.refresh()
