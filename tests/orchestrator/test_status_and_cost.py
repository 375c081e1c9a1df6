"""``status()`` snapshots, costs from configured prices, and ``max_cost_per_request``."""

from __future__ import annotations

import pytest
from trio.testing import MockClock

from hafs_actors import AllProvidersFailed, OrchestratorStatus
from hafs_actors.config import CostSettings
from hafs_actors.routing.capabilities import CapabilityOverride
from hafs_actors.testing.emulators import Fault, FaultPlan
from tests.orchestrator._helpers import emulator_config, running, served_by

#: USD per million tokens (input, output)
PRICES = {"gpt-4o": CapabilityOverride(input_price=2.5, output_price=10.0)}
CHAIN = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash")]


async def test_status_snapshot(autojump_clock: MockClock) -> None:
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500, nth=2)]))
    async with running(["openai", "gemini"], emulators={"openai": broken}) as (orch, _):
        before = orch.status()
        await orch.generate("a", fallback_providers=CHAIN)
        await orch.generate("b", fallback_providers=CHAIN)  # openai fails, gemini serves
        with pytest.raises(AllProvidersFailed):
            await orch.generate("c", provider="anthropic", allow_fallback=False)
        after = orch.status()

    assert isinstance(after, OrchestratorStatus)
    assert before.router.requests == 0
    assert after.running
    assert set(after.configured) == {"openai", "gemini"}
    assert after.down == ()
    router = after.router
    assert (router.requests, router.succeeded, router.failed, router.fallbacks) == (3, 2, 1, 1)
    assert router.in_flight == 0
    openai = after.providers["openai"]
    assert (openai.requests, openai.successes, openai.failures) == (2, 1, 1)
    assert openai.last_error is not None
    assert "ServerError" in openai.last_error
    assert openai.breaker.failures == 1
    assert after.providers["gemini"].successes == 1
    with pytest.raises(AttributeError):
        after.running = False  # type: ignore[misc]


async def test_cost_from_configured_prices(autojump_clock: MockClock) -> None:
    async with running(["openai", "gemini"], provider_changes={"openai": {"models": PRICES}}) as (
        orch,
        _,
    ):
        priced = await orch.generate("what does it cost", provider="openai", model="gpt-4o")
        async with orch.stream("and streamed", provider="openai", model="gpt-4o") as stream:
            streamed = await stream.collect()
        unpriced = await orch.generate("free?", provider="gemini", model="gemini-2.5-flash")
        status = orch.status()

    for result in (priced, streamed):
        usage = result.usage
        assert usage.input_tokens
        assert usage.output_tokens
        expected = (usage.input_tokens * 2.5 + usage.output_tokens * 10.0) / 1e6
        assert result.cost == pytest.approx(expected)
    assert unpriced.cost is None  # no price configured: unknown, not zero
    total = (priced.cost or 0.0) + (streamed.cost or 0.0)
    assert status.providers["openai"].cost == pytest.approx(total)
    assert status.providers["gemini"].cost == 0.0
    assert status.total_cost == pytest.approx(total)


async def test_max_cost_per_request_skips_expensive_candidates(autojump_clock: MockClock) -> None:
    async with running(
        ["openai", "gemini"],
        provider_changes={"openai": {"models": PRICES}},
        cost=CostSettings(max_cost_per_request=0.01),
    ) as (orch, emus):
        # no max_tokens: the estimate assumes gpt-4o's maximum output (16k tokens): $0.16
        skipped = await orch.generate("q", fallback_providers=CHAIN)
        # a small max_tokens keeps the estimate under the limit
        cheap = await orch.generate("q", fallback_providers=CHAIN, max_tokens=50)
        # a per-request limit replaces the configured one
        strict = await orch.generate("q", fallback_providers=CHAIN, max_tokens=50, max_cost=1e-6)

    assert served_by(skipped) == "gemini/gemini-2.5-flash"
    first = skipped.attempts[0]
    assert (first.provider, first.outcome) == ("openai", "skipped")
    assert first.error is not None
    assert first.error.startswith("cost estimate ")
    assert first.error.endswith("> max 0.01")
    assert served_by(cheap) == "openai/gpt-4o"
    assert served_by(strict) == "gemini/gemini-2.5-flash"
    assert emus["openai"].stats().count() == 1
