"""Hedged requests: a second candidate starts when the first has produced nothing in time; the
first to produce content wins and the other is cancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio
from trio.testing import MockClock

from hafs_actors import GenerateRequest, UnifiedOrchestrator
from hafs_actors.config import HafsConfig, RoutingSettings
from hafs_actors.testing import Delay, FunctionAdapter, ScriptedAdapter

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


async def test_a_slow_first_candidate_is_hedged(autojump_clock: MockClock) -> None:
    slow = ScriptedAdapter([Delay(10.0), "slow answer"])
    fast = ScriptedAdapter([Delay(0.5), "fast answer"])
    async with UnifiedOrchestrator(HafsConfig()) as orch:
        orch.register_adapter("slow", slow)
        orch.register_adapter("fast", fast)
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=["slow", "fast"], hedge_after=1.0)
        elapsed = trio.current_time() - start
    assert result.content == "fast answer"
    assert elapsed == 1.5  # hedged at 1 s, answered 0.5 s later; the slow one never waited out
    outcomes = [(a.provider, a.outcome) for a in result.attempts]
    assert ("fast", "ok") in outcomes
    assert ("slow", "skipped") in outcomes  # cancelled: lost the race
    assert result.fallback_used


async def test_no_hedge_when_the_first_answers_in_time(autojump_clock: MockClock) -> None:
    first = ScriptedAdapter([Delay(0.5), "first"])
    second = ScriptedAdapter(["second"])
    async with UnifiedOrchestrator(HafsConfig()) as orch:
        orch.register_adapter("first", first)
        orch.register_adapter("second", second)
        result = await orch.generate("q", fallback_providers=["first", "second"], hedge_after=1)
    assert result.content == "first"
    assert second.requests == []


async def test_requests_with_tools_are_hedged_only_when_idempotent(
    autojump_clock: MockClock,
) -> None:
    async with UnifiedOrchestrator(HafsConfig()) as orch:
        slow = ScriptedAdapter([Delay(5.0), "slow", Delay(5.0), "slow"])
        fast = ScriptedAdapter(["fast"])
        orch.register_adapter("slow", slow)
        orch.register_adapter("fast", fast)
        chain = ["slow", "fast"]
        plain = await orch.generate("q", fallback_providers=chain, hedge_after=1, tools=[TOOL])
        hedged = await orch.generate(
            "q", fallback_providers=chain, hedge_after=1, tools=[TOOL], idempotent=True
        )
    assert plain.content == "slow"  # never sent twice
    assert hedged.content == "fast"


async def test_a_hedged_stream_takes_the_first_to_produce_a_token(
    autojump_clock: MockClock,
) -> None:
    def words(delay: float, text: str) -> FunctionAdapter:
        async def stream(request: GenerateRequest) -> AsyncIterator[str]:
            await trio.sleep(delay)
            for word in text.split():
                yield word + " "

        async def unused(request: GenerateRequest) -> str:
            return text

        return FunctionAdapter(unused, stream=stream)

    routing = RoutingSettings(hedge_after={"fast": 1.0})  # per tier, from the configuration
    async with UnifiedOrchestrator(HafsConfig(routing=routing)) as orch:
        orch.register_adapter("slow", words(20.0, "slow words"))
        orch.register_adapter("quick", words(0.2, "quick words here"))
        orch.set_tier_route("fast", ["slow", "quick"])
        start = trio.current_time()
        async with orch.stream("q", tier="fast") as stream:
            text = "".join([t async for t in stream])
        elapsed = trio.current_time() - start
    assert text == "quick words here "
    assert elapsed < 2.0


async def test_hedging_against_the_emulators_closes_the_losers_connection(
    autojump_clock: MockClock,
) -> None:
    from hafs_actors.testing.emulators import Fault, FaultPlan
    from tests.orchestrator._helpers import emulator_config, running, served_by

    hang = emulator_config(faults=FaultPlan([Fault(kind="hang", nth=1)]))
    chain = ["openai:gpt-4o-mini", "gemini:gemini-2.5-flash"]
    async with running(["openai", "gemini"], emulators={"openai": hang}) as (orch, emus):
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=chain, hedge_after=1.0)
        elapsed = trio.current_time() - start
        await trio.sleep(0.1)
        pool = orch.status().providers["openai"].connections
    assert served_by(result) == "gemini/gemini-2.5-flash"
    assert 1.0 <= elapsed < 2.0  # not the hung provider's attempt timeout
    assert emus["openai"].stats().count(status=0) == 1  # the hung request, never answered
    assert pool is not None
    assert pool.in_use == 0  # the loser's connection was closed, its permits released
