"""The harness against the in-process emulators over real loopback sockets (MockClock).

With a fixed latency plan (TTFT 250 ms, 50 tokens/s) the measured figures are exact: the
emulators pace on trio's clock, and socket I/O takes no virtual time.
"""

from __future__ import annotations

import pytest

from hafs_actors.bench import AdapterTarget, BenchSpec, ClosedLoop, OpenLoop, run_benchmark
from hafs_actors.config.model import HafsConfig
from hafs_actors.testing.emulators import (
    EmulatorConfig,
    LatencyModel,
    default_profiles,
    open_emulators,
)

PLAN = LatencyModel(ttft_median=0.25, tokens_per_second=50.0)


def _chat_model(provider: str) -> str:
    return next(p.name for p in default_profiles(provider) if p.kind == "chat")


def _config(emulators) -> HafsConfig:
    urls = {n: e.base_url + ("/v1" if n == "openai" else "") for n, e in emulators.items()}
    keys = {e.api_key for e in emulators.values()}
    (key,) = keys
    return HafsConfig.for_emulators(urls, api_key=key)


async def test_adapter_targets_measure_every_provider_exactly(autojump_clock):
    async with open_emulators(None, config=EmulatorConfig(latency=PLAN)) as emulators:
        config = _config(emulators)
        targets = [
            AdapterTarget(name, _chat_model(name), config.adapter_settings(name))
            for name in emulators
        ]
        spec = BenchSpec(targets=targets, load=ClosedLoop(concurrency=4), requests=12)
        report = await run_benchmark(spec)
    assert [t.name.split(":")[0] for t in report.targets] == list(emulators)
    for result in report.targets:
        s = result.summary
        assert (s.requests, s.ok, s.errors) == (12, 12, {}), result.name
        assert s.ttft is not None
        assert s.itl is not None
        assert s.ttft.min == pytest.approx(0.25, abs=1e-9)
        assert s.ttft.max == pytest.approx(0.25, abs=1e-9)
        assert s.itl.p50 == pytest.approx(0.02, abs=1e-9)
        assert s.tokens_estimated == 0  # every provider reported usage
        assert s.output_tokens == sum(x.output_tokens or 0 for x in result.samples)
        sample = result.samples[0]
        # One token per chunk at 50 tokens/s: E2E = TTFT + (tokens - 1) / 50.
        assert sample.output_tokens is not None
        assert sample.e2e == pytest.approx(0.25 + (sample.output_tokens - 1) * 0.02, abs=1e-9)
        assert sample.tpot == pytest.approx(0.02, abs=1e-9)


async def test_open_loop_against_an_emulator(autojump_clock):
    async with open_emulators(["anthropic"], config=EmulatorConfig(latency=PLAN)) as emulators:
        config = _config(emulators)
        target = AdapterTarget(
            "anthropic", "claude-haiku-4-5", config.adapter_settings("anthropic")
        )
        spec = BenchSpec(
            targets=[target],
            load=OpenLoop(rate=20.0, arrival="poisson"),
            duration=5.0,
            warmup_seconds=1.0,
        )
        result = (await run_benchmark(spec)).targets[0]
    s = result.summary
    assert s.errors == {}
    assert s.dropped == 0
    assert s.late == 0
    assert s.warmup_requests + s.requests == len(result.samples)
    # Poisson at 20/s for 5 s: the seeded schedule gives a count near 100.
    assert 70 <= s.requests <= 130
    assert s.ttft is not None
    assert s.ttft.p99 == pytest.approx(0.25, abs=1e-9)
