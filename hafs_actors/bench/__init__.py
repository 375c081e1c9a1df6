"""Provider-latency benchmark harness: load models, metrics, targets, reports.

The Python API mirrors ``hafs bench``::

    spec = BenchSpec(targets=[AdapterTarget("openai", "gpt-4o-mini", settings)],
                     load=OpenLoop(rate=20), duration=30, warmup_seconds=5,
                     slos=[parse_slo("ttft=500ms")])
    report = await run_benchmark(spec)
    save_report(report, "bench.json"); Path("bench.html").write_text(render_html(report))
"""

from __future__ import annotations

from .compare import Comparison, MetricDelta, compare_reports
from .emulator_process import EmulatorEndpoint, EmulatorProcess, emulator_process
from .errors import BenchError, BenchSpecError, ReportFormatError
from .html import render_comparison_html, render_html
from .load import Arrival, ClosedLoop, LoadModel, OpenLoop
from .metrics import (
    Distribution,
    Goodput,
    Slo,
    TargetSummary,
    parse_duration,
    parse_slo,
    percentile,
    summarize,
)
from .report import SCHEMA, BenchReport, TargetResult, load_report, save_report
from .runner import BenchObserver, run_benchmark
from .samples import RequestSample, RequestTrace
from .spec import BenchSpec
from .targets import AdapterTarget, BenchTarget, OrchestratorTarget, StreamingOrchestrator

__all__ = [
    "SCHEMA",
    "AdapterTarget",
    "Arrival",
    "BenchError",
    "BenchObserver",
    "BenchReport",
    "BenchSpec",
    "BenchSpecError",
    "BenchTarget",
    "ClosedLoop",
    "Comparison",
    "Distribution",
    "EmulatorEndpoint",
    "EmulatorProcess",
    "Goodput",
    "LoadModel",
    "MetricDelta",
    "OpenLoop",
    "OrchestratorTarget",
    "ReportFormatError",
    "RequestSample",
    "RequestTrace",
    "Slo",
    "StreamingOrchestrator",
    "TargetResult",
    "TargetSummary",
    "compare_reports",
    "emulator_process",
    "load_report",
    "parse_duration",
    "parse_slo",
    "percentile",
    "render_comparison_html",
    "render_html",
    "run_benchmark",
    "save_report",
    "summarize",
]
