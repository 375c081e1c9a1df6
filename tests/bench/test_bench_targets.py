"""AdapterTarget and OrchestratorTarget against in-memory stand-ins (MockClock)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
import trio

from hafs_actors.adapters.base import AdapterSettings
from hafs_actors.bench import (
    AdapterTarget,
    BenchSpec,
    BenchSpecError,
    BenchTarget,
    ClosedLoop,
    OrchestratorTarget,
    run_benchmark,
)
from hafs_actors.types import (
    FinishEvent,
    FinishReason,
    GenerateResult,
    StreamStart,
    TextDelta,
    ThoughtDelta,
    Usage,
    UsageEvent,
)

SETTINGS = AdapterSettings(base_url="http://127.0.0.1:1", api_key="sk-secret-key-123456789")


class FakeAdapter:
    provider = "openai"
    supports_streaming = True
    supports_embeddings = False

    def __init__(self, provider: str, settings: AdapterSettings) -> None:
        self.settings = settings
        self.initialized = self.closed = False
        self.requests = []

    async def initialize(self) -> None:
        self.initialized = True

    async def aclose(self) -> None:
        self.closed = True

    @asynccontextmanager
    async def stream(self, request):
        self.requests.append(request)

        async def events():
            yield StreamStart(request_id="r1", model="gpt-4o-mini-2024")
            await trio.sleep(0.2)
            yield ThoughtDelta("thinking")
            await trio.sleep(0.1)
            yield TextDelta("")  # empty deltas are not tokens
            yield TextDelta("Hello")
            await trio.sleep(0.05)
            yield TextDelta(" world")
            yield UsageEvent(Usage(input_tokens=12, output_tokens=3))
            yield FinishEvent(FinishReason.STOP)

        yield events()


async def test_adapter_target_records_chunks_and_usage(autojump_clock):
    adapters: list[FakeAdapter] = []

    def factory(provider, settings):
        adapters.append(FakeAdapter(provider, settings))
        return adapters[-1]

    target = AdapterTarget("openai", "gpt-4o-mini", SETTINGS, adapter_factory=factory)
    assert isinstance(target, BenchTarget)
    assert target.name == "openai:gpt-4o-mini"
    assert "sk-secret" not in repr(target)
    spec = BenchSpec(targets=[target], load=ClosedLoop(concurrency=2), requests=4, max_tokens=9)
    result = (await run_benchmark(spec)).targets[0]

    (adapter,) = adapters
    assert adapter.initialized
    assert adapter.closed
    assert {r.max_tokens for r in adapter.requests} == {9}
    assert {r.model for r in adapter.requests} == {"gpt-4o-mini"}
    sample = result.samples[0]
    assert sample.chunks == pytest.approx((0.2, 0.3, 0.35))
    assert (sample.output_tokens, sample.input_tokens, sample.tokens_source) == (3, 12, "usage")
    assert (sample.provider, sample.model) == ("openai", "gpt-4o-mini-2024")
    assert result.summary.ttft is not None
    assert result.summary.ttft.p50 == pytest.approx(0.2)
    assert result.description == {"via": "adapter", "provider": "openai", "model": "gpt-4o-mini"}


async def test_adapter_is_closed_when_the_run_is_cancelled(autojump_clock):
    closed = trio.Event()

    class Hanging(FakeAdapter):
        async def aclose(self) -> None:
            await trio.sleep(0.5)  # closing may await; the shield lets it finish
            closed.set()

        @asynccontextmanager
        async def stream(self, request):
            await trio.sleep_forever()
            yield iter(())

    target = AdapterTarget("openai", "m", SETTINGS, adapter_factory=Hanging)
    with trio.move_on_after(1.0):
        await run_benchmark(BenchSpec(targets=[target], requests=1))
    assert closed.is_set()


class FakeStream:
    def __init__(self, texts, result):
        self._texts = texts
        self.result = None
        self._final = result

    async def __aiter__(self):
        for delay, text in self._texts:
            await trio.sleep(delay)
            yield text
        self.result = self._final


class FakeOrchestrator:
    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.opened = self.closed = 0

    async def __aenter__(self):
        self.opened += 1
        return self

    async def __aexit__(self, *exc):
        self.closed += 1

    @asynccontextmanager
    async def stream(self, **kwargs):
        self.calls.append(kwargs)
        result = GenerateResult(
            content="ab",
            provider="anthropic",
            model="claude-haiku-4-5",
            usage=Usage(input_tokens=5, output_tokens=4),
            fallback_used=True,
        )
        yield FakeStream([(0.3, "a"), (0.0, ""), (0.1, "b")], result)


async def test_orchestrator_target_by_provider_and_model(autojump_clock):
    orch = FakeOrchestrator()
    target = OrchestratorTarget(
        provider="openai", model="gpt-4o-mini", open_orchestrator=lambda: orch
    )
    assert target.name == "openai:gpt-4o-mini"
    spec = BenchSpec(targets=[target], load=ClosedLoop(concurrency=1), requests=3, max_tokens=5)
    result = (await run_benchmark(spec)).targets[0]
    assert (orch.opened, orch.closed) == (1, 1)
    assert orch.calls[0] == {
        "prompt": orch.calls[0]["prompt"],
        "max_tokens": 5,
        "provider": "openai",
        "model": "gpt-4o-mini",
    }
    sample = result.samples[0]
    assert sample.chunks == pytest.approx((0.3, 0.4))
    assert sample.output_tokens == 4
    assert (sample.provider, sample.model, sample.fallback_used) == (
        "anthropic",
        "claude-haiku-4-5",
        True,
    )
    assert result.summary.tpot is not None
    assert result.summary.tpot.mean == pytest.approx(0.1 / 3)


async def test_orchestrator_target_by_tier_uses_a_given_orchestrator(autojump_clock):
    orch = FakeOrchestrator()
    target = OrchestratorTarget(tier="fast", orchestrator=orch)
    assert target.name == "tier:fast"
    assert target.description == {"via": "orchestrator", "tier": "fast"}
    await run_benchmark(BenchSpec(targets=[target], requests=2))
    assert [set(c) for c in orch.calls] == [{"prompt", "max_tokens", "tier"}] * 2
    assert (orch.opened, orch.closed) == (0, 0)  # not ours to open or close


def test_orchestrator_target_needs_a_provider_or_a_tier():
    with pytest.raises(BenchSpecError, match="provider or a tier"):
        OrchestratorTarget()
    with pytest.raises(BenchSpecError, match="also needs its provider"):
        OrchestratorTarget(model="gpt-4o", tier="fast")


async def test_target_outside_its_session_is_a_bug(autojump_clock):
    target = AdapterTarget("openai", "m", SETTINGS, adapter_factory=FakeAdapter)
    with pytest.raises(RuntimeError, match="outside its session"):
        await target.send("hi", 5, None)  # type: ignore[arg-type]
