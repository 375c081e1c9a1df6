"""Hedging's effect on time to first token when the first provider has a slow tail.

Two emulated providers behind one route: the first with a heavy TTFT tail (lognormal, median
0.3 s, p99 6 s), the second steady (median 0.5 s, p99 0.9 s). The same 2,000 streamed requests
(20 in flight) run without hedging and with ``hedge_after`` 0.5, 1 and 2 s; for each the
caller-side TTFT percentiles and how many requests also went to the second provider (the price
of the hedge).

The emulators' latency model reads trio's clock, so the run uses ``trio.testing.MockClock``:
the latencies are the model's, the run takes seconds, and the figures are the same every time
(seeded), which is what a comparison of policies needs. It measures the policy, not CPU cost.

    .venv/bin/python benchmarks/hedging.py
"""

from __future__ import annotations

import statistics

import trio
from trio.testing import MockClock

from hafs_actors import UnifiedOrchestrator
from hafs_actors.config import RequestTimeouts
from hafs_actors.testing import emulated_config
from hafs_actors.testing.emulators import EmulatorConfig, LatencyModel, open_emulators

REQUESTS = 2000
IN_FLIGHT = 20
ROUTE = ["openai:gpt-4o-mini", "gemini:gemini-2.5-flash"]
SLOW_TAIL = LatencyModel(ttft_median=0.3, ttft_p99=6.0, tokens_per_second=200.0)
STEADY = LatencyModel(ttft_median=0.5, ttft_p99=0.9, tokens_per_second=200.0)


async def run(hedge_after: float | None) -> tuple[list[float], int]:
    configs = {
        "openai": EmulatorConfig(latency=SLOW_TAIL, seed=1),
        "gemini": EmulatorConfig(latency=STEADY, seed=2),
    }
    async with open_emulators(["openai", "gemini"], configs=configs) as emulators:
        timeouts = RequestTimeouts(stream_ttft_timeout=30.0)
        config = emulated_config(emulators, timeouts=timeouts)
        ttfts: list[float] = []
        async with UnifiedOrchestrator(config) as orch:
            queue = iter(range(REQUESTS))

            async def worker() -> None:
                for _ in queue:
                    start = trio.current_time()
                    async with orch.stream(
                        "q", fallback_providers=ROUTE, max_tokens=16, hedge_after=hedge_after
                    ) as stream:
                        first = True
                        async for _text in stream:
                            if first:
                                ttfts.append(trio.current_time() - start)
                                first = False

            async with trio.open_nursery() as nursery:
                for _ in range(IN_FLIGHT):
                    nursery.start_soon(worker)
        second = emulators["gemini"].stats().total
    return ttfts, second


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    print(f"{REQUESTS} streams, {IN_FLIGHT} in flight; first provider's TTFT tail p99 6 s")
    print(f"{'hedge_after':>11} | {'p50 s':>6} | {'p90 s':>6} | {'p99 s':>6} | {'also sent':>9}")
    for hedge in (None, 2.0, 1.0, 0.5):
        ttfts, second = trio.run(run, hedge, clock=MockClock(autojump_threshold=0))
        label = "off" if hedge is None else f"{hedge:g} s"
        print(
            f"{label:>11} | {statistics.median(ttfts):6.2f} | {percentile(ttfts, 0.9):6.2f} | "
            f"{percentile(ttfts, 0.99):6.2f} | {second / REQUESTS:8.1%}"
        )


if __name__ == "__main__":
    main()
