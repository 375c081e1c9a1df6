"""Front ends: the same workload through native trio, the asyncio front end and the sync one.

Against one emulated OpenAI provider (a separate process on its own core, zero latency, 16-token
replies), closed loops of 1, 128 and 1,024 callers each send ``generate`` and wait for the
answer, again and again, through

* ``trio``: ``UnifiedOrchestrator.generate`` from trio tasks (the reference);
* ``aio``: ``hafs_actors.aio.Orchestrator.generate`` from asyncio tasks under ``asyncio.run``;
* ``uvloop``: the same under ``uvloop.run`` (skipped when uvloop is not installed);
* ``sync``: ``hafs_actors.sync.Orchestrator.generate`` from that many threads.

It prints requests/s, client CPU per request (``time.process_time`` of the whole client
process: caller, runtime thread and all) and the median latency at 1 in flight, then the
targets: at 128 in flight asyncio >= 80% of native trio's requests/s; at 1 in flight asyncio
adds <= 150 µs. Every case runs in a fresh process pinned to the client core; figures are
medians of rounds, ratios are paired within a round. ``--upstream fake`` replaces the emulator
by a custom adapter that answers at once in the runtime: no HTTP, so the front ends' own cost
per call is what differs between the kinds.

    .venv/bin/python benchmarks/frontends.py                    # full: 3 rounds, about 4 minutes
    .venv/bin/python benchmarks/frontends.py --quick            # 1 short round, about 1 minute
    .venv/bin/python benchmarks/frontends.py --upstream fake    # no HTTP: the crossing alone
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import (
    BENCH_KEY,
    MODEL,
    EmulatorProcess,
    cpu_seconds_reader,
    describe_machine,
    emit_result,
    emulator_spec,
    median,
    median_round,
    percentile,
    print_table,
    run_worker,
    split_cores,
    verdict,
)

CONCURRENCY = (1, 128, 1024)
KINDS = ("trio", "aio", "uvloop", "sync")
KIND_NAMES = {
    "trio": "native trio",
    "aio": "asyncio front end",
    "uvloop": "asyncio front end, uvloop",
    "sync": "sync front end (threads)",
}
PROMPT = "Summarise the benefits of structured concurrency in one sentence."
REPLY_TOKENS = 16
TARGET_RATIO = 0.80  # asyncio / trio requests/s at 128 in flight
TARGET_ADDED_US = 150.0  # asyncio latency on top of trio's at 1 in flight

# -- worker side ---------------------------------------------------------------------------------


class _Meter:
    """Counts completed requests; keeps per-request latencies of a 1-in-flight loop."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.done = 0
        self.errors: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.keep_latencies = case["concurrency"] == 1
        self._server_cpu = cpu_seconds_reader(case.get("server_pid"))

    def sample(self) -> tuple[int, float, float, float | None, int]:
        return (
            self.done,
            time.perf_counter(),
            time.process_time(),
            self._server_cpu(),
            len(self.latencies),
        )

    def record(self, started: float) -> None:
        self.done += 1
        if self.keep_latencies:
            self.latencies.append(time.perf_counter() - started)

    def result(
        self,
        case: dict[str, Any],
        start: tuple[int, float, float, float | None, int],
        end: tuple[int, float, float, float | None, int],
    ) -> dict[str, Any]:
        requests = end[0] - start[0]
        wall, cpu = end[1] - start[1], end[2] - start[2]
        window = sorted(self.latencies[start[4] : end[4]])
        result = {
            **case,
            "requests": requests,
            "rate": requests / wall,
            "cpu_us": cpu / requests * 1e6 if requests else None,
            "client_share": cpu / wall,
            "p50_us": percentile(window, 50) * 1e6 if window else None,
            "errors": dict(self.errors),
        }
        if start[3] is not None and end[3] is not None:
            result["server_share"] = (end[3] - start[3]) / wall
        return result


def _config(case: dict[str, Any]) -> Any:
    """The provider admitting ``concurrency`` requests at once (the defaults protect a real
    provider; here every client gets the same connection pool)."""
    import attrs

    from hafs_actors import HafsConfig, ProviderConfig

    concurrency = case["concurrency"]
    if case["upstream"] == "fake":
        config = HafsConfig.for_emulators({})
        provider = ProviderConfig(name="fake", kind="custom")
    else:
        config = HafsConfig.for_emulators({"openai": case["api_url"]}, api_key=BENCH_KEY)
        provider = attrs.evolve(config.providers["openai"], max_connections=concurrency)
    provider = attrs.evolve(
        provider, max_in_flight=max(concurrency, 256), mailbox_size=max(2 * concurrency, 1024)
    )
    return attrs.evolve(config, providers={**config.providers, provider.name: provider})


def _fake_adapter() -> Any:
    """``--upstream fake``: a provider that answers at once, in the runtime, with no I/O."""
    import trio

    from hafs_actors.testing import FunctionAdapter

    async def reply(_request: object) -> str:
        await trio.lowlevel.checkpoint()
        return "ok"

    return FunctionAdapter(reply)


def _provider(case: dict[str, Any]) -> str:
    return "fake" if case["upstream"] == "fake" else "openai"


def _check(content: str) -> None:
    if not content:
        raise RuntimeError("empty completion")


def _run_trio(case: dict[str, Any]) -> dict[str, Any]:
    import trio

    from hafs_actors import UnifiedOrchestrator

    meter = _Meter(case)
    provider = _provider(case)

    async def main() -> dict[str, Any]:
        orch = UnifiedOrchestrator(_config(case))
        if case["upstream"] == "fake":
            orch.register_adapter("fake", _fake_adapter())
        async with orch:

            async def worker() -> None:
                while True:
                    started = time.perf_counter()
                    try:
                        _check(
                            (await orch.generate(PROMPT, provider=provider, model=MODEL)).content
                        )
                    except Exception as exc:
                        meter.errors[type(exc).__name__] += 1
                        await trio.sleep(0.01)
                    else:
                        meter.record(started)

            async with trio.open_nursery() as nursery:
                for _ in range(case["concurrency"]):
                    nursery.start_soon(worker)
                await trio.sleep(case["warmup"])
                start = meter.sample()
                await trio.sleep(case["duration"])
                end = meter.sample()
                nursery.cancel_scope.cancel()
        return meter.result(case, start, end)

    return trio.run(main)


def _run_asyncio(case: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import hafs_actors.aio

    meter = _Meter(case)
    provider = _provider(case)

    async def main() -> dict[str, Any]:
        orch = hafs_actors.aio.Orchestrator(_config(case))
        if case["upstream"] == "fake":
            await orch.register_adapter("fake", _fake_adapter())
        async with orch:

            async def worker() -> None:
                while True:
                    started = time.perf_counter()
                    try:
                        _check(
                            (await orch.generate(PROMPT, provider=provider, model=MODEL)).content
                        )
                    except Exception as exc:
                        meter.errors[type(exc).__name__] += 1
                        await asyncio.sleep(0.01)
                    else:
                        meter.record(started)

            tasks = [asyncio.create_task(worker()) for _ in range(case["concurrency"])]
            await asyncio.sleep(case["warmup"])
            start = meter.sample()
            await asyncio.sleep(case["duration"])
            end = meter.sample()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return meter.result(case, start, end)

    if case["kind"] == "uvloop":
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def _run_threads(case: dict[str, Any]) -> dict[str, Any]:
    import hafs_actors.sync

    meter = _Meter(case)
    provider = _provider(case)
    lock = threading.Lock()
    stop = threading.Event()
    threading.stack_size(256 * 1024)  # 1,024 callers: keep their stacks small

    orch = hafs_actors.sync.Orchestrator(_config(case))
    if case["upstream"] == "fake":
        orch.register_adapter("fake", _fake_adapter())
    with orch:

        def worker() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    _check(orch.generate(PROMPT, provider=provider, model=MODEL).content)
                except Exception as exc:
                    with lock:
                        meter.errors[type(exc).__name__] += 1
                    time.sleep(0.01)
                else:
                    with lock:
                        meter.record(started)

        threads = [threading.Thread(target=worker) for _ in range(case["concurrency"])]
        for thread in threads:
            thread.start()
        time.sleep(case["warmup"])
        start = meter.sample()
        time.sleep(case["duration"])
        end = meter.sample()
        stop.set()
        for thread in threads:
            thread.join()
    return meter.result(case, start, end)


RUNNERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "trio": _run_trio,
    "aio": _run_asyncio,
    "uvloop": _run_asyncio,
    "sync": _run_threads,
}


def worker_main(case_json: str) -> None:
    case = json.loads(case_json)
    emit_result(RUNNERS[case["kind"]](case))


# -- orchestrating side --------------------------------------------------------------------------


def _ok(result: dict[str, Any] | None) -> bool:
    return result is not None and "failed" not in result


def _cells(result: dict[str, Any] | None) -> list[str]:
    if result is None:
        return ["-", "-"]
    if "failed" in result:
        return ["fails", "-"]
    mark = "!" if result.get("errors") else ""
    cpu = result["cpu_us"]
    return [f"{result['rate']:,.0f}{mark}", "-" if cpu is None else f"{cpu:,.0f}"]


def paired(
    rounds: dict[tuple[str, int], list[dict[str, Any]]],
    kind: str,
    c: int,
    value: Callable[[dict[str, Any], dict[str, Any]], float | None],
) -> float:
    """Median over rounds of ``value(kind's result, trio's result)`` from the same round."""
    out = []
    for x, y in zip(rounds.get((kind, c), []), rounds.get(("trio", c), []), strict=False):
        if _ok(x) and _ok(y):
            v = value(x, y)
            if v is not None:
                out.append(v)
    return median(out) if out else float("nan")


def _rate_ratio(x: dict[str, Any], y: dict[str, Any]) -> float | None:
    return x["rate"] / y["rate"] if y["rate"] else None


def _cpu_ratio(x: dict[str, Any], y: dict[str, Any]) -> float | None:
    """trio's CPU per request over ``x``'s: the x/trio of a CPU-bound client."""
    return y["cpu_us"] / x["cpu_us"] if x["cpu_us"] and y["cpu_us"] else None


def _added_us(x: dict[str, Any], y: dict[str, Any]) -> float | None:
    if x.get("p50_us") is None or y.get("p50_us") is None:
        return None
    return float(x["p50_us"] - y["p50_us"])


def report(
    table: dict[tuple[str, int], dict[str, Any]],
    rounds: dict[tuple[str, int], list[dict[str, Any]]],
    kinds: Sequence[str],
    upstream: str,
) -> None:
    concurrencies = sorted({c for _, c in table})
    headers = ["in flight"]
    for kind in kinds:
        headers += [f"{kind} req/s", f"{kind} µs/req"]
    for k in kinds:
        if k != "trio":
            headers += [f"{k}/trio", f"{k}/trio CPU"]
    rows = []
    for c in concurrencies:
        row = [str(c)]
        for kind in kinds:
            row += _cells(table.get((kind, c)))
        for k in kinds:
            if k != "trio":
                row += [
                    f"{paired(rounds, k, c, _rate_ratio):.2f}",
                    f"{paired(rounds, k, c, _cpu_ratio):.2f}",
                ]
        rows.append(row)
    print("\nRequests/s and client CPU per request (median of rounds; ! = some errors)")
    print_table(headers, rows)
    print(
        "  µs/req: CPU of the whole client process (caller, runtime thread) per request.\n"
        "  x/trio: requests/s relative to native trio, median of ratios paired in each round;\n"
        "  x/trio CPU: trio's CPU per request over x's, the x/trio of a CPU-bound client (the\n"
        "  least noisy figure on a shared machine)."
    )
    if 1 in concurrencies:
        print("\nLatency at 1 in flight (median request; added: paired with trio in each round)")
        latency_rows = []
        for kind in kinds:
            r = table.get((kind, 1))
            p50 = (
                "-" if not _ok(r) or r is None or r.get("p50_us") is None else f"{r['p50_us']:,.0f}"
            )
            added = "-" if kind == "trio" else f"{paired(rounds, kind, 1, _added_us):+,.0f}"
            latency_rows.append([KIND_NAMES[kind], p50, added])
        print_table(["", "p50 µs", "added µs"], latency_rows)
    print("\nCPU share of a core, client/emulator (the emulator must stay well below 100%)")
    share_rows = []
    for c in concurrencies:
        cells = [str(c)]
        for kind in kinds:
            r = table.get((kind, c))
            if not _ok(r) or r is None:
                cells.append("-")
                continue
            server = r.get("server_share")
            text = "n/a" if server is None else f"{server * 100:.0f}%"
            cells.append(f"{r['client_share'] * 100:.0f}%/{text}")
        share_rows.append(cells)
    print_table(["in flight", *kinds], share_rows)
    for (kind, c), r in sorted(table.items()):
        if r.get("failed") or r.get("errors"):
            print(f"  ! {KIND_NAMES[kind]} at {c}: {r.get('failed') or r.get('errors')}")
    for c in (c for c in concurrencies if c >= 128):
        shares = [r["client_share"] for r in rounds.get(("trio", c), []) if _ok(r)]
        low = sum(1 for share in shares if share < 0.9)
        if low:
            print(
                f"  note: native trio at {c} used under 90% of its core in {low} of "
                f"{len(shares)} round(s) (other processes on its core, or waits on slow idle "
                "wake-ups): its req/s understate it; trust the CPU ratio there"
            )
    if upstream == "fake":
        print("\nThe targets are for the emulator workload (without --upstream fake).")
        return
    print("\nTargets (measured, not asserted):")
    for kind in (k for k in ("aio", "uvloop") if k in kinds):
        if 128 in concurrencies:
            ratio = paired(rounds, kind, 128, _rate_ratio)
            bound = paired(rounds, kind, 128, _cpu_ratio)
            print(
                f"  {KIND_NAMES[kind]} / trio at 128 in flight: {ratio:.2f} "
                f"(target >= {TARGET_RATIO:.2f})  {verdict(ratio, TARGET_RATIO)}; "
                f"CPU-bound {bound:.2f} {verdict(bound, TARGET_RATIO)}"
            )
        if 1 in concurrencies:
            added = paired(rounds, kind, 1, _added_us)
            print(
                f"  {KIND_NAMES[kind]} latency added at 1 in flight: {added:+.0f} µs "
                f"(target <= {TARGET_ADDED_US:.0f})  "
                f"{verdict(added, TARGET_ADDED_US, higher_is_better=False)}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="front-end overhead (see module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1 short round, about 1 minute")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; quick 1)")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--kinds", default=",".join(KINDS), help="subset of " + ",".join(KINDS))
    parser.add_argument("--server", choices=("granian", "trio"), default="granian")
    parser.add_argument(
        "--upstream",
        choices=("emulator", "fake"),
        default="emulator",
        help="fake: a provider answering in the runtime, to isolate the front ends' own cost",
    )
    parser.add_argument("--json-out", help="also write every round's results to this file")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0

    rounds = args.rounds or (1 if args.quick else 3)
    warmup, duration = (0.5, 1.5) if args.quick else (1.0, 3.0)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    kinds = [k for k in args.kinds.split(",") if k]
    if "trio" not in kinds:
        kinds.insert(0, "trio")
    if "uvloop" in kinds:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("uvloop: not installed, skipped")
            kinds.remove("uvloop")
    server_cpu, client_cpu = split_cores()
    fake = args.upstream == "fake"
    print(describe_machine(server_cpu, client_cpu, server=not fake))
    where = (
        "a provider answering in the runtime (no I/O)"
        if fake
        else f"emulator: openai, {args.server}, zero latency, {REPLY_TOKENS}-token replies"
    )
    print(f"{where}; warm-up {warmup}s, window {duration}s, {rounds} round(s)")
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        emulator = None
        if not fake:
            spec = emulator_spec(reply_tokens=REPLY_TOKENS)
            emulator = stack.enter_context(
                EmulatorProcess(spec, cpu=server_cpu, server=args.server)
            )
        for round_no in range(rounds):
            for concurrency in concurrencies:
                for kind in kinds:
                    case = {
                        "kind": kind,
                        "concurrency": concurrency,
                        "upstream": args.upstream,
                        "api_url": emulator.api_url if emulator else None,
                        "server_pid": emulator.process.pid if emulator else None,
                        "warmup": warmup + (0.5 if concurrency >= 1024 else 0.0),
                        "duration": duration,
                    }
                    result = run_worker(Path(__file__), case, timeout=120, cpu=client_cpu)
                    results.setdefault((kind, concurrency), []).append(result)
                    rate = "fails" if "failed" in result else f"{result['rate']:,.0f} req/s"
                    print(
                        f"  round {round_no + 1}: {KIND_NAMES[kind]:<26} at {concurrency:>5}: "
                        f"{rate}",
                        flush=True,
                    )
    table = {key: median_round(rs, "rate") for key, rs in results.items()}
    report(table, results, kinds, args.upstream)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r for rs in results.values() for r in rs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
