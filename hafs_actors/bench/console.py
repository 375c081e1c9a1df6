"""Terminal presentation: rich tables for a report or a comparison, and a live progress bar.

The progress display never refreshes itself from a thread (trio only): the CLI calls
:meth:`ProgressDisplay.tick` from a trio task a few times a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .compare import Comparison, MetricDelta
from .metrics import LATENCY_METRICS, Distribution
from .report import BenchReport, TargetResult
from .runner import BenchObserver
from .samples import RequestSample
from .spec import BenchSpec
from .svg import format_seconds

__all__ = [
    "ProgressDisplay",
    "comparison_tables",
    "latency_table",
    "make_console",
    "summary_table",
]

_PIPE_WIDTH = 140  # tables written to a file or a pipe need not fit an 80-column terminal


def make_console(*, stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or a wide one when output is redirected."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=_PIPE_WIDTH)
    return console


_DASH = "\u2013"
_SHORT = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E"}
_STATS = ("mean", "p50", "p90", "p95", "p99", "max")


def _d(d: Distribution | None, stat: str) -> str:
    return _DASH if d is None else format_seconds(getattr(d, stat))


def summary_table(report: BenchReport) -> Table:
    """One row per target: outcome counts, throughput, headline latencies, goodput."""
    has_goodput = any(t.summary.goodput is not None for t in report.targets)
    table = Table(title="hafs bench: summary", title_justify="left", header_style="bold")
    table.add_column("target", style="bold", no_wrap=True)
    for name in ("ok", "failed", "dropped", "req/s", "tok/s", "TTFT p50", "TTFT p99"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("E2E p50", "E2E p99"):
        table.add_column(name, justify="right", no_wrap=True)
    if has_goodput:
        table.add_column("goodput", justify="right", no_wrap=True)
    for t in report.targets:
        s = t.summary
        row = [
            t.name,
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
        table.add_row(*row)
    return table


def latency_table(report: BenchReport) -> Table:
    """Every latency metric's mean, p50, p90, p95, p99 and max per target."""
    table = Table(title="latency", title_justify="left", header_style="bold")
    table.add_column("metric", no_wrap=True)
    table.add_column("target", style="bold", no_wrap=True)
    for stat in _STATS:
        table.add_column(stat, justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for metric in LATENCY_METRICS:
        for i, t in enumerate(report.targets):
            d = t.summary.metric(metric)
            table.add_row(
                _SHORT[metric] if i == 0 else "",
                t.name,
                *(_d(d, stat) for stat in _STATS),
                str(0 if d is None else d.count),
                end_section=i == len(report.targets) - 1,
            )
    return table


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


def comparison_tables(comparison: Comparison) -> list[Table]:
    """One table per paired target: each metric in A and B, and the change (green: better)."""
    tables = []
    for pair in comparison.pairs:
        table = Table(title=f"compare: {pair.title}", title_justify="left", header_style="bold")
        table.add_column("metric", no_wrap=True)
        table.add_column(comparison.a_label, justify="right", no_wrap=True)
        table.add_column(comparison.b_label, justify="right", no_wrap=True)
        table.add_column("change", justify="right", no_wrap=True)
        groups = [
            prefix if (prefix := d.metric.split(".")[0]) in LATENCY_METRICS else ""
            for d in pair.deltas
        ]
        for i, d in enumerate(pair.deltas):
            last_of_group = i + 1 < len(groups) and groups[i + 1] != groups[i]
            table.add_row(
                d.label, _value(d, d.a), _value(d, d.b), _change(d), end_section=last_of_group
            )
        tables.append(table)
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
