"""The cost of observability on the orchestrator's hot path.

Against one emulated OpenAI provider (a separate process on its own core, zero latency, 16-token
replies), a closed loop of 128 tasks calls ``orch.generate(...)`` again and again, in four
configurations, each in a fresh process pinned to the client core:

* ``baseline``: the same source tree with the observability integration stripped out (a copy
  of ``hafs_actors/`` in a temporary directory without the guarded observer calls and the
  always-on latency histogram record; see :func:`strip_integration`);
* ``none``: the shipped code, no observer and no exporter (target: >= 0.98 of ``baseline``);
* ``hook``: one observer overriding every hook with a no-op (the dispatcher's own cost);
* ``otel``: ``telemetry=`` with the real OpenTelemetry SDK exporting spans to an in-memory
  exporter through a ``SimpleSpanProcessor`` and metrics to an in-memory reader (target: >= 0.85
  of ``none``).

Ratios are medians of ratios measured back to back in each round (slow drift cancels).

    .venv/bin/python benchmarks/observability.py            # 5 rounds, about 2 minutes
    .venv/bin/python benchmarks/observability.py --quick    # 1 short round
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import (
    HERE,
    MODEL,
    EmulatorProcess,
    closed_loop,
    describe_machine,
    emit_result,
    emulator_spec,
    median,
    print_table,
    run_worker,
    split_cores,
    verdict,
)
from overhead import orchestrator_config

PROMPT = "Summarise the benefits of structured concurrency in one sentence."
KINDS = ("baseline", "none", "hook", "otel")
TARGET_NONE = 0.98
TARGET_OTEL = 0.85
REPO = HERE.parent

#: A guard line and the call it guards, or a line of the always-on status histogram.
_GUARD = re.compile(r"^(\s*)if (self|cell)\.(_?observers)( is not None)?:\n\1    .*\n", re.M)
_ALWAYS_ON = re.compile(r"^\s*cell\.latency\.record\(.*\)\n", re.M)


def strip_integration(target: Path) -> Path:
    """A copy of the source tree without the observer guards and the latency record.

    The stripped tree is what the hot path was before this integration (the request wrappers'
    ``call if obs is None`` stays: a local test, far below the noise).
    """
    for package in ("hafs_actors", "supervisors"):
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("*.pyc"))
    stripped = 0
    for path in (target / "hafs_actors").rglob("*.py"):
        if "observability" in path.parts:
            continue
        text = path.read_text()
        new, n = _GUARD.subn("", text)
        new, m = _ALWAYS_ON.subn("", new)
        if n or m:
            path.write_text(new)
            stripped += n + m
    if not stripped:
        raise SystemExit("found no observability integration to strip")
    return target


async def _run(case: dict[str, Any]) -> dict[str, Any]:
    from hafs_actors import UnifiedOrchestrator

    kwargs: dict[str, Any] = {}
    otel: Any = None
    if case["kind"] == "hook":
        from hafs_actors.observability import Observer

        class NoOp(Observer):
            def on_request(self, request: Any) -> None:
                pass

            def on_attempt(self, event: Any) -> None:
                pass

            def on_result(self, event: Any) -> None:
                pass

            def on_error(self, event: Any) -> None:
                pass

            def on_limiter_wait(self, event: Any) -> None:
                pass

        kwargs["observers"] = [NoOp()]
    elif case["kind"] == "otel":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from hafs_actors.observability import TelemetrySettings

        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        reader = InMemoryMetricReader()
        otel = (spans, reader)
        kwargs["telemetry"] = TelemetrySettings(
            tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
        )
    config = orchestrator_config(case["api_url"], case["concurrency"])
    async with UnifiedOrchestrator(config, **kwargs) as orch:

        async def one_request() -> None:
            result = await orch.generate(PROMPT, provider="openai", model=MODEL)
            if not result.content:
                raise RuntimeError("empty completion")
            if otel is not None:
                otel[0].clear()  # an exporter keeps every span: the window must not grow memory

        result = await closed_loop(case, one_request)
    if otel is not None:
        result["metric_points"] = sum(
            len(m.data.data_points)
            for rm in otel[1].get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
    import hafs_actors

    result["source"] = str(Path(hafs_actors.__file__).parent.parent)
    return result


def worker_main(case_json: str) -> None:
    import trio

    emit_result(trio.run(_run, json.loads(case_json)))


def paired(rounds: dict[str, list[dict[str, Any]]], num: str, den: str, key: str) -> float:
    """Median over rounds of ``num``/``den`` back to back: req/s (``rate``), or CPU per request
    (``cpu``: den's over num's, so higher is better either way: the least noisy figure)."""
    ratios = []
    for x, y in zip(rounds[num], rounds[den], strict=True):
        if "failed" in x or "failed" in y:
            continue
        if key == "rate" and y["rate"]:
            ratios.append(x["rate"] / y["rate"])
        elif key == "cpu" and x.get("cpu_us") and y.get("cpu_us"):
            ratios.append(y["cpu_us"] / x["cpu_us"])
    return median(ratios) if ratios else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="observability cost (see module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1 short round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5; quick 1)")
    parser.add_argument("--concurrency", type=int, default=128)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    rounds = args.rounds or (1 if args.quick else 5)
    warmup, duration = (0.5, 1.5) if args.quick else (1.0, 3.0)
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    print(
        f"emulator: openai, granian, zero latency, 16-token replies; {args.concurrency} in "
        f"flight; warm-up {warmup}s, window {duration}s, {rounds} round(s)"
    )
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(emulator_spec(reply_tokens=16), cpu=server_cpu) as emulator,
    ):
        baseline = strip_integration(Path(tmp))
        for round_no in range(rounds):
            for kind in KINDS:
                case = {
                    "kind": kind,
                    "concurrency": args.concurrency,
                    "api_url": emulator.api_url,
                    "server_pid": emulator.process.pid,
                    "warmup": warmup,
                    "duration": duration,
                }
                env = None
                if kind == "baseline":
                    env = {**os.environ, "PYTHONPATH": f"{baseline}:{HERE}"}
                result = run_worker(Path(__file__), case, timeout=90, cpu=client_cpu, env=env)
                if kind == "baseline" and result.get("source") != str(baseline):
                    raise SystemExit(f"the baseline imported {result.get('source')}")
                results[kind].append(result)
                rate = "fails" if "failed" in result else f"{result['rate']:,.0f} req/s"
                print(f"  round {round_no + 1}: {kind:<8} {rate}", flush=True)
    rows = []
    for kind in KINDS:
        ok = [r for r in results[kind] if "failed" not in r]
        rate = median([r["rate"] for r in ok]) if ok else float("nan")
        cpu = median([r["cpu_us"] for r in ok if r.get("cpu_us")]) if ok else float("nan")
        rows.append([kind, f"{rate:,.0f}", f"{cpu:,.0f}"])
    print("\nRequests/s and client CPU per request (medians of rounds)")
    print_table(["configuration", "req/s", "µs/req"], rows)
    print("\nRatios (medians of per-round ratios; CPU: the ratio of CPU per request):")
    for num, den, target in (
        ("none", "baseline", TARGET_NONE),
        ("hook", "none", None),
        ("otel", "none", TARGET_OTEL),
    ):
        rate, cpu = paired(results, num, den, "rate"), paired(results, num, den, "cpu")
        line = f"  {num}/{den:<9} req/s {rate:.3f}  CPU {cpu:.3f}"
        if target is not None:
            line += (
                f"  (target >= {target}: req/s {verdict(rate, target)}, CPU {verdict(cpu, target)})"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
