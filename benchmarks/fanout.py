"""Fan-out: wall time against the ideal under 1 s of provider latency, and bounded memory.

Part 1 (latency-bound): 10,000 prompts through ``orch.fanout(..., concurrency=1000)`` against an
emulated OpenAI provider in a separate process on its own core that answers each request after
exactly 1 s (``LatencyModel(ttft_median=1.0)``, non-streaming). The ideal is
``ceil(N / concurrency) * 1 s`` = 10 s; the target is at most 1.15x that. Peak memory is the
client's peak RSS (sampled every 50 ms, and ``ru_maxrss``) over its RSS once the orchestrator
is running.

Part 2 (memory): 10,000 and then 100,000 prompts (a lazy generator: the inputs themselves take no
memory) through the same fan-out API, each in a fresh process, against a fake in-process
provider (a custom adapter that sleeps 10 ms; ``--memory-target emulator`` uses the emulator over
HTTP instead, slower). Bounded memory means the peak at 100,000 is the same as at 10,000.

Every case runs in a fresh process pinned to the client core.

    .venv/bin/python benchmarks/fanout.py            # full, about 1 minute
    .venv/bin/python benchmarks/fanout.py --quick    # N=2,000 and 20,000, about 30 s
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
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
    percentile,
    print_table,
    run_worker,
    split_cores,
    verdict,
)

TARGET_WALL_RATIO = 1.15
FAKE_PROVIDER = "inproc"

# -- worker side ---------------------------------------------------------------------------------


def _prompts(count: int) -> Iterator[str]:
    return (f"prompt number {i}: say something short" for i in range(count))


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _config(case: dict[str, Any]) -> Any:
    """Providers sized for ``concurrency`` requests in flight (defaults: 256 and 1,024)."""
    import attrs

    from hafs_actors.config import HafsConfig, ProviderConfig

    concurrency = case["concurrency"]
    sizing = {
        "max_in_flight": max(concurrency, 256),
        "mailbox_size": max(2 * concurrency, 1024),
    }
    if case.get("api_url"):
        config = HafsConfig.for_emulators({"openai": case["api_url"]}, api_key=BENCH_KEY)
        openai = attrs.evolve(
            config.providers["openai"], max_connections=max(concurrency, 256), **sizing
        )
        return attrs.evolve(config, providers={**config.providers, "openai": openai})
    fake = ProviderConfig(name=FAKE_PROVIDER, kind="custom", **sizing)
    disabled = HafsConfig.for_emulators({}).providers  # every built-in provider switched off
    return HafsConfig(providers={**disabled, FAKE_PROVIDER: fake})


class FakeProvider:
    """An in-process provider (a native adapter) that answers after ``latency`` seconds."""

    provider = FAKE_PROVIDER
    supports_streaming = False
    supports_embeddings = False

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def initialize(self) -> None:
        return None

    async def generate(self, request: Any) -> Any:
        import trio

        from hafs_actors.types import GenerateResult, Usage

        await trio.sleep(self.latency)
        return GenerateResult(
            content="a short answer",
            provider=FAKE_PROVIDER,
            model=request.model,
            usage=Usage(input_tokens=8, output_tokens=3),
        )

    def stream(self, request: Any) -> Any:
        raise NotImplementedError("the fan-out benchmark does not stream")

    async def embed(self, request: Any) -> Any:
        raise NotImplementedError("the fan-out benchmark does not embed")

    async def health(self) -> Any:
        from hafs_actors.types import HealthStatus

        return HealthStatus(ok=True)

    async def aclose(self) -> None:
        return None


class _Tally:
    """Outcomes of one run; per-request latencies and completion times only when ``trace``."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.per_second: Counter[int] = Counter()
        self.start = time.perf_counter()

    def success(self, latency: float) -> None:
        self.ok += 1
        if self.trace:
            self.latencies.append(latency)
            self.per_second[int(time.perf_counter() - self.start)] += 1


async def _via_orchestrator(case: dict[str, Any], ready: Any, tally: _Tally) -> None:
    """``orch.fanout`` over a lazy generator of ``n`` prompts."""
    from hafs_actors import UnifiedOrchestrator

    async with UnifiedOrchestrator(_config(case)) as orch:
        if case.get("api_url"):
            kwargs: dict[str, Any] = {"provider": "openai", "model": MODEL}
        else:
            orch.register_adapter(FAKE_PROVIDER, FakeProvider(case["latency"]))
            kwargs = {"provider": FAKE_PROVIDER, "model": "fake-model"}
        await ready()
        async with orch.fanout(
            _prompts(case["n"]), concurrency=case["concurrency"], allow_fallback=False, **kwargs
        ) as results:
            async for item in results:
                if item.error is None:
                    assert item.result is not None
                    tally.success(item.result.latency)
                else:
                    tally.errors[type(item.error).__name__] += 1


async def _via_httpx(case: dict[str, Any], ready: Any, tally: _Tally) -> None:
    """The reference: the same prompts posted with one shared client, ``concurrency`` at once."""
    import trio

    from hafs_actors.transport import create_http_client

    concurrency = case["concurrency"]
    headers = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
    client = create_http_client(
        base_url=case["api_url"], headers=headers, max_connections=concurrency
    )
    slots = trio.CapacityLimiter(concurrency)

    async def one(index: int, prompt: str) -> None:
        started = trio.current_time()
        try:
            body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
            response = await client.post("chat/completions", content=json.dumps(body).encode())
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            json.loads(response.content)["choices"][0]["message"]["content"]
        except Exception as exc:
            tally.errors[type(exc).__name__] += 1
        else:
            tally.success(trio.current_time() - started)
        finally:
            slots.release_on_behalf_of(index)

    async with client:
        await ready()
        async with trio.open_nursery() as nursery:
            for index, prompt in enumerate(_prompts(case["n"])):
                await slots.acquire_on_behalf_of(index)
                nursery.start_soon(one, index, prompt)


async def _run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run one body; sample RSS every 50 ms from when it is ready until it is done."""
    import trio

    tally = _Tally(trace=case["part"] == 1)  # part 2 keeps no per-prompt state
    server_cpu = cpu_seconds_reader(case.get("server_pid"))
    peak = [0]
    marks: dict[str, Any] = {}

    async def sample_rss() -> None:
        while True:
            peak[0] = max(peak[0], _rss())
            await trio.sleep(0.05)

    async with trio.open_nursery() as nursery:

        async def ready() -> None:
            await trio.sleep(0.2)  # let the provider actors start
            marks["base"] = peak[0] = _rss()
            nursery.start_soon(sample_rss)
            marks["server"] = server_cpu()
            marks["cpu"] = time.process_time()
            tally.start = time.perf_counter()

        body = _via_httpx if case.get("via") == "httpx" else _via_orchestrator
        await body(case, ready, tally)
        wall = time.perf_counter() - tally.start
        cpu = time.process_time() - marks["cpu"]
        server1 = server_cpu()
        nursery.cancel_scope.cancel()
    count = case["n"]
    result = {
        **case,
        "wall": wall,
        "ok": tally.ok,
        "errors": dict(tally.errors),
        "cpu_us": cpu / count * 1e6,
        "client_share": cpu / wall,
        "rss_base": marks["base"],
        "rss_peak": max(peak[0], _rss()),
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if tally.trace:
        tally.latencies.sort()
        result["latency"] = {q: percentile(tally.latencies, q) for q in (50, 90, 99, 100)}
        last = max(tally.per_second, default=-1)
        result["per_second"] = [tally.per_second[i] for i in range(last + 1)]
    if marks["server"] is not None and server1 is not None:
        result["server_share"] = (server1 - marks["server"]) / wall
    return result


def worker_main(case_json: str) -> None:
    import logging

    import trio

    logging.getLogger("hafs_actors").setLevel(logging.ERROR)
    emit_result(trio.run(_run_case, json.loads(case_json)))


# -- orchestrating side --------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value / 2**20:,.1f}"


def _failed(result: dict[str, Any], what: str) -> bool:
    if "failed" in result:
        print(f"  ! {what}: {result['failed']}")
        return True
    return False


def part1(args: argparse.Namespace, server_cpu: int | None, client_cpu: int | None) -> None:
    count, concurrency, latency = args.n, args.concurrency, 1.0
    ideal = math.ceil(count / concurrency) * latency
    print(
        f"\nPart 1: {count:,} prompts, {latency:g} s emulated latency (non-streaming), "
        f"concurrency {concurrency:,}: ideal {ideal:g} s"
    )
    spec = emulator_spec(latency=latency, reply_tokens=16)
    runs: dict[str, dict[str, Any]] = {}
    with EmulatorProcess(spec, cpu=server_cpu, server=args.server) as emulator:
        for via in ("orchestrator", "httpx"):
            case = {
                "part": 1,
                "via": via,
                "n": count,
                "concurrency": concurrency,
                "api_url": emulator.api_url,
                "server_pid": emulator.process.pid,
            }
            r = run_worker(Path(__file__), case, timeout=ideal * 4 + 60, cpu=client_cpu)
            if _failed(r, f"part 1 via {via}"):
                return
            runs[via] = r
            print(f"  via {via}: {r['wall']:.2f} s", flush=True)
    orch, ref = runs["orchestrator"], runs["httpx"]

    def row(label: str, cell: Any) -> list[str]:
        return [label, cell(orch), cell(ref)]

    def shares(r: dict[str, Any]) -> str:
        server = r.get("server_share")
        server_text = "n/a" if server is None else f"{server * 100:.0f}%"
        return f"{r['client_share'] * 100:.0f}% / {server_text}"

    print_table(
        ["measure", "orch.fanout", "httpx reference"],
        [
            row("wall time, s", lambda r: f"{r['wall']:.2f}"),
            row("wall / ideal", lambda r: f"{r['wall'] / ideal:.3f}"),
            row("ok / failed", lambda r: f"{r['ok']:,} / {sum(r['errors'].values()):,}"),
            row("achieved req/s", lambda r: f"{r['ok'] / r['wall']:,.0f}"),
            row("latency p50, s", lambda r: f"{r['latency']['50']:.3f}"),
            row("latency p99, s", lambda r: f"{r['latency']['99']:.3f}"),
            row("latency max, s", lambda r: f"{r['latency']['100']:.3f}"),
            row("client CPU µs/request", lambda r: f"{r['cpu_us']:,.0f}"),
            row("CPU share client / emulator", shares),
            row("RSS once running, MiB", lambda r: _mb(r["rss_base"])),
            row("peak RSS (sampled), MiB", lambda r: _mb(r["rss_peak"])),
            row("peak growth, MiB", lambda r: _mb(r["rss_peak"] - r["rss_base"])),
            row("ru_maxrss, MiB", lambda r: _mb(r["maxrss"])),
        ],
    )
    for via, r in runs.items():
        print(f"  completions per second via {via}: " + " ".join(map(str, r["per_second"])))
        if r["errors"]:
            print(f"  ! errors via {via}: {r['errors']}")
    ratio = orch["wall"] / ideal
    print(
        f"  target: orch.fanout wall / ideal = {ratio:.3f} (<= {TARGET_WALL_RATIO}) {_v(ratio)}; "
        f"the httpx reference reaches {ref['wall'] / ideal:.3f} on the same machine"
    )


def _v(ratio: float) -> str:
    return verdict(ratio, TARGET_WALL_RATIO, higher_is_better=False)


def part2(args: argparse.Namespace, server_cpu: int | None, client_cpu: int | None) -> None:
    sizes = [args.n, args.n * 10]
    concurrency = args.concurrency
    target = args.memory_target
    print(
        f"\nPart 2: memory against N, concurrency {concurrency:,}, "
        + (
            f"fake in-process provider answering after {args.memory_latency * 1000:g} ms"
            if target == "inproc"
            else "emulator over HTTP, zero latency"
        )
    )
    results: list[dict[str, Any]] = []
    emulator = (
        EmulatorProcess(emulator_spec(reply_tokens=16), cpu=server_cpu, server=args.server)
        if target == "emulator"
        else None
    )
    try:
        for count in sizes:
            case: dict[str, Any] = {
                "part": 2,
                "n": count,
                "concurrency": concurrency,
                "latency": args.memory_latency,
            }
            if emulator is not None:
                case["api_url"] = emulator.api_url
                case["server_pid"] = emulator.process.pid
            r = run_worker(Path(__file__), case, timeout=600, cpu=client_cpu)
            if _failed(r, f"part 2 at N={count:,}"):
                return
            results.append(r)
            print(f"  N={count:,}: {r['wall']:.1f} s", flush=True)
    finally:
        if emulator is not None:
            emulator.close()
    print_table(
        ["N", "wall s", "req/s", "ok", "failed", "RSS base MiB", "peak MiB", "growth MiB"],
        [
            [
                f"{r['n']:,}",
                f"{r['wall']:.1f}",
                f"{r['ok'] / r['wall']:,.0f}",
                f"{r['ok']:,}",
                f"{sum(r['errors'].values()):,}",
                _mb(r["rss_base"]),
                _mb(r["rss_peak"]),
                _mb(r["rss_peak"] - r["rss_base"]),
            ]
            for r in results
        ],
    )
    small, large = results
    growth_small = max(small["rss_peak"] - small["rss_base"], 1)
    growth_large = large["rss_peak"] - large["rss_base"]
    ratio = growth_large / growth_small
    meaning = (
        "bounded: it does not grow with N"
        if ratio < 1.5
        else "GROWS with N: something keeps per-prompt state"
    )
    print(
        f"  peak growth at N={large['n']:,} / at N={small['n']:,}: {ratio:.2f}x for "
        f"{large['n'] / small['n']:g}x the prompts ({meaning})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fan-out benchmark (see module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="N=2,000 / 20,000, about 30 s")
    parser.add_argument("--n", type=int, default=None, help="prompts in part 1 (default 10,000)")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--server", choices=("granian", "trio"), default="granian")
    parser.add_argument("--memory-target", choices=("inproc", "emulator"), default="inproc")
    parser.add_argument("--memory-latency", type=float, default=0.01, help="fake provider, s")
    parser.add_argument("--part", type=int, choices=(1, 2), default=None, help="run one part")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    if args.n is None:
        args.n = 2_000 if args.quick else 10_000
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    if args.part in (None, 1):
        part1(args, server_cpu, client_cpu)
    if args.part in (None, 2):
        part2(args, server_cpu, client_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
