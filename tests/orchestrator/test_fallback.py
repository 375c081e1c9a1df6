"""Fallback chains: on error, timeout, open circuit, rate-limit wait and crashed actor; one
deadline over every attempt; one typed error listing every attempt when all fail."""

from __future__ import annotations

import logging

import pytest
import trio
from trio.testing import MockClock

from hafs_actors import AllProvidersFailed, Provider, TaskTier, UnknownProviderError
from hafs_actors.config import BreakerSettings, ProviderLimits, RequestTimeouts, RetrySettings
from hafs_actors.testing.emulators import Fault, FaultPlan, ModelProfile
from tests.orchestrator._helpers import (
    CountingAdapter,
    emulator_config,
    names,
    running,
    served_by,
)

CHAIN = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash")]


def failing(**fault: object) -> FaultPlan:
    return FaultPlan([Fault(**fault)])  # type: ignore[arg-type]


async def test_fallback_on_error(autojump_clock: MockClock) -> None:
    broken = emulator_config(faults=failing(kind="http_error", status=500))
    async with running(["openai", "gemini"], emulators={"openai": broken}) as (orch, emus):
        result = await orch.generate("q", fallback_providers=CHAIN)
        stats = orch.status()
    assert served_by(result) == "gemini/gemini-2.5-flash"
    assert names(result.attempts) == [("openai", "ServerError"), ("gemini", "ok")]
    assert result.attempts[0].error is not None
    assert "500" in result.attempts[0].error
    assert result.fallback_used
    assert stats.router.fallbacks == 1
    assert emus["openai"].stats().count(status=500) == 1


async def test_fallback_on_timeout(autojump_clock: MockClock) -> None:
    slow = emulator_config(faults=failing(kind="hang"))
    timeouts = RequestTimeouts(request_deadline=20.0, attempt_timeout=3.0)
    async with running(["openai", "gemini"], emulators={"openai": slow}, timeouts=timeouts) as (
        orch,
        _,
    ):
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=CHAIN)
        elapsed = trio.current_time() - start
    assert names(result.attempts) == [("openai", "ProviderTimeoutError"), ("gemini", "ok")]
    assert result.attempts[0].latency == pytest.approx(3.0)
    assert elapsed == pytest.approx(3.0)


async def test_fallback_on_open_circuit_sends_nothing_to_the_open_provider(
    autojump_clock: MockClock,
) -> None:
    broken = emulator_config(faults=failing(kind="http_error", status=503))
    breaker = BreakerSettings(minimum_calls=2, failure_rate_threshold=1.0, open_duration=30.0)
    async with running(
        ["openai", "gemini"],
        emulators={"openai": broken},
        provider_changes={"openai": {"breaker": breaker}},
    ) as (orch, emus):
        for _ in range(2):
            await orch.generate("q", fallback_providers=CHAIN)
        sent = emus["openai"].stats().count()
        result = await orch.generate("q", fallback_providers=CHAIN)
        assert emus["openai"].stats().count() == sent == 2
        assert orch.status().providers["openai"].breaker.state.value == "open"
    assert names(result.attempts) == [("openai", "CircuitOpenError"), ("gemini", "ok")]
    assert result.attempts[0].latency == 0.0


async def test_fallback_when_the_rate_limit_wait_would_pass_the_deadline(
    autojump_clock: MockClock,
) -> None:
    async with running(
        ["openai", "gemini"], provider_changes={"openai": {"limits": ProviderLimits(rpm=1)}}
    ) as (orch, emus):
        first = await orch.generate("q", fallback_providers=CHAIN)
        start = trio.current_time()
        second = await orch.generate("q", fallback_providers=CHAIN, timeout=30.0)
        assert trio.current_time() == start  # moved on at once, not after waiting
        # with a deadline past the next slot the same request waits for it instead
        third = await orch.generate("q", fallback_providers=CHAIN, timeout=120.0)
    assert served_by(first) == "openai/gpt-4o"
    assert names(second.attempts) == [("openai", "RateLimitWaitExceeded"), ("gemini", "ok")]
    assert second.attempts[0].error is not None
    assert "deadline" in second.attempts[0].error
    assert emus["openai"].stats().count() == 1
    assert names(third.attempts) == [("openai", "RateLimitWaitExceeded"), ("gemini", "ok")]


async def test_fallback_on_a_crashed_actor(autojump_clock: MockClock) -> None:
    adapter = CountingAdapter("flaky")
    adapter.crash_next = 1
    async with running(["gemini"], custom={"flaky": adapter}) as (orch, _):
        chain = [("flaky", "m"), (Provider.GEMINI, "gemini-2.5-flash")]
        crashed = await orch.generate("q", fallback_providers=chain)
        await trio.sleep(1.0)  # the restart
        healthy = await orch.generate("q", fallback_providers=chain)
    assert names(crashed.attempts) == [("flaky", "ActorCrashed"), ("gemini", "ok")]
    assert served_by(crashed) == "gemini/gemini-2.5-flash"
    assert names(healthy.attempts) == [("flaky", "ok")]


async def test_transient_errors_are_retried_on_the_same_candidate_first(
    autojump_clock: MockClock,
) -> None:
    flaky = emulator_config(faults=failing(kind="http_error", status=503, count=2))
    retry = RetrySettings(max_retries_per_candidate=2, base_delay=1.0, max_delay=4.0)
    async with running(["openai", "gemini"], emulators={"openai": flaky}, retry=retry) as (
        orch,
        _,
    ):
        result = await orch.generate("q", fallback_providers=CHAIN)
        permanent = await orch.generate(
            "q", fallback_providers=[("openai", "no-such-model"), *CHAIN[1:]]
        )
    assert [(a.provider, a.outcome, a.retry) for a in result.attempts] == [
        ("openai", "OverloadedError", 0),
        ("openai", "OverloadedError", 1),
        ("openai", "ok", 2),
    ]
    assert not result.fallback_used
    # a request-caused error is not retried: the chain moves on at once
    assert names(permanent.attempts) == [("openai", "NotFoundError"), ("gemini", "ok")]


async def test_one_deadline_covers_every_attempt_and_retry(autojump_clock: MockClock) -> None:
    hang = emulator_config(faults=failing(kind="hang"))
    timeouts = RequestTimeouts(request_deadline=60.0, attempt_timeout=4.0)
    retry = RetrySettings(max_retries_per_candidate=10, base_delay=0.5, max_delay=2.0)
    async with running(
        ["openai", "gemini"],
        emulators={"openai": hang, "gemini": hang},
        timeouts=timeouts,
        retry=retry,
    ) as (orch, _):
        start = trio.current_time()
        with pytest.raises(AllProvidersFailed) as info:
            await orch.generate("q", fallback_providers=CHAIN, timeout=10.0)
        elapsed = trio.current_time() - start
    attempts = info.value.attempts
    assert elapsed < 10.0 + 1e-6
    assert elapsed > 9.0  # it did use its time
    tried = [a for a in attempts if a.outcome == "ProviderTimeoutError"]
    assert len(tried) >= 2  # a retry happened within the deadline
    assert all(a.latency < 4.0 + 1e-6 for a in tried)  # each attempt under its own timeout
    assert sum(a.latency for a in tried) < 10.0 + 1e-6
    assert attempts[-1].outcome == "DeadlineExceeded"
    assert "deadline" in str(info.value)


async def test_server_delay_longer_than_the_deadline_is_not_waited_for(
    autojump_clock: MockClock,
) -> None:
    limited = emulator_config(faults=failing(kind="rate_limit", retry_after=20))
    retry = RetrySettings(max_retries_per_candidate=3, max_server_delay=60.0)
    async with running(["openai", "gemini"], emulators={"openai": limited}, retry=retry) as (
        orch,
        _,
    ):
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=CHAIN, timeout=10.0)
        elapsed = trio.current_time() - start
    assert names(result.attempts) == [("openai", "RateLimitError"), ("gemini", "ok")]
    assert elapsed == 0.0


async def test_all_failed_lists_every_attempt_and_every_skip_with_its_reason(
    autojump_clock: MockClock,
) -> None:
    emulators = {
        "openai": emulator_config(faults=failing(kind="http_error", status=500)),
        "gemini": emulator_config(faults=failing(kind="http_error", status=400)),
    }
    chain = [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4"),  # built in, but not configured here
        ("gemini", "gemini-2.5-flash"),
    ]
    async with running(["openai", "gemini"], emulators=emulators) as (orch, _):
        with pytest.raises(UnknownProviderError, match=r"unknown provider 'nowhere'"):
            # a name that exists nowhere is the caller's mistake: refused before anything is sent
            await orch.generate("q", fallback_providers=[*chain, ("nowhere", "model-x")])
        assert orch.status().router.requests == 0
        with pytest.raises(AllProvidersFailed) as info:
            await orch.generate("q", fallback_providers=chain)
        assert orch.status().router.failed == 1
    error = info.value
    by_provider = {a.provider: a for a in error.attempts}
    assert set(by_provider) == {"openai", "anthropic", "gemini"}
    assert (by_provider["anthropic"].outcome, by_provider["anthropic"].error) == (
        "skipped",
        "not configured",
    )
    assert by_provider["openai"].outcome == "ServerError"
    assert by_provider["gemini"].outcome == "BadRequestError"
    text = str(error)
    for provider in ("openai", "anthropic", "gemini"):
        assert f"  - {provider}/" in text
    assert "not configured" in text


async def test_nothing_can_serve_the_request(autojump_clock: MockClock) -> None:
    async with running(["gemini"]) as (orch, _):
        with pytest.raises(AllProvidersFailed) as info:
            await orch.embed(text="x", provider=Provider.ANTHROPIC, allow_fallback=False)
    (skip,) = info.value.attempts
    assert (skip.provider, skip.outcome) == ("anthropic", "skipped")
    assert "no provider can serve" in str(info.value)


async def test_context_length_error_moves_to_a_larger_window(autojump_clock: MockClock) -> None:
    # The capability table believes gpt-4o takes 128k tokens; this server only takes 500.
    small = emulator_config(models=(ModelProfile("gpt-4o", context_window=500),))
    chain = [
        ("openai", "gpt-4o"),
        ("ollama", "qwen2.5-coder:14b"),  # 32k: not larger than the 128k that failed
        ("gemini", "gemini-2.5-flash"),  # 1M
    ]
    async with running(["openai", "ollama", "gemini"], emulators={"openai": small}) as (orch, emus):
        result = await orch.generate("word " * 1000, fallback_providers=chain)
    assert served_by(result) == "gemini/gemini-2.5-flash"
    assert [(a.provider, a.outcome) for a in result.attempts] == [
        ("openai", "ContextLengthError"),
        ("ollama", "skipped"),
        ("gemini", "ok"),
    ]
    assert result.attempts[1].error is not None
    assert "not larger than" in result.attempts[1].error
    assert emus["ollama"].stats().count() == 0


async def test_candidates_too_small_for_the_prompt_are_skipped_up_front(
    autojump_clock: MockClock,
) -> None:
    chain = [("ollama", "llama3"), ("gemini", "gemini-2.5-flash")]  # llama3: 8k window
    async with running(["ollama", "gemini"]) as (orch, emus):
        result = await orch.generate("word " * 40_000, fallback_providers=chain)
    assert result.attempts[0].outcome == "skipped"
    assert result.attempts[0].error is not None
    assert result.attempts[0].error.startswith("context window too small")
    assert emus["ollama"].stats().count() == 0


async def test_every_failed_attempt_is_logged_once_without_key_material(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-test-0123456789abcdefSECRET"
    emulators = {
        "openai": emulator_config(api_key="sk-other-key-the-server-expects"),
        "gemini": emulator_config(api_key=secret, faults=failing(kind="http_error", status=500)),
        "anthropic": emulator_config(api_key=secret),
    }
    chain = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash"), ("anthropic", None)]
    caplog.set_level(logging.DEBUG)
    async with running(["openai", "gemini", "anthropic"], emulators=emulators, api_key=secret) as (
        orch,
        _,
    ):
        result = await orch.generate("q", fallback_providers=chain, tier=TaskTier.FAST)
        status = orch.status()
    assert names(result.attempts) == [
        ("openai", "AuthenticationError"),
        ("gemini", "ServerError"),
        ("anthropic", "ok"),
    ]
    failures = [r for r in caplog.records if r.name == "hafs_actors.routing"]
    assert len(failures) == 2
    for record, provider in zip(failures, ("openai", "gemini"), strict=True):
        line = record.getMessage()
        assert "\n" not in line
        assert f"provider={provider}" in line
        assert "outcome=" in line
    everything = "\n".join(r.getMessage() for r in caplog.records)
    everything += repr(result) + repr(status)
    assert secret not in everything
    assert secret[-12:] not in everything
