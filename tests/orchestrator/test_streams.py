"""Streams: transparent fallback before the first token, typed interruption after it, TTFT and
idle-gap timeouts, backpressure, and leaving early (which cancels the upstream request)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio.testing import MockClock

from hafs_actors import (
    AllProvidersFailed,
    StreamInterruptedError,
    StreamResponse,
    StreamStart,
    TextDelta,
    UnifiedOrchestrator,
    UsageEvent,
)
from hafs_actors.config import RequestTimeouts
from hafs_actors.testing.emulators import Fault, FaultPlan, LatencyModel
from tests.orchestrator._helpers import assert_quiescent, emulator_config, leaks, names, running

CHAIN = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash")]


def faults(**fault: object) -> FaultPlan:
    return FaultPlan([Fault(**fault)])  # type: ignore[arg-type]


async def read(orch: UnifiedOrchestrator, received: list[str], **kwargs: Any) -> StreamResponse:
    """Read a whole stream into ``received`` (which keeps what arrived if it fails)."""
    async with orch.stream("tell me", **kwargs) as stream:
        async for text in stream:
            received.append(text)
    return stream


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "stream_error", "after_chunks": 1},  # a 200, then an error event
        {"kind": "http_error", "status": 503},  # an error status instead of a stream
        {"kind": "drop", "after_chunks": 1},  # the connection cut before any text
        {"kind": "hang"},  # no headers at all: the time-to-first-token timeout
    ],
)
async def test_fallback_before_the_first_token_is_invisible_to_the_reader(
    autojump_clock: MockClock, fault: dict[str, object]
) -> None:
    broken = emulator_config(faults=faults(**fault))
    async with running(["openai", "gemini"], emulators={"openai": broken}) as (orch, _):
        async with orch.stream("tell me", fallback_providers=CHAIN) as stream:
            events = [event async for event in stream.events()]
        result = stream.result
        await assert_quiescent(orch)

    starts = [e for e in events if isinstance(e, StreamStart)]
    assert len(starts) == 1  # the failed attempt's start was never shown
    assert starts[0].model == "gemini-2.5-flash"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.startswith("[gemini/gemini-2.5-flash] ")
    assert text == result.content == stream.text
    assert result.provider == "gemini"
    assert result.fallback_used
    assert [a.provider for a in result.attempts] == ["openai", "gemini"]
    assert result.attempts[0].outcome != "ok"
    assert result.usage.output_tokens
    assert result.ttft is not None


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "stream_error", "after_chunks": 20},
        {"kind": "drop", "after_chunks": 20},
    ],
)
async def test_failure_after_the_first_token_is_a_typed_interruption(
    autojump_clock: MockClock, fault: dict[str, object]
) -> None:
    # tokens paced in time, so the first ones reach the reader before the failure
    paced = LatencyModel(ttft_median=0.1, tokens_per_second=50.0)
    broken = emulator_config(faults=faults(**fault), reply_tokens=(60, 60), latency=paced)
    async with running(["openai", "gemini"], emulators={"openai": broken}) as (orch, emus):
        received: list[str] = []
        with pytest.raises(StreamInterruptedError) as info:
            await read(orch, received, fallback_providers=CHAIN)
        await assert_quiescent(orch)

    error = info.value
    assert received  # some output arrived before the failure
    assert error.partial_text == "".join(received)
    assert error.partial_text.startswith("[openai/gpt-4o] ")
    assert "error" not in error.partial_text.lower()  # never an error message inside the text
    assert names(error.attempts) == [("openai", "StreamInterruptedError")]  # no fallback
    assert str(error).count("interrupted") == 1  # one clear line, not a wrapped wrapper
    assert str(error).count("request_id=") <= 1
    assert emus["gemini"].stats().count() == 0


async def test_time_to_first_token_timeout_falls_back(autojump_clock: MockClock) -> None:
    slow = emulator_config(latency=LatencyModel(ttft_median=20.0))
    timeouts = RequestTimeouts(stream_ttft_timeout=5.0, stream_idle_timeout=5.0)
    async with running(["openai", "gemini"], emulators={"openai": slow}, timeouts=timeouts) as (
        orch,
        _,
    ):
        start = trio.current_time()
        async with orch.stream("q", fallback_providers=CHAIN) as stream:
            result = await stream.collect()
        elapsed = trio.current_time() - start
    assert names(result.attempts) == [("openai", "ProviderTimeoutError"), ("gemini", "ok")]
    assert result.attempts[0].error is not None
    assert "first token" in result.attempts[0].error
    assert elapsed == pytest.approx(5.0)


async def test_idle_gap_timeout_after_output_interrupts(autojump_clock: MockClock) -> None:
    # one token every 10 s: the first arrives, then the stream goes quiet past the idle limit
    slow = emulator_config(latency=LatencyModel(ttft_median=0.1, tokens_per_second=0.1))
    timeouts = RequestTimeouts(stream_ttft_timeout=5.0, stream_idle_timeout=5.0)
    async with running(["openai", "gemini"], emulators={"openai": slow}, timeouts=timeouts) as (
        orch,
        _,
    ):
        start = trio.current_time()
        received: list[str] = []
        with pytest.raises(StreamInterruptedError) as info:
            await read(orch, received, fallback_providers=CHAIN)
        elapsed = trio.current_time() - start
        await assert_quiescent(orch)
    assert info.value.partial_text == "".join(received) != ""
    assert "chunk within 5s" in str(info.value)
    assert elapsed == pytest.approx(5.1)


async def test_a_slow_reader_is_backpressure_not_an_idle_provider(
    autojump_clock: MockClock,
) -> None:
    """The provider pushes into a bounded buffer; a reader pausing longer than the idle limit
    makes the provider wait, which is not the provider going quiet."""
    long = emulator_config(reply_tokens=(300, 300))
    timeouts = RequestTimeouts(
        attempt_timeout=60.0, stream_ttft_timeout=5.0, stream_idle_timeout=5.0
    )
    async with running(["openai"], emulators={"openai": long}, timeouts=timeouts) as (orch, _):
        async with orch.stream("q", provider="openai", max_tokens=300) as stream:
            pieces = 0
            async for _ in stream:
                pieces += 1
                if pieces == 1:
                    await trio.sleep(8.0)  # the provider fills the buffer and waits meanwhile
        result = stream.result
        stats = orch.status().providers["openai"]
    assert result.usage.output_tokens == 300
    assert pieces >= 300
    assert stats.breaker.failures == 0


async def test_leaving_early_cancels_the_upstream_request(autojump_clock: MockClock) -> None:
    slow = emulator_config(
        latency=LatencyModel(ttft_median=0.2, tokens_per_second=10.0), reply_tokens=(200, 200)
    )
    async with running(["openai"], emulators={"openai": slow}) as (orch, emus):
        async with orch.stream("q", provider="openai") as stream:
            async for _ in stream:
                if len(stream.text) > 30:
                    during = orch.status().providers["openai"].connections
                    break
        left_at = trio.current_time()
        await trio.sleep(0)  # cancellation is immediate: no waiting for the 20 s of tokens
        await trio.sleep(0.001)
        after = orch.status()
        assert leaks(after) == []
        stats = after.providers["openai"]
        assert trio.current_time() - left_at < 0.01
    assert during is not None
    assert during.in_use == 1
    assert stats.connections is not None
    assert (stats.connections.in_use, stats.connections.open) == (0, 0)  # closed, not pooled
    assert stats.breaker.failures == 0  # leaving is not a provider failure
    assert stats.breaker.cancelled == 1
    assert emus["openai"].stats().count() == 1


async def test_leaving_while_the_provider_waits_on_a_full_buffer(
    autojump_clock: MockClock,
) -> None:
    """The reader's channel closes while the provider is blocked sending into it."""
    long = emulator_config(reply_tokens=(400, 400))
    async with running(["openai"], emulators={"openai": long}) as (orch, _):
        for _ in range(5):
            async with orch.stream("q", provider="openai", max_tokens=400) as stream:
                async for _ in stream:
                    await trio.sleep(1.0)  # the buffer fills up behind us
                    break
        await assert_quiescent(orch)
        stats = orch.status().providers["openai"]
    assert stats.breaker.failures == 0
    assert stats.failures == 0
    assert stats.crashes == 0


async def test_stream_result_and_events(autojump_clock: MockClock) -> None:
    async with running(["anthropic"]) as (orch, _):
        async with orch.stream("hello there", provider="anthropic") as stream:
            events = [event async for event in stream.events()]
        result = stream.result
    assert isinstance(events[0], StreamStart)
    assert any(isinstance(e, UsageEvent) for e in events)
    assert result.content == stream.text
    assert result.content.startswith("[anthropic/claude-sonnet-4-20250514] ")
    assert result.usage.output_tokens == sum(isinstance(e, TextDelta) for e in events)
    assert [(a.provider, a.outcome) for a in result.attempts if a.outcome != "skipped"] == [
        ("anthropic", "ok")
    ]
    assert not result.fallback_used


async def test_a_stream_nobody_can_serve_fails_before_any_output(
    autojump_clock: MockClock,
) -> None:
    broken = emulator_config(faults=faults(kind="http_error", status=500))
    async with running(["openai"], emulators={"openai": broken}) as (orch, _):
        received: list[str] = []
        with pytest.raises(AllProvidersFailed) as info:
            await read(orch, received, provider="openai", allow_fallback=False)
    assert received == []
    assert names(info.value.attempts) == [("openai", "ServerError")]
