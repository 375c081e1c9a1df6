"""``hafs bench``: measure TTFT, inter-token latency and end-to-end latency under load.

``hafs bench [run]`` drives one or more targets with a closed loop (``--concurrency``) or an
open loop (``--rate``), shows a progress bar and a summary table, and with ``--out DIR``
writes a JSON report (schema ``hafs-bench/1``, raw samples included) and a self-contained
HTML report. ``hafs bench compare A.json B.json`` prints the change of every metric.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio
from rich.console import Console
from rich.markup import escape

from .._groups import unwrap_single_exception
from ..bench import (
    AdapterTarget,
    BenchReport,
    BenchSpec,
    BenchSpecError,
    BenchTarget,
    ClosedLoop,
    OpenLoop,
    OrchestratorTarget,
    ReportFormatError,
    compare_reports,
    load_report,
    parse_duration,
    parse_slo,
    render_comparison_html,
    render_html,
    run_benchmark,
    save_report,
)
from ..bench.console import (
    ProgressDisplay,
    comparison_tables,
    failure_lines,
    latency_tables,
    make_console,
    summary_tables,
)
from ..bench.datasets import (
    Dataset,
    LengthDistribution,
    SyntheticDataset,
    load_jsonl_dataset,
    load_sharegpt_dataset,
    parse_length,
)
from ..bench.emulator_process import EmulatorProcess, emulator_process
from ..bench.load import Arrival, LoadModel
from ..bench.metrics import DEFAULT_PERCENTILES, Slo, parse_percentiles, vllm_metrics
from ..bench.report import report_to_dict
from ..config.model import HafsConfig
from ..testing.emulators.profiles import PROVIDERS as EMULATED_PROVIDERS
from . import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CliError,
    check_choice,
    did_you_mean,
    error_record,
)
from ._common import note_emulated

__all__ = ["register"]

_VIAS = ("orchestrator", "adapter")
# What `hafs bench` measures when no --target or --tier is given: one fast model per hosted
# provider, as served by the emulators.
DEFAULT_TARGETS = ("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash")
_DEFAULT_REQUESTS = 100
_DEFAULT_CONCURRENCY = 4
_MAX_OUTSTANDING = 1024
_MAX_QUEUED = 65536
_TICK = 0.1

_EPILOG = """examples:
  hafs bench                                  emulators, 3 providers, concurrency 4, 100 requests
  hafs bench --rate 20 --duration 30 --warmup 5s --out results/
  hafs bench --target openai:gpt-4o-mini --via orchestrator --via adapter --concurrency 16
  hafs bench --rate 10 --arrival gamma --burstiness 0.5 --ramp 10 --slo ttft=500ms --slo e2e=2s
  hafs bench compare results/a.json results/b.json --html diff.html

--warmup takes a request count (10) or a duration (5s, 500ms). --slo thresholds without a unit
are milliseconds. Without configured provider keys, or with --emulate, the emulators run in a
separate process (realistic latency) and are stopped at the end.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark provider latency (TTFT, ITL, E2E) under load",
        description="Measure time to first token, inter-token latency and end-to-end latency "
        "of LLM providers under load, side by side.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "action", nargs="?", choices=("run", "compare"), default="run", help="default: run"
    )
    parser.add_argument(
        "reports", nargs="*", metavar="REPORT", help="compare: two JSON reports, A then B"
    )
    what = parser.add_argument_group("targets")
    what.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="PROVIDER:MODEL",
        help="a provider and model to measure (repeatable, measured side by side)",
    )
    what.add_argument(
        "--tier", action="append", default=[], metavar="T", help="a routing tier (orchestrator)"
    )
    what.add_argument(
        "--via",
        action="append",
        choices=_VIAS,
        help="measure through the orchestrator (default) or directly through the adapter; "
        "give both to see the orchestrator's overhead",
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--concurrency", type=int, metavar="N", help=f"closed loop (default {_DEFAULT_CONCURRENCY})"
    )
    load.add_argument("--rate", type=float, metavar="R", help="open loop: requests per second")
    load.add_argument(
        "--arrival", choices=("poisson", "gamma", "constant"), help="open loop arrival process"
    )
    load.add_argument(
        "--burstiness",
        type=float,
        metavar="B",
        help="gamma shape: <1 burstier, >1 more regular, 1 = Poisson",
    )
    load.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="open loop: send at most N at once; later arrivals queue for a slot (as vLLM)",
    )
    load.add_argument(
        "--max-outstanding",
        type=int,
        metavar="N",
        help="open loop memory guard on requests queued or in flight; arrivals beyond it are "
        f"dropped (default {_MAX_OUTSTANDING}, or {_MAX_QUEUED} with --max-concurrency)",
    )
    load.add_argument("--ramp", metavar="S", help="ramp the rate or concurrency up over S")
    amount = parser.add_argument_group("amount")
    amount.add_argument(
        "--requests",
        type=int,
        metavar="N",
        help=f"measured requests per target (default {_DEFAULT_REQUESTS})",
    )
    amount.add_argument("--duration", metavar="S", help="measured seconds per target")
    amount.add_argument("--warmup", metavar="S|N", help="warm-up, excluded from metrics")
    amount.add_argument(
        "--drain-timeout",
        default="60s",
        metavar="S",
        help="after the last request is sent, cancel what is still running after S",
    )
    shape = parser.add_argument_group("requests")
    shape.add_argument(
        "--dataset",
        choices=("synthetic", "jsonl", "sharegpt"),
        default="synthetic",
        help="where prompts come from (jsonl and sharegpt need --dataset-path)",
    )
    shape.add_argument("--dataset-path", metavar="FILE", help="the JSONL or ShareGPT file")
    shape.add_argument(
        "--prompt-tokens",
        default="64",
        metavar="DIST",
        help="synthetic input length: N, uniform:MIN:MAX or normal:MEAN:STD (default 64)",
    )
    shape.add_argument(
        "--max-tokens",
        default="128",
        metavar="DIST",
        help="output budget per request, same forms (default 128; files: when a line has none)",
    )
    shape.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="METRIC=T",
        help="goodput objective on ttft, tpot or e2e, e.g. ttft=500ms (repeatable)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out", metavar="DIR", help="write the JSON, HTML and CSV (summary, samples) into DIR"
    )
    out.add_argument("--label", default="", help="name of this run (reports, compare, files)")
    out.add_argument(
        "--percentiles",
        default=",".join(f"{p:g}" for p in DEFAULT_PERCENTILES),
        metavar="P,P",
        help="latency percentiles to report, e.g. 50,90,99,99.9",
    )
    out.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--html", metavar="PATH", help="compare: also write an HTML comparison")
    misc = parser.add_argument_group("run")
    misc.add_argument(
        "--emulate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run against the emulators (default: when no real provider is configured)",
    )
    misc.add_argument(
        "--emulator-latency",
        choices=("realistic", "zero"),
        default="realistic",
        help="the emulators' latency model (default realistic)",
    )
    misc.add_argument(
        "--emulator-server",
        choices=("auto", "trio", "granian"),
        default="auto",
        help="the emulators' server: granian (the bench extra; measured fastest) or trio; "
        "auto (default) picks granian when installed",
    )
    misc.add_argument("--seed", type=int, default=0, help="seeds arrivals and prompts")
    misc.add_argument(
        "--parallel-targets",
        action="store_true",
        help="load all targets at once (default: one after another, so they do not compete "
        "for this process's CPU)",
    )
    parser.set_defaults(func=main)


# --- argument parsing -----------------------------------------------------------------------


def _seconds(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None
    if value < 0:
        raise CliError(f"{option}: must not be negative")
    return value


def _warmup(text: str | None) -> tuple[int, float]:
    if text is None:
        return 0, 0.0
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped), 0.0
    seconds = _seconds("--warmup", stripped)
    assert seconds is not None
    if not any(c.isalpha() for c in stripped):
        raise CliError(f"--warmup {text!r}: give a request count (10) or a duration (5s)")
    return 0, seconds


def _load(args: argparse.Namespace) -> LoadModel:
    ramp = _seconds("--ramp", args.ramp) or 0.0
    if args.concurrency is not None and args.rate is not None:
        raise CliError("give --concurrency (closed loop) or --rate (open loop), not both")
    try:
        if args.rate is not None:
            arrival: Arrival = args.arrival or (
                "gamma" if args.burstiness is not None else "poisson"
            )
            if args.burstiness is not None and arrival != "gamma":
                raise CliError("--burstiness applies to --arrival gamma only")
            return OpenLoop(
                rate=args.rate,
                arrival=arrival,
                burstiness=1.0 if args.burstiness is None else args.burstiness,
                ramp=ramp,
                max_outstanding=args.max_outstanding
                or (_MAX_QUEUED if args.max_concurrency else _MAX_OUTSTANDING),
                max_concurrency=args.max_concurrency,
            )
        if args.arrival is not None or args.burstiness is not None:
            raise CliError("--arrival and --burstiness need an open loop: give --rate")
        if args.max_concurrency is not None or args.max_outstanding is not None:
            raise CliError(
                "--max-concurrency and --max-outstanding shape an open loop: give --rate "
                "(a closed loop's --concurrency is already its cap)"
            )
        concurrency = _DEFAULT_CONCURRENCY if args.concurrency is None else args.concurrency
        return ClosedLoop(concurrency=concurrency, ramp=ramp)
    except BenchSpecError as exc:
        option = "--rate" if args.rate is not None else "--concurrency"
        raise CliError(f"{option}: {exc}") from None


def _length(option: str, text: str) -> LengthDistribution:
    try:
        return parse_length(text)
    except BenchSpecError as exc:
        raise CliError(f"{option}: {exc}") from None


def _dataset(args: argparse.Namespace) -> Dataset:
    """The requests: synthetic lengths, or a file (read now, so a bad one fails fast)."""
    output = _length("--max-tokens", args.max_tokens)
    if args.dataset == "synthetic":
        if args.dataset_path:
            raise CliError("--dataset-path needs --dataset jsonl or sharegpt")
        return SyntheticDataset(_length("--prompt-tokens", args.prompt_tokens), output)
    if not args.dataset_path:
        raise CliError(f"--dataset {args.dataset} needs --dataset-path FILE")
    if output.kind != "fixed":
        raise CliError("--max-tokens: a file dataset takes one number (the default budget)")
    load = load_jsonl_dataset if args.dataset == "jsonl" else load_sharegpt_dataset
    try:
        return load(args.dataset_path, max_tokens=int(output.mean))
    except BenchSpecError as exc:
        raise CliError(f"--dataset-path: {exc}") from None


def _slos(texts: Sequence[str]) -> list[Slo]:
    slos = []
    for text in texts:
        try:
            slos.append(parse_slo(text))
        except ValueError as exc:
            raise CliError(f"--slo: {exc}") from None
    return slos


def _target_pairs(texts: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in texts:
        provider, sep, model = text.partition(":")
        if not sep or not provider.strip() or not model.strip():
            raise CliError(f"--target {text!r}: expected PROVIDER:MODEL, e.g. openai:gpt-4o-mini")
        pairs.append((provider.strip(), model.strip()))
    return pairs


# --- configuration: emulators or the user's providers --------------------------------------


def _user_config() -> HafsConfig:
    from ..config import load_config

    return load_config()


def _emulator_config(emulator: EmulatorProcess) -> HafsConfig:
    keys = {ep.api_key for ep in emulator.endpoints.values() if ep.api_key}
    urls = {name: ep.base_url for name, ep in emulator.endpoints.items()}
    if len(keys) > 1:
        raise CliError("the emulators use different API keys; cannot configure them together")
    return HafsConfig.for_emulators(urls, **({"api_key": keys.pop()} if keys else {}))


def _build_targets(
    args: argparse.Namespace, vias: Sequence[str], config: HafsConfig, emulated: bool
) -> list[BenchTarget]:
    pairs = _target_pairs(args.target)
    tiers: list[str] = list(args.tier)
    if not pairs and not tiers:
        pairs = _target_pairs(DEFAULT_TARGETS)
    available = config.configured_providers()
    for provider, _ in pairs:
        if provider not in available:
            where = "an emulated" if emulated else "a configured"
            raise CliError(
                f"--target {provider}: not {where} provider"
                f"{did_you_mean(provider, available)} (available: {', '.join(available) or 'none'})"
            )
    for tier in tiers:
        check_choice("--tier", tier, sorted(config.routes))
    suffix = len(vias) > 1
    targets: list[BenchTarget] = []
    for provider, model in pairs:
        for via in vias:
            name = f"{provider}:{model}" + (f" ({via})" if suffix else "")
            if via == "adapter":
                settings = config.adapter_settings(provider)
                targets.append(AdapterTarget(provider, model, settings, name=name))
            else:
                targets.append(
                    OrchestratorTarget(provider=provider, model=model, config=config, name=name)
                )
    targets.extend(
        OrchestratorTarget(tier=tier, config=config, name=f"tier:{tier}") for tier in tiers
    )
    return targets


# --- running --------------------------------------------------------------------------------


def _spec_options(args: argparse.Namespace) -> dict[str, Any]:
    """Every run option parsed and checked, before anything starts (mistakes fail fast)."""
    if args.reports:
        raise CliError(f"unexpected argument {args.reports[0]!r} (did you mean 'compare'?)")
    if args.html:
        raise CliError("--html is for 'hafs bench compare'; use --out DIR for a run")
    warmup_requests, warmup_seconds = _warmup(args.warmup)
    duration = _seconds("--duration", args.duration)
    if args.requests is not None and duration is not None:
        raise CliError("give --requests or --duration, not both")
    if args.requests is not None and args.requests < 1:
        raise CliError(f"--requests must be at least 1, got {args.requests}")
    dataset = _dataset(args)
    try:
        percentiles = parse_percentiles(args.percentiles)
    except ValueError as exc:
        raise CliError(f"--percentiles: {exc}") from None
    _target_pairs(args.target)
    if args.tier and set(args.via or ()) == {"adapter"}:
        raise CliError("--tier needs --via orchestrator (a tier is a routing decision)")
    requests = args.requests
    if requests is None and duration is None:
        requests = _DEFAULT_REQUESTS
    return {
        "load": _load(args),
        "requests": requests,
        "duration": duration,
        "warmup_requests": warmup_requests,
        "warmup_seconds": warmup_seconds,
        "dataset": dataset,
        "percentiles": percentiles,
        "label": args.label,
        "slos": _slos(args.slo),
        "seed": args.seed,
        "drain_timeout": _seconds("--drain-timeout", args.drain_timeout) or 0.0,
        "parallel_targets": args.parallel_targets,
    }


def _spec(
    options: dict[str, Any], targets: Sequence[BenchTarget], meta: dict[str, Any]
) -> BenchSpec:
    try:
        return BenchSpec(targets=targets, metadata=meta, **options)
    except BenchSpecError as exc:
        raise CliError(str(exc)) from None


def _emulator_server(choice: str) -> str:
    """granian when asked or, for ``auto``, when installed: with zero latency at concurrency
    32 it served the adapter client 1.7x faster than the trio server (592 vs 320 req/s)."""
    if choice != "auto":
        return choice
    return "granian" if importlib.util.find_spec("granian") is not None else "trio"


async def _run(
    args: argparse.Namespace,
    options: dict[str, Any],
    console: Console,
    config: HafsConfig | None,
) -> BenchReport:
    """Measure with ``config`` (the user's providers), or against emulators when ``None``."""
    vias: list[str] = list(dict.fromkeys(args.via or ["orchestrator"]))
    meta: dict[str, Any] = {"via": vias, "emulated": config is None}
    if config is not None:
        targets = _build_targets(args, vias, config, emulated=False)
        return await _measure(args, _spec(options, targets, meta), console)
    server = _emulator_server(args.emulator_server)
    async with emulator_process(latency=args.emulator_latency, server=server) as emulator:
        meta["emulator_latency"] = args.emulator_latency
        meta["emulator_server"] = server
        meta["cpu_split"] = {
            "emulator": list(emulator.emulator_cpus),
            "client": list(emulator.client_cpus),
        }
        targets = _build_targets(args, vias, _emulator_config(emulator), emulated=True)
        return await _measure(args, _spec(options, targets, meta), console)


async def _run_until_signal(
    args: argparse.Namespace,
    options: dict[str, Any],
    console: Console,
    config: HafsConfig | None,
) -> BenchReport:
    """:func:`_run`, stopped cleanly (emulator included) by SIGTERM or SIGHUP; Ctrl-C arrives
    as KeyboardInterrupt and unwinds the same way."""
    received: list[int] = []
    reports: list[BenchReport] = []
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
        async with unwrap_single_exception(), trio.open_nursery() as nursery:

            async def watch() -> None:
                async for signum in signals:
                    received.append(signum)
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(watch)
            reports.append(await _run(args, options, console, config))
            nursery.cancel_scope.cancel()
    if not reports:
        name = signal.Signals(received[0]).name if received else "a signal"
        raise CliError(f"stopped by {name}; no report written", code=EXIT_INTERRUPTED)
    return reports[0]


async def _measure(args: argparse.Namespace, spec: BenchSpec, console: Console) -> BenchReport:
    if args.no_progress:
        return await run_benchmark(spec)
    display = ProgressDisplay(console)
    with display.shown():
        async with trio.open_nursery() as nursery:

            async def ticker() -> None:
                while True:
                    display.tick()
                    await trio.sleep(_TICK)

            nursery.start_soon(ticker)
            report = await run_benchmark(spec, observer=display)
            nursery.cancel_scope.cancel()
    return report


def _out_dir(text: str | None) -> Path | None:
    """``--out``, created and checked writable before the run, not after it."""
    if text is None:
        return None
    out_dir = Path(text)
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out {text}: exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out {text}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise CliError(f"--out {text}: not writable")
    return out_dir


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def _summary_rows(report: BenchReport) -> list[dict[str, Any]]:
    """One CSV row per target, metrics under vLLM's names."""
    percentiles = report.config.get("percentiles") or DEFAULT_PERCENTILES
    return [
        {
            "label": report.config.get("label", ""),
            "target": t.name,
            "requests": t.summary.requests,
            "failed": t.summary.failed,
            "dropped": t.summary.dropped,
            **vllm_metrics(t.summary, percentiles),
        }
        for t in report.targets
    ]


def _sample_rows(report: BenchReport) -> list[dict[str, Any]]:
    """One CSV row per request: times in seconds, token counts, outcome."""
    return [
        {
            "target": t.name,
            "index": s.index,
            "warmup": s.warmup,
            "scheduled": s.scheduled,
            "queued": s.queued,
            "start": round(s.start, 6),
            "ttft": None if s.ttft is None else round(s.ttft, 6),
            "e2e": round(s.e2e, 6),
            "chunks": len(s.chunks),
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "max_tokens": s.max_tokens,
            "error_type": s.error_type,
            "error": s.error,
        }
        for t in report.targets
        for s in t.samples
    ]


def _write_reports(report: BenchReport, out_dir: Path, label: str) -> list[Path]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"hafs-bench-{label}-{stamp}" if label else f"hafs-bench-{stamp}"
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base)
    paths = [out_dir / f"{base}.{ext}" for ext in ("json", "html", "csv")]
    paths.append(out_dir / f"{base}-samples.csv")
    try:
        save_report(report, paths[0])
        paths[1].write_text(render_html(report), encoding="utf-8")
        _write_csv(paths[2], _summary_rows(report))
        _write_csv(paths[3], _sample_rows(report))
    except OSError as exc:
        raise CliError(f"--out: cannot write the reports ({exc})", code=EXIT_FAILED) from None
    return paths


def _run_command(args: argparse.Namespace) -> int:
    options = _spec_options(args)
    config: HafsConfig | None = None
    if args.emulate is not True:
        config = _user_config()
        if args.emulate is None and not config.configured_providers():
            config = None  # nothing real to measure: use the emulators
    if config is None:
        unknown = sorted({p for p, _ in _target_pairs(args.target)} - set(EMULATED_PROVIDERS))
        if unknown:
            raise CliError(
                f"--target {unknown[0]}: not an emulated provider"
                f"{did_you_mean(unknown[0], EMULATED_PROVIDERS)} "
                f"(available: {', '.join(EMULATED_PROVIDERS)})"
            )
        for tier in args.tier:  # before the emulator process starts
            check_choice("--tier", tier, sorted(HafsConfig().routes))
        why = "" if args.emulate else "no provider is configured, so "
        note_emulated(f"{why}hafs bench measures the emulators ({args.emulator_latency} latency)")
    out_dir = _out_dir(args.out)
    width = make_console().width
    stdout = make_console(stderr=args.json)
    progress_console = Console(stderr=True)
    report = trio.run(_run_until_signal, args, options, progress_console, config)
    for table in (*summary_tables(report, width), *latency_tables(report, width)):
        stdout.print(table)
    failures = failure_lines(report)
    for line in failures:
        print(f"hafs bench: {line}", file=sys.stderr)
    if out_dir is not None:
        paths = _write_reports(report, out_dir, args.label)
        for path in paths:
            stdout.print(f"wrote {escape(str(path))}", soft_wrap=True)
    else:
        stdout.print("[dim]--out DIR writes the JSON, HTML and CSV reports[/]")
    failed = [t.name for t in report.targets if t.summary.requests and not t.summary.ok]
    if args.json:
        data = report_to_dict(report)
        for target in data["targets"]:
            del target["samples"]
        if failed:
            data["error"] = error_record(
                CliError(f"every request failed on {', '.join(failed)}: {'; '.join(failures)}")
            ) | {"type": "BenchFailed", "exit_code": EXIT_FAILED}
        print(json.dumps(data, indent=2))
    if failed:
        print(f"hafs: error: every request failed on {', '.join(failed)}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _compare_command(args: argparse.Namespace) -> int:
    if len(args.reports) != 2:
        raise CliError("compare needs exactly two JSON reports: hafs bench compare A.json B.json")
    try:
        a, b = (load_report(path) for path in args.reports)
    except ReportFormatError as exc:
        raise CliError(str(exc)) from None
    labels = [
        str(r.config.get("label") or "") or Path(p).stem
        for r, p in zip((a, b), args.reports, strict=True)
    ]
    a_label, b_label = labels if labels[0] != labels[1] else ("A", "B")
    comparison = compare_reports(a, b, a_label=a_label, b_label=b_label)
    if not comparison.pairs:
        raise CliError("the two reports have no target in common (and more than one each)")
    console = make_console(stderr=args.json)
    for table in comparison_tables(comparison, console.width):
        console.print(table)
    if comparison.only_in_a or comparison.only_in_b:
        console.print(
            escape(
                f"unpaired: {', '.join(comparison.only_in_a) or 'none'} only in {a_label}; "
                f"{', '.join(comparison.only_in_b) or 'none'} only in {b_label}"
            )
        )
    for warning in comparison.warnings:
        print(f"hafs bench compare: warning: {warning}", file=sys.stderr)
    if args.html:
        try:
            Path(args.html).write_text(render_comparison_html(comparison, a, b), encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--html {args.html}: cannot write ({exc.strerror or exc})") from None
        console.print(f"comparison: {escape(args.html)}")
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    if args.action == "compare":
        return _compare_command(args)
    return _run_command(args)
