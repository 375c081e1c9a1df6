"""Hooks: the events a request produces, in order; a failing hook never breaks a request; with
no observer the runtime holds none."""

from __future__ import annotations

import logging

import pytest
import trio
from trio.testing import MockClock

from hafs_actors import AllProvidersFailed
from hafs_actors.observability import (
    AttemptEnded,
    AttemptStarted,
    LatencyHistogram,
    Observer,
    RequestFailed,
    RequestInfo,
    RequestSucceeded,
    StreamEventInfo,
)
from hafs_actors.testing.emulators import Fault, FaultPlan, LatencyModel
from tests.observability._helpers import observed
from tests.orchestrator._helpers import emulator_config

CHAIN = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash")]


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[object] = []

    def on_request(self, request: RequestInfo) -> None:
        self.events.append(request)

    def on_attempt(self, event: AttemptStarted | AttemptEnded) -> None:
        self.events.append(event)

    def on_result(self, event: RequestSucceeded) -> None:
        self.events.append(event)

    def on_error(self, event: RequestFailed) -> None:
        self.events.append(event)

    def on_stream_event(self, event: StreamEventInfo) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events if not isinstance(e, StreamEventInfo)]


class Broken(Observer):
    def on_request(self, request: RequestInfo) -> None:
        raise RuntimeError("hook bug")

    def on_attempt(self, event: AttemptStarted | AttemptEnded) -> None:
        raise RuntimeError("hook bug")


async def test_generate_reports_request_attempts_and_result(autojump_clock: MockClock) -> None:
    rec = Recorder()
    async with observed(orchestrator={"observers": [rec]}) as (orch, _):
        result = await orch.generate("q", provider="openai", model="gpt-4o")
    assert rec.kinds() == ["RequestInfo", "AttemptStarted", "AttemptEnded", "RequestSucceeded"]
    request, started, ended, done = rec.events
    assert isinstance(request, RequestInfo)
    assert (request.kind, request.operation, request.model) == ("generate", "chat", "gpt-4o")
    assert isinstance(started, AttemptStarted)
    assert (started.provider, started.provider_kind, started.model) == (
        "openai",
        "openai",
        "gpt-4o",
    )
    assert isinstance(ended, AttemptEnded)
    assert ended.result is not None
    assert ended.error is None
    assert isinstance(done, RequestSucceeded)
    assert done.result == result
    assert done.provider == "openai"


async def test_fallback_and_retry_are_attempts(autojump_clock: MockClock) -> None:
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500)]))
    rec = Recorder()
    async with observed(emulators={"openai": broken}, orchestrator={"observers": [rec]}) as (
        orch,
        _,
    ):
        await orch.generate("q", fallback_providers=CHAIN)
    attempts = [e for e in rec.events if isinstance(e, AttemptStarted)]
    assert [(a.provider, a.number, a.fallback_from) for a in attempts] == [
        ("openai", 0, None),
        ("gemini", 1, "openai"),
    ]
    ended = [e for e in rec.events if isinstance(e, AttemptEnded)]
    assert [e.error_type for e in ended] == ["ServerError", None]


async def test_failure_reports_on_error(autojump_clock: MockClock) -> None:
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500)]))
    rec = Recorder()
    async with observed(["openai"], emulators={"openai": broken}) as (orch, _):
        orch.add_observer(rec)  # after the start
        with pytest.raises(AllProvidersFailed):
            await orch.generate("q", provider="openai")
    failed = rec.events[-1]
    assert isinstance(failed, RequestFailed)
    assert failed.error_type == "AllProvidersFailed"
    assert failed.provider == "openai"
    assert not failed.cancelled


async def test_stream_reports_events_first_chunk_and_end(autojump_clock: MockClock) -> None:
    rec = Recorder()
    async with (
        observed(orchestrator={"observers": [rec]}) as (orch, _),
        orch.stream("q", provider="openai") as stream,
    ):
        text = "".join([t async for t in stream])
    chunks = [e for e in rec.events if isinstance(e, StreamEventInfo) and e.chunk is not None]
    assert chunks[0].chunk == 0
    assert chunks[0].gap is None
    assert all(c.gap is not None for c in chunks[1:])
    done = rec.events[-1]
    assert isinstance(done, RequestSucceeded)
    assert done.chunks == len(chunks)
    assert done.ttft is not None
    assert done.result.content == text


async def test_stream_left_early_is_cancelled(autojump_clock: MockClock) -> None:
    rec = Recorder()
    slow = emulator_config(latency=LatencyModel(tokens_per_second=2.0))
    async with observed(["openai"], emulators={"openai": slow}) as (orch, _):
        orch.add_observer(rec)
        async with orch.stream("q", provider="openai", max_tokens=50) as stream:
            async for _ in stream:
                break
        await trio.sleep(1)
    failed = [e for e in rec.events if isinstance(e, RequestFailed)]
    assert len(failed) == 1
    assert failed[0].cancelled
    assert failed[0].error_type == "cancelled"


async def test_embed_is_an_embeddings_operation(autojump_clock: MockClock) -> None:
    rec = Recorder()
    async with observed(orchestrator={"observers": [rec]}) as (orch, _):
        await orch.embed("hello", provider="openai")
    request = rec.events[0]
    assert isinstance(request, RequestInfo)
    assert (request.kind, request.operation) == ("embed", "embeddings")
    assert isinstance(rec.events[-1], RequestSucceeded)


async def test_a_failing_hook_is_logged_once_and_never_breaks_a_request(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    async with observed(orchestrator={"observers": [Broken(), rec]}) as (orch, _):
        for _ in range(3):
            result = await orch.generate("q", provider="openai")
            assert result.content
    assert rec.kinds().count("RequestSucceeded") == 3
    logged = [r for r in caplog.records if r.name == "hafs_actors.observability"]
    assert len(logged) == 2  # on_request and on_attempt, once each
    assert all(r.levelno == logging.ERROR and r.exc_info for r in logged)


async def test_without_observers_the_runtime_holds_none(autojump_clock: MockClock) -> None:
    async with observed() as (orch, _):
        await orch.generate("q", provider="openai")
        router = orch._router
        assert router is not None
        assert router.observers is None
        assert all(cell.observers is None for cell in router.cells.values())
        orch.add_observer(Recorder())
        assert router.observers is not None
        assert all(cell.observers is router.observers for cell in router.cells.values())


def test_observers_must_subclass_observer() -> None:
    from hafs_actors import UnifiedOrchestrator

    with pytest.raises(TypeError, match="Observer"):
        UnifiedOrchestrator(observers=[object()])  # type: ignore[list-item]


async def test_status_has_latency_histograms_per_provider(autojump_clock: MockClock) -> None:
    slow = emulator_config(latency=LatencyModel(ttft_median=0.3))
    async with observed(["openai"], emulators={"openai": slow}) as (orch, _):
        await orch.generate("q", provider="openai")
        async with orch.stream("q", provider="openai") as stream:
            await stream.collect()
        latency = orch.status().providers["openai"].latency
    assert latency is not None
    assert latency.end_to_end.count == 2
    assert latency.ttft.count == 1
    assert latency.end_to_end.quantile(0.5) == pytest.approx(0.3, abs=0.2)


def test_histogram_buckets_and_quantiles() -> None:
    h = LatencyHistogram((0.1, 1.0, 10.0))
    for v in (0.05, 0.1, 0.5, 5.0, 50.0):
        h.record(v)
    snap = h.snapshot()
    assert snap.counts == (2, 1, 1, 1)  # bounds are inclusive (Prometheus "le")
    assert snap.count == 5
    assert snap.sum == pytest.approx(55.65)
    assert snap.quantile(0.4) == pytest.approx(0.1)
    assert snap.quantile(1.0) == 10.0  # the +Inf bucket reports the largest bound
    assert LatencyHistogram().snapshot().quantile(0.5) is None
    with pytest.raises(ValueError, match="increasing"):
        LatencyHistogram((1.0, 0.5))


def test_importing_hafs_actors_imports_no_exporter() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hafs_actors, hafs_actors.observability; "
        "print([m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus_client'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
