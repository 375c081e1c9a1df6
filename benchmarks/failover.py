"""Failover: the primary provider goes hard down (503s, then hangs) under steady load.

Two emulated OpenAI-protocol providers, each in its own process on the emulator core: the
primary (``openai``) and a backup (``backup``, an OpenAI-compatible provider). Requests arrive
open loop at a constant rate with ``fallback_providers=[openai, backup]``. The primary's fault
plan is switched at run time through its admin endpoint (``POST /_emulator/faults``):

* healthy (the baseline, measured in the same run),
* every request answered ``503`` (``Fault(kind="http_error", status=503)``),
* every request read and never answered (``Fault(kind="hang")``).

It prints, per 1 s bucket of request start times, the requests started, succeeded and failed,
goodput (successes within the SLO per second), p50/p99/max latency and which provider served;
then the breaker's transitions, the time from the first 503 until the breaker opened, and the
latency added per request while it is open against the healthy baseline.

Settings that differ from the defaults (printed with the results): the attempt timeout is 2 s
(default 60 s, far longer than this run) so a hung half-open probe is bounded; the breaker and
the retries are the defaults.

    .venv/bin/python benchmarks/failover.py            # 5 s + 10 s + 15 s at 200 req/s
    .venv/bin/python benchmarks/failover.py --quick    # 2 s + 5 s + 7 s, 2 s open duration
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
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
    percentile,
    print_table,
    run_worker,
    split_cores,
)

PHASE_FAULTS: dict[str, dict[str, Any]] = {
    "healthy": {"faults": []},
    "503": {"faults": [{"kind": "http_error", "status": 503, "message": "primary is down"}]},
    "hang": {"faults": [{"kind": "hang"}]},
}
PHASES = ("healthy", "503", "hang")

# -- worker side ---------------------------------------------------------------------------------


def _config(case: dict[str, Any]) -> Any:
    import attrs

    from hafs_actors.config import BreakerSettings, HafsConfig, RequestTimeouts

    config = HafsConfig.for_emulators(
        {"openai": case["primary_url"], "backup": case["backup_url"]},
        api_key=BENCH_KEY,
        timeouts=RequestTimeouts(attempt_timeout=case["attempt_timeout"], request_deadline=30.0),
    )
    primary = config.providers["openai"]
    if case.get("open_duration") is not None:
        breaker = attrs.evolve(BreakerSettings(), open_duration=case["open_duration"])
        primary = attrs.evolve(primary, breaker=breaker)
    return attrs.evolve(config, providers={**config.providers, "openai": primary})


async def _run(case: dict[str, Any]) -> dict[str, Any]:
    import httpx
    import trio

    from hafs_actors import UnifiedOrchestrator
    from hafs_actors.errors import AllProvidersFailed, HafsError

    rate = case["rate"]
    ends = case["phase_ends"]  # seconds from the start at which each phase ends
    total = ends[-1]
    chain = [("openai", MODEL), ("backup", MODEL)]
    records: list[tuple[float, float, str, str]] = []  # start, latency, served by | error, trail
    switches: list[tuple[float, str]] = []
    dropped = 0
    outstanding = [0]

    async def one(started: float) -> None:
        try:
            result = await orch.generate(
                "Say something short.", fallback_providers=chain, max_tokens=16
            )
        except HafsError as exc:
            attempts = exc.attempts if isinstance(exc, AllProvidersFailed) else ()
            trail = ",".join(f"{a.provider}:{a.outcome}" for a in attempts)
            records.append(
                (started - t0, trio.current_time() - started, "!" + type(exc).__name__, trail)
            )
        else:
            trail = ",".join(f"{a.provider}:{a.outcome}" for a in result.attempts)
            # The configured name of the provider that answered (the last attempt): for an
            # OpenAI-compatible provider ``result.provider`` is the kind, not the name.
            served = result.attempts[-1].provider if result.attempts else result.provider
            records.append((started - t0, trio.current_time() - started, served, trail))
        finally:
            outstanding[0] -= 1

    async def switch_faults(admin: httpx.AsyncClient) -> None:
        for phase, end in zip(PHASES[1:], ends[:-1], strict=True):
            await trio.sleep_until(t0 + end)
            response = await admin.post("/_emulator/faults", json=PHASE_FAULTS[phase])
            response.raise_for_status()
            switches.append((trio.current_time() - t0, phase))

    readers = [cpu_seconds_reader(pid) for pid in case["server_pids"]]

    def server_cpu() -> float | None:
        values = [read() for read in readers]
        return None if None in values else sum(v for v in values if v is not None)

    async with (
        UnifiedOrchestrator(_config(case)) as orch,
        httpx.AsyncClient(base_url=case["primary_admin"], trust_env=False) as admin,
    ):
        await trio.sleep(0.3)  # provider actors up
        # Warm both pools so the baseline is not connection setup.
        for provider in ("openai", "backup"):
            await orch.generate("warm up", provider=provider, model=MODEL, allow_fallback=False)
        cpu0, server0 = time.process_time(), server_cpu()
        t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(switch_faults, admin)
            index = 0
            while True:
                at = t0 + index / rate
                if at - t0 >= total:
                    break
                await trio.sleep_until(at)
                if outstanding[0] >= case["max_outstanding"]:
                    dropped += 1
                else:
                    outstanding[0] += 1
                    nursery.start_soon(one, trio.current_time())
                index += 1
        wall = trio.current_time() - t0
        cpu, server1 = time.process_time() - cpu0, server_cpu()
        events = [
            (at - t0, str(event.previous.value), str(event.state.value), str(event.reason))
            for at, provider, event in orch.breaker_events
            if provider == "openai" and at >= t0
        ]
    result = {
        **case,
        "records": records,
        "switches": switches,
        "breaker": events,
        "dropped": dropped,
        "wall": wall,
        "client_share": cpu / wall,
    }
    if server0 is not None and server1 is not None:
        result["server_share"] = (server1 - server0) / wall
    return result


def worker_main(case_json: str) -> None:
    import logging

    import trio

    # Every failed attempt logs a warning; thousands of them would only cost CPU here.
    logging.getLogger("hafs_actors").setLevel(logging.ERROR)
    emit_result(trio.run(_run, json.loads(case_json)))


# -- orchestrating side --------------------------------------------------------------------------


def _phase_at(t: float, ends: Sequence[float]) -> str:
    for phase, end in zip(PHASES, ends, strict=True):
        if t < end:
            return phase
    return PHASES[-1]


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.1f}"


def _open_intervals(
    events: list[list[Any]], end: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(open intervals, half-open intervals) of the primary's breaker, from its transitions."""
    opened: list[tuple[float, float]] = []
    half: list[tuple[float, float]] = []
    state, since = "closed", 0.0
    for at, _previous, new, _reason in events:
        if state == "open":
            opened.append((since, at))
        elif state == "half_open":
            half.append((since, at))
        state, since = new, at
    if state == "open":
        opened.append((since, end))
    elif state == "half_open":
        half.append((since, end))
    return opened, half


def report(r: dict[str, Any], slo: float) -> None:
    ends = r["phase_ends"]
    records = r["records"]
    last = max((start for start, *_ in records), default=0.0)
    buckets = int(last) + 1
    rows = []
    for second in range(buckets):
        mine = [rec for rec in records if second <= rec[0] < second + 1]
        ok = [rec for rec in mine if not rec[2].startswith("!")]
        latencies = sorted(rec[1] for rec in ok)
        served = Counter(rec[2] for rec in ok)
        good = sum(1 for rec in ok if rec[1] <= slo)
        rows.append(
            [
                f"{second:>2}-{second + 1:<2}",
                _phase_at(second + 0.5, ends),
                str(len(mine)),
                str(len(ok)),
                str(len(mine) - len(ok)),
                str(good),
                _ms(percentile(latencies, 50)),
                _ms(percentile(latencies, 99)),
                _ms(latencies[-1] if latencies else float("nan")),
                f"{served.get('openai', 0)}/{served.get('backup', 0)}",
            ]
        )
    print(f"\nPer 1 s of request start time (goodput: succeeded within {slo * 1000:g} ms)")
    print_table(
        [
            "t, s",
            "primary",
            "started",
            "ok",
            "failed",
            "goodput/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "served primary/backup",
        ],
        rows,
    )

    print("\nPrimary's breaker transitions (s from start):")
    for at, phase in r["switches"]:
        print(f"  {at:7.3f}  fault plan -> {phase}")
    for at, previous, new, reason in r["breaker"]:
        print(f"  {at:7.3f}  breaker {previous} -> {new} ({reason})")

    healthy = sorted(rec[1] for rec in records if 1.0 <= rec[0] < ends[0] and rec[2] == "openai")
    opened, half = _open_intervals(r["breaker"], r["wall"])
    open_starts = sorted(
        rec[1]
        for rec in records
        if any(a <= rec[0] < b for a, b in opened) and not rec[2].startswith("!")
    )
    first_503 = ends[0]
    first_open = next(
        (at for at, _p, new, _r in r["breaker"] if new == "open" and at >= first_503), None
    )
    before_open = [
        rec
        for rec in records
        if first_503 <= rec[0] < (first_open if first_open is not None else r["wall"])
    ]
    worst = max(before_open, key=lambda rec: rec[1], default=None)
    probes = [rec for rec in records if "openai:ProviderTimeoutError" in rec[3]]
    failed = [rec for rec in records if rec[2].startswith("!")]
    print("\nSummary")
    summary = [
        ["requests sent / failed / dropped", f"{len(records):,} / {len(failed)} / {r['dropped']}"],
        [
            "healthy baseline p50 / p99",
            f"{_ms(percentile(healthy, 50))} / {_ms(percentile(healthy, 99))} ms",
        ],
        [
            "time from first 503 to breaker open",
            "never opened"
            if first_open is None
            else f"{(first_open - first_503) * 1000:,.0f} ms "
            f"({len(before_open)} requests started in between)",
        ],
        [
            "latency while open p50 / p99",
            f"{_ms(percentile(open_starts, 50))} / {_ms(percentile(open_starts, 99))} ms "
            f"({len(open_starts):,} requests)",
        ],
        [
            "added per request while open (p50 / p99)",
            f"{_ms(percentile(open_starts, 50) - percentile(healthy, 50))} / "
            f"{_ms(percentile(open_starts, 99) - percentile(healthy, 99))} ms",
        ],
        [
            "worst request before the breaker opened",
            "-"
            if worst is None
            else f"{_ms(worst[1])} ms, attempts: {worst[3].replace(',', ' > ')}",
        ],
        [
            "half-open probes that hung (attempt timeout)",
            f"{len(probes)}"
            + "".join(
                f"; {rec[1]:.2f} s, attempts: {rec[3].replace(',', ' > ')}" for rec in probes[:3]
            ),
        ],
        [
            "time in open / half-open state",
            f"{sum(b - a for a, b in opened):.1f} s / {sum(b - a for a, b in half):.2f} s",
        ],
        [
            "CPU share client / emulators",
            f"{r['client_share'] * 100:.0f}% / "
            + ("n/a" if "server_share" not in r else f"{r['server_share'] * 100:.0f}%"),
        ],
    ]
    print_table(["measure", "value"], summary)
    if failed:
        kinds = Counter(rec[2][1:] for rec in failed)
        print(f"  ! failed requests: {dict(kinds)}; first trail: {failed[0][3]}")
    if healthy and open_starts:
        factor = median(open_starts) / median(healthy)
        print(f"  while the breaker is open a request takes {factor:.2f}x the healthy median")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="failover benchmark (see module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2 s + 5 s + 7 s phases")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--phases", help="seconds of healthy,503,hang (default 5,10,15)")
    parser.add_argument("--attempt-timeout", type=float, default=2.0)
    parser.add_argument(
        "--open-duration",
        type=float,
        default=None,
        help="breaker open duration, s (default: the config default, 5 s; quick: 2 s)",
    )
    parser.add_argument("--slo", type=float, default=0.5, help="goodput latency SLO, s")
    parser.add_argument("--server", choices=("granian", "trio"), default="granian")
    parser.add_argument("--json-out", help="also write the raw records to this file")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    phases_text = args.phases or ("2,5,7" if args.quick else "5,10,15")
    lengths = [float(x) for x in phases_text.split(",")]
    if len(lengths) != 3 or min(lengths) <= 0:
        parser.error("--phases needs three positive numbers: healthy,503,hang")
    ends = [sum(lengths[: i + 1]) for i in range(3)]
    open_duration = args.open_duration
    if open_duration is None and args.quick:
        open_duration = 2.0
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    print(
        f"load: {args.rate:g} req/s open loop for {ends[-1]:g} s; phases healthy "
        f"{lengths[0]:g} s, 503 {lengths[1]:g} s, hang {lengths[2]:g} s; attempt timeout "
        f"{args.attempt_timeout:g} s; breaker open duration "
        f"{'5 (default)' if open_duration is None else f'{open_duration:g}'} s, other breaker "
        "and retry settings default; emulators zero latency"
    )
    spec = emulator_spec(reply_tokens=16)
    with (
        EmulatorProcess(spec, cpu=server_cpu, server=args.server) as primary,
        EmulatorProcess(spec, cpu=server_cpu, server=args.server) as backup,
    ):
        case = {
            "rate": args.rate,
            "phase_ends": ends,
            "attempt_timeout": args.attempt_timeout,
            "open_duration": open_duration,
            "primary_url": primary.api_url,
            "primary_admin": primary.base_url,
            "backup_url": backup.api_url,
            "server_pids": [primary.process.pid, backup.process.pid],
            "max_outstanding": 5000,
        }
        r = run_worker(Path(__file__), case, timeout=ends[-1] + 120, cpu=client_cpu)
    if "failed" in r:
        print(f"  ! the run failed: {r['failed']}")
        return 1
    report(r, args.slo)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
