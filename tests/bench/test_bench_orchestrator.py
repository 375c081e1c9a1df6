"""OrchestratorTarget through the real UnifiedOrchestrator against in-process emulators."""

from __future__ import annotations

import pytest

from hafs_actors.bench import (
    AdapterTarget,
    BenchSpec,
    ClosedLoop,
    OrchestratorTarget,
    run_benchmark,
)
from hafs_actors.config.model import HafsConfig
from hafs_actors.testing.emulators import EmulatorConfig, LatencyModel, open_emulators

PLAN = LatencyModel(ttft_median=0.25, tokens_per_second=50.0)


async def test_orchestrator_and_adapter_side_by_side(autojump_clock):
    async with open_emulators(["openai", "anthropic"], config=EmulatorConfig(latency=PLAN)) as emus:
        urls = {n: e.base_url + ("/v1" if n == "openai" else "") for n, e in emus.items()}
        config = HafsConfig.for_emulators(urls, api_key=emus["openai"].api_key)
        targets = [
            OrchestratorTarget(provider="openai", model="gpt-4o-mini", config=config),
            AdapterTarget(
                "openai", "gpt-4o-mini", config.adapter_settings("openai"), name="direct"
            ),
            OrchestratorTarget(provider="anthropic", model="claude-haiku-4-5", config=config),
        ]
        spec = BenchSpec(targets=targets, load=ClosedLoop(concurrency=4), requests=12)
        report = await run_benchmark(spec)
    for result in report.targets:
        s = result.summary
        assert (s.requests, s.ok, s.errors) == (12, 12, {}), result.name
        assert s.ttft is not None
        assert s.ttft.p50 == pytest.approx(0.25, abs=1e-9)
        assert s.itl is not None
        assert s.itl.p50 == pytest.approx(0.02, abs=1e-9)
        assert s.tokens_estimated == 0
    via_orchestrator = report.targets[0]
    assert {x.provider for x in via_orchestrator.samples} == {"openai"}
    assert not any(x.fallback_used for x in via_orchestrator.samples)
    assert report.targets[0].summary.output_tokens == report.targets[1].summary.output_tokens
