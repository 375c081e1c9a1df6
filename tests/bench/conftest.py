"""Fakes for the benchmark harness tests: an in-memory target with scripted latencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from hafs_actors.bench import RequestTrace


@attrs.frozen
class Plan:
    """How one fake request behaves: time to first chunk, then gaps between chunks."""

    ttft: float = 0.1
    gaps: tuple[float, ...] = (0.02,) * 9
    tokens: int | None = None  # reported usage; None: not reported
    error: BaseException | None = None  # raised after the chunks
    hang: bool = False  # never finishes (until cancelled)

    @property
    def chunks(self) -> int:
        return 1 + len(self.gaps)


class FakeTarget:
    """A :class:`~hafs_actors.bench.BenchTarget` whose n-th request follows ``plan(n)``."""

    def __init__(self, name: str, plan: Callable[[int], Plan]) -> None:
        self.name = name
        self.description = {"via": "fake"}
        self.plan = plan
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.sessions = 0
        self.session_open = False

    @asynccontextmanager
    async def session(self) -> AsyncIterator[object]:
        self.sessions += 1
        self.session_open = True
        try:
            yield self
        finally:
            self.session_open = False

    async def send(self, prompt: str, max_tokens: int, trace: RequestTrace) -> None:
        assert self.session_open
        plan = self.plan(self.calls)
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if plan.hang:
                await trio.sleep_forever()
            await trio.sleep(plan.ttft)
            trace.chunk_times.append(trio.current_time())
            for gap in plan.gaps:
                await trio.sleep(gap)
                trace.chunk_times.append(trio.current_time())
            if plan.error is not None:
                raise plan.error
            trace.output_tokens = plan.tokens
        except trio.Cancelled:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


class Fakes:
    """What the ``fakes`` fixture hands to tests (conftest modules are not importable)."""

    Plan = Plan
    Target = FakeTarget

    @staticmethod
    def target(name: str = "fake", plan: Callable[[int], Plan] | Plan | None = None) -> FakeTarget:
        if plan is None:
            plan = Plan(tokens=10)
        if isinstance(plan, Plan):
            fixed = plan
            return FakeTarget(name, lambda _: fixed)
        return FakeTarget(name, plan)


@pytest.fixture
def fakes() -> type[Fakes]:
    return Fakes
