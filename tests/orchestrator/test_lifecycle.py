"""Lifecycle: ``async with``, ``initialize()`` + ``aclose()``, ``initialize()`` left to the end
of ``trio.run``, draining within the grace period, and calls after close."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from hafs_actors import (
    AllProvidersFailed,
    GenerateResult,
    HafsError,
    OrchestratorClosed,
    StreamInterruptedError,
    UnifiedOrchestrator,
    open_orchestrator,
)
from hafs_actors.testing.emulators import LatencyModel, open_emulators
from tests.orchestrator._helpers import (
    CountingAdapter,
    emulator_config,
    make_config,
    running,
    served_by,
)


async def test_async_with_and_open_orchestrator(autojump_clock: MockClock) -> None:
    async with open_emulators(["openai"], configs={"openai": emulator_config()}) as emus:
        async with open_orchestrator(make_config(emus)) as orch:
            assert orch.status().running
            result = await orch.generate("hi", provider="openai")
        assert not orch.status().running
        with pytest.raises(OrchestratorClosed):
            await orch.generate("hi", provider="openai")
    assert served_by(result) == "openai/gpt-5.2-mini"


async def test_initialize_then_aclose(autojump_clock: MockClock) -> None:
    async with open_emulators(["openai"], configs={"openai": emulator_config()}) as emus:
        orch = UnifiedOrchestrator(make_config(emus))
        with pytest.raises(OrchestratorClosed, match="not running"):
            await orch.generate("too early")
        await orch.initialize()
        await orch.initialize()  # idempotent
        result = await orch.generate("hi", provider="openai")
        started = trio.current_time()
        await orch.aclose()
        assert trio.current_time() - started < 0.1  # nothing in flight: no grace to wait out
        await orch.aclose()  # idempotent
        assert not orch.status().running
        with pytest.raises(OrchestratorClosed, match="closed"):
            await orch.generate("late", provider="openai")
        with pytest.raises(OrchestratorClosed):
            async with orch.stream("late", provider="openai"):
                pass
        with pytest.raises(OrchestratorClosed):
            await orch.embed(text="late", provider="openai")
    assert result.content


async def test_closing_an_idle_orchestrator_is_prompt(autojump_clock: MockClock) -> None:
    """Every provider actor stops at once when asked (none sits out its shutdown timeout)."""
    async with open_emulators(configs={p: emulator_config() for p in ("openai", "gemini")}) as emus:
        async with UnifiedOrchestrator(make_config(emus)) as orch:
            await orch.generate("hi", provider="gemini")
            closing = trio.current_time()
        assert trio.current_time() - closing < 0.1


class Tasks(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned: set[str] = set()
        self.exited: set[str] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned.add(task.name)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.exited.add(task.name)


def test_initialize_without_aclose_ends_with_trio_run() -> None:
    """The seed's sequence: no ``async with``, no ``aclose()``; ``trio.run`` ending stops it."""
    served: list[GenerateResult] = []

    async def main() -> None:
        async with open_emulators(["openai"], configs={"openai": emulator_config()}) as emus:
            orch = UnifiedOrchestrator(make_config(emus))
            await orch.initialize()
            served.append(await orch.generate("hi", provider="openai"))

    tasks = Tasks()
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0), instruments=[tasks])
    assert served[0].content
    assert "hafs-orchestrator" in tasks.spawned
    assert "hafs-orchestrator" in tasks.exited


async def test_leaving_drains_within_the_grace_period_then_cancels(
    autojump_clock: MockClock,
) -> None:
    quick = CountingAdapter("quick", latency=1.0)
    slow = CountingAdapter("slow", latency=30.0)
    outcomes: dict[str, Any] = {}

    async def call(orch: UnifiedOrchestrator, provider: str) -> None:
        try:
            outcomes[provider] = await orch.generate(
                "hi", provider=provider, allow_fallback=False, timeout=60.0
            )
        except HafsError as exc:
            outcomes[provider] = exc

    async with trio.open_nursery() as callers:
        async with running(
            ["openai"], custom={"quick": quick, "slow": slow}, shutdown_grace=2.0
        ) as (orch, _):
            callers.start_soon(call, orch, "quick")
            callers.start_soon(call, orch, "slow")
            await trio.sleep(0.1)
            closing = trio.current_time()
        closed_after = trio.current_time() - closing

    assert isinstance(outcomes["quick"], GenerateResult)  # finished within the grace period
    assert isinstance(outcomes["slow"], OrchestratorClosed)  # cancelled with a typed error
    assert closed_after == pytest.approx(2.0)  # the grace period, not more
    assert slow.active == 0


async def test_a_stream_cut_by_shutdown_ends_with_a_typed_error(autojump_clock: MockClock) -> None:
    paced = emulator_config(
        latency=LatencyModel(ttft_median=0.1, tokens_per_second=5.0), reply_tokens=(100, 100)
    )
    received: list[str] = []
    errors: list[BaseException] = []

    async def read(orch: UnifiedOrchestrator) -> None:
        try:
            async with orch.stream("hi", provider="openai") as stream:
                async for text in stream:
                    received.append(text)
        except HafsError as exc:
            errors.append(exc)

    async with (
        trio.open_nursery() as readers,
        running(["openai"], emulators={"openai": paced}, shutdown_grace=1.0) as (orch, _),
    ):
        readers.start_soon(read, orch)
        await trio.sleep(2.0)

    assert received  # it was streaming when the orchestrator closed
    (error,) = errors  # never a silent truncation
    assert isinstance(error, (OrchestratorClosed, StreamInterruptedError))


async def first(orch: UnifiedOrchestrator) -> None:
    await orch.generate("first", provider="slow")


async def test_requests_arriving_during_shutdown_are_refused(autojump_clock: MockClock) -> None:
    slow = CountingAdapter("slow", latency=1.0)
    refused: list[BaseException] = []
    async with running(["openai"], custom={"slow": slow}, shutdown_grace=5.0) as (orch, _):

        async def late() -> None:
            await trio.sleep(0.5)  # the orchestrator is draining by now
            try:
                await orch.generate("late", provider="slow")
            except (OrchestratorClosed, AllProvidersFailed) as exc:
                refused.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first, orch)
            await trio.sleep(0.1)
            nursery.start_soon(late)
            nursery.start_soon(orch.aclose)
    assert len(refused) == 1
    assert isinstance(refused[0], OrchestratorClosed)
