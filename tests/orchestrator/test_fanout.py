"""Fan-out: results as they complete or in input order, one outcome per item, and bounds on
both the requests in flight and the items held between the input and the reader."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import trio
from trio.testing import MockClock

from hafs_actors import (
    AllProvidersFailed,
    BadRequestError,
    GenerateRequest,
    GenerateResult,
    HafsError,
    UnifiedOrchestrator,
)
from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.testing.emulators import Fault, FaultPlan, LatencyModel
from tests.orchestrator._helpers import assert_quiescent, emulator_config, running, served_by


class EchoAdapter(NativeAdapter):
    """Answers with the prompt after a pseudo-random delay; prompts containing "bad" fail."""

    def __init__(self, seed: int = 1) -> None:
        self.provider = "echo"
        self.rng = random.Random(seed)
        self.active = 0
        self.peak = 0

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await trio.sleep(self.rng.choice([0.0, 0.01, 0.5, 2.0]))
        finally:
            self.active -= 1
        prompt = request.flattened_prompt()
        if "bad" in prompt:
            raise BadRequestError(f"refused {prompt!r}", provider="echo", model=request.model)
        return GenerateResult(content=prompt, provider="echo", model=request.model)


class Source:
    """A lazy input that records how far the fan-out has pulled it."""

    def __init__(self, count: int, bad_every: int = 0) -> None:
        self.count = count
        self.bad_every = bad_every
        self.pulled = 0

    def __iter__(self) -> Iterator[str]:
        for i in range(self.count):
            self.pulled += 1
            bad = self.bad_every and i % self.bad_every == 0
            yield f"bad {i}" if bad else f"prompt {i}"


@pytest.mark.parametrize("ordered", [False, True])
async def test_every_item_gets_one_outcome_within_the_bounds(
    autojump_clock: MockClock, ordered: bool
) -> None:
    echo = EchoAdapter()
    source = Source(2000, bad_every=7)
    concurrency = 16
    async with running(["gemini"], custom={"echo": echo}) as (orch, _):
        seen: list[int] = []
        outstanding_peak = 0
        async with orch.fanout(
            source, concurrency=concurrency, ordered=ordered, provider="echo", allow_fallback=False
        ) as results:
            async for item in results:
                outstanding_peak = max(outstanding_peak, source.pulled - len(seen))
                seen.append(item.index)
                if item.index % 7 == 0:
                    assert isinstance(item.error, AllProvidersFailed)
                    assert [a.outcome for a in item.error.attempts] == ["BadRequestError"]
                    assert item.result is None
                    assert not item.ok
                    with pytest.raises(AllProvidersFailed):
                        item.unwrap()
                else:
                    assert item.error is None
                    assert item.unwrap().content == item.input == f"prompt {item.index}"
            assert (results.completed, results.failed) == (2000, 286)
        await assert_quiescent(orch)

    assert sorted(seen) == list(range(2000))  # exactly one outcome per input
    if ordered:
        assert seen == list(range(2000))
    else:
        assert seen != list(range(2000))  # completion order, not input order
    assert echo.peak == concurrency  # the bound is reached, never passed
    assert outstanding_peak <= 2 * concurrency + 1  # pulled but not yet handed to the reader


async def test_a_reader_that_stops_reading_stops_the_input(autojump_clock: MockClock) -> None:
    echo = EchoAdapter()
    source = Source(100_000)
    async with running(["gemini"], custom={"echo": echo}) as (orch, _):
        async with orch.fanout(source, concurrency=8, provider="echo") as results:
            first = await results.__anext__()
            await trio.sleep(60.0)  # a stalled reader: nothing more may start
            assert source.pulled <= 8 + 1 + 1
            assert echo.active == 0
        # leaving early cancels whatever was still running
        await assert_quiescent(orch)
    assert first.ok
    assert source.pulled < 20


async def test_leaving_the_block_early_cancels_requests_in_flight(
    autojump_clock: MockClock,
) -> None:
    echo = EchoAdapter()
    async with running(["gemini"], custom={"echo": echo}) as (orch, _):
        async with orch.fanout(Source(1000), concurrency=32, provider="echo") as results:
            async for item in results:
                if item.index > 100:
                    break
        assert echo.active == 0
        await assert_quiescent(orch)


async def test_fanout_against_an_emulator_with_failures(autojump_clock: MockClock) -> None:
    flaky = emulator_config(
        faults=FaultPlan([Fault(kind="http_error", status=400, every=5)]),
        latency=LatencyModel(ttft_median=0.05),
    )
    prompts = [f"p{i}" for i in range(200)]
    peak = 0
    async with running(["openai"], emulators={"openai": flaky}) as (orch, emus):

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, orch.status().providers["openai"].in_flight)
                await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            outcomes = await orch.generate_many(prompts, concurrency=20, provider="openai")
            nursery.cancel_scope.cancel()
        await assert_quiescent(orch)
    assert 1 < peak <= 20  # the provider actor never held more than the bound
    assert len(outcomes) == 200
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 40 == emus["openai"].stats().count(status=400)
    assert all(isinstance(e, HafsError) for e in errors)
    ok = [o for o in outcomes if isinstance(o, GenerateResult)]
    assert all(served_by(r).startswith("openai/") for r in ok)


async def test_items_may_be_argument_mappings(autojump_clock: MockClock) -> None:
    async with running(["openai", "gemini"]) as (orch, _):
        items = [
            {"prompt": "a", "provider": "openai", "model": "gpt-4o"},
            {"prompt": "b", "provider": "gemini", "model": "gemini-2.5-flash"},
            "c",
        ]
        async with orch.fanout(items, concurrency=2, ordered=True, provider="openai") as results:
            served = [served_by(item.unwrap()) async for item in results]
    assert served == ["openai/gpt-4o", "gemini/gemini-2.5-flash", "openai/gpt-5.2-mini"]


async def test_concurrency_must_be_positive(autojump_clock: MockClock) -> None:
    async with running(["openai"]) as (orch, _):
        with pytest.raises(ValueError, match="concurrency"):
            async with orch.fanout(["x"], concurrency=0):
                pass


def test_fanout_is_exported() -> None:
    import hafs_actors

    assert hafs_actors.FanoutItem is not None
    assert UnifiedOrchestrator.fanout is not None
