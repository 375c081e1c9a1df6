"""Fault scenarios against the emulators, through the public API, with every outcome counted.

A provider failing half its requests (breaker transitions), one that hangs (attempt timeout,
fallback), one that answers 429 with a reset time (limiter pause; the retry honours the server's
delay or moves on), and limiter admissions per window with a configured RPM.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import trio
from trio.testing import MockClock

from hafs_actors import (
    AllProvidersFailed,
    GenerateRequest,
    GenerateResult,
    RateLimitError,
    RateLimitInfo,
)
from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.config import BreakerSettings, ProviderLimits, RequestTimeouts, RetrySettings
from hafs_actors.resilience import CircuitState
from hafs_actors.testing.emulators import Fault, FaultPlan, Quota
from tests.orchestrator._helpers import (
    TIMEOUTS,
    assert_quiescent,
    emulator_config,
    names,
    running,
    served_by,
)

CHAIN = [("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")]


async def test_provider_failing_half_its_requests_trips_and_recovers(
    autojump_clock: MockClock,
) -> None:
    every_other = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500, every=2)]))
    breaker = BreakerSettings(
        minimum_calls=4, failure_rate_threshold=0.5, window=30.0, open_duration=5.0
    )
    async with running(
        ["openai", "gemini"],
        emulators={"openai": every_other},
        provider_changes={"openai": {"breaker": breaker}},
    ) as (orch, emus):
        results: list[GenerateResult] = []
        for _ in range(30):
            results.append(await orch.generate("q", fallback_providers=CHAIN))
            await trio.sleep(1.0)
        stats = orch.status().providers["openai"]
        await assert_quiescent(orch)

    assert len(results) == 30  # every request got exactly one result
    outcomes = Counter(a.outcome for r in results for a in r.attempts if a.provider == "openai")
    assert outcomes["ServerError"] == emus["openai"].stats().count(status=500)
    assert outcomes["ok"] == emus["openai"].stats().count(status=200)
    assert outcomes["CircuitOpenError"] == stats.breaker.rejected > 0
    assert sum(outcomes.values()) == 30
    assert all(served_by(r) in ("openai/gpt-4o-mini", "gemini/gemini-2.5-flash") for r in results)

    transitions = [(e.previous, e.state) for _, p, e in orch.breaker_events if p == "openai"]
    closed, open_, half = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
    allowed = {(closed, open_), (open_, half), (half, closed), (half, open_)}
    assert set(transitions) <= allowed
    assert transitions[0] == (closed, open_)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(transitions))  # one path
    trips = transitions.count((closed, open_)) + transitions.count((half, open_))
    assert stats.breaker.trips == trips >= 2
    assert (half, closed) in transitions  # a successful probe closed it again
    # the first trip: calls 1..4 alternate ok/500, and the 4th makes the rate 2/4 = threshold
    first_open = next(
        i for i, r in enumerate(results) if r.attempts[0].outcome == "CircuitOpenError"
    )
    assert [r.attempts[0].outcome for r in results[:first_open]] == [
        "ok",
        "ServerError",
        "ok",
        "ServerError",
    ]


async def test_hanging_provider_times_out_the_attempt_and_falls_back(
    autojump_clock: MockClock,
) -> None:
    hang = emulator_config(faults=FaultPlan([Fault(kind="hang", nth=1)]))
    timeouts = RequestTimeouts(request_deadline=30.0, attempt_timeout=2.0)
    async with running(["openai", "gemini"], emulators={"openai": hang}, timeouts=timeouts) as (
        orch,
        emus,
    ):
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=CHAIN)
        elapsed = trio.current_time() - start
        await assert_quiescent(orch)
        conns = orch.status().providers["openai"].connections
        again = await orch.generate("q", fallback_providers=CHAIN)

    assert served_by(result) == "gemini/gemini-2.5-flash"
    assert names(result.attempts) == [("openai", "ProviderTimeoutError"), ("gemini", "ok")]
    assert result.attempts[0].latency == 2.0
    assert result.fallback_used
    assert 2.0 <= elapsed < 2.1
    assert emus["openai"].stats().count(status=0) == 1  # the hung request never got an answer
    assert conns is not None
    assert (conns.open, conns.in_use) == (0, 0)
    assert served_by(again) == "openai/gpt-4o-mini"


MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-20250514",
    "gemini": "gemini-2.5-flash",
}
#: the limiter key: per model where the provider meters per model (docs/design.md)
LIMITER_KEY = {"openai": "gpt-4o-mini", "anthropic": "*", "gemini": "gemini-2.5-flash"}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_429_with_reset_pauses_the_provider_and_requests_move_on(
    autojump_clock: MockClock, provider: str
) -> None:
    """Each provider announces the delay its own way (headers, or Gemini's RetryInfo); the
    request in hand moves on at once, and later ones skip the paused provider until it ends."""
    other = "anthropic" if provider != "anthropic" else "openai"
    limited = emulator_config(faults=FaultPlan([Fault(kind="rate_limit", retry_after=3, nth=1)]))
    retry = RetrySettings(max_retries_per_candidate=2, max_server_delay=30.0)
    chain = [(provider, MODELS[provider]), (other, MODELS[other])]
    async with running([provider, other], emulators={provider: limited}, retry=retry) as (
        orch,
        emus,
    ):
        start = trio.current_time()
        first = await orch.generate("q", fallback_providers=chain)
        moved_on_after = trio.current_time() - start
        paused = orch.status().providers[provider].limiters[LIMITER_KEY[provider]].paused_until
        second = await orch.generate("q", fallback_providers=chain)
        await trio.sleep(3.5)
        third = await orch.generate("q", fallback_providers=chain)
        await assert_quiescent(orch)

    assert moved_on_after == 0.0
    assert [(a.provider, a.outcome) for a in first.attempts] == [
        (provider, "RateLimitError"),
        (other, "ok"),
    ]
    assert paused == pytest.approx(start + 3.0)
    # paused for everyone: nothing is sent to it until the announced time
    assert names(second.attempts) == [(provider, "skipped"), (other, "ok")]
    assert "paused by the server" in (second.attempts[0].error or "")
    assert served_by(third) == f"{provider}/{MODELS[provider]}"
    assert emus[provider].stats().count(status=429) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_429_on_the_last_candidate_waits_for_the_announced_pause(
    autojump_clock: MockClock, provider: str
) -> None:
    """With no other candidate left, the request waits for the pause (within its deadline and
    max_server_delay) and tries again."""
    limited = emulator_config(faults=FaultPlan([Fault(kind="rate_limit", retry_after=3, nth=1)]))
    retry = RetrySettings(max_retries_per_candidate=2, max_server_delay=30.0)
    async with running([provider], emulators={provider: limited}, retry=retry) as (orch, emus):
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=[(provider, MODELS[provider])])
        elapsed = trio.current_time() - start
        await assert_quiescent(orch)
    assert served_by(result) == f"{provider}/{MODELS[provider]}"
    assert [(a.provider, a.outcome) for a in result.attempts] == [
        (provider, "RateLimitError"),
        (provider, "ok"),
    ]
    # never before the server's delay; Anthropic's reset dates have whole seconds
    assert 3.0 <= elapsed < 4.0
    assert emus[provider].stats().count(status=429) == 1


async def test_429_with_a_long_reset_moves_on_and_later_requests_skip_the_wait(
    autojump_clock: MockClock,
) -> None:
    limited = emulator_config(faults=FaultPlan([Fault(kind="rate_limit", retry_after=60, nth=1)]))
    retry = RetrySettings(max_retries_per_candidate=2, max_server_delay=30.0)
    async with running(["openai", "gemini"], emulators={"openai": limited}, retry=retry) as (
        orch,
        emus,
    ):
        start = trio.current_time()
        first = await orch.generate("q", fallback_providers=CHAIN)
        moved_on_after = trio.current_time() - start
        second = await orch.generate("q", fallback_providers=CHAIN)
        openai_requests = emus["openai"].stats().count()
        await trio.sleep(61.0)
        third = await orch.generate("q", fallback_providers=CHAIN)

    assert names(first.attempts) == [("openai", "RateLimitError"), ("gemini", "ok")]
    assert moved_on_after == 0.0
    # the limiter knows the provider is paused for a minute: no request is sent in vain
    assert names(second.attempts) == [("openai", "skipped"), ("gemini", "ok")]
    assert openai_requests == 1
    assert served_by(third) == "openai/gpt-4o-mini"


async def test_limiter_admits_exactly_rpm_per_window(autojump_clock: MockClock) -> None:
    quota = emulator_config(faults=FaultPlan(quota=Quota(requests_per_minute=5)))
    timeouts = RequestTimeouts(request_deadline=300.0, attempt_timeout=300.0)
    async with running(
        ["openai"],
        emulators={"openai": quota},
        provider_changes={"openai": {"limits": ProviderLimits(rpm=5)}},
        timeouts=timeouts,
    ) as (orch, emus):
        done: list[float] = []
        start = trio.current_time()

        async def one() -> None:
            await orch.generate("q", provider="openai", model="gpt-4o-mini", allow_fallback=False)
            done.append(trio.current_time() - start)

        async with trio.open_nursery() as nursery:
            for _ in range(12):
                nursery.start_soon(one)
            await trio.sleep(30.0)
            limiter = orch.status().providers["openai"].limiters["gpt-4o-mini"]
            assert (limiter.admitted, limiter.waiters, limiter.requests_available) == (5, 7, 0)
        await assert_quiescent(orch)

    per_window = Counter(int(t // 60) for t in done)
    assert per_window == {0: 5, 1: 5, 2: 2}
    assert sorted(set(done)) == [0.0, 60.0, 120.0]
    assert emus["openai"].stats().quota_rejections == 0  # never more than the server allows


async def test_rate_limit_wait_beyond_the_deadline_fails_fast(autojump_clock: MockClock) -> None:
    async with running(
        ["openai"], provider_changes={"openai": {"limits": ProviderLimits(rpm=1)}}
    ) as (orch, _):
        await orch.generate("q", provider="openai", allow_fallback=False)
        start = trio.current_time()
        try:
            await orch.generate("q", provider="openai", allow_fallback=False, timeout=10.0)
        except AllProvidersFailed as exc:
            failure = exc
        assert trio.current_time() == start  # no waiting in vain
    assert names(failure.attempts) == [("openai", "RateLimitWaitExceeded")]
    assert TIMEOUTS.attempt_timeout == 10.0


class ThrottledOnce(NativeAdapter):
    """Answers its first call with the given 429, then succeeds."""

    def __init__(self, error: RateLimitError) -> None:
        self.provider = "throttled"
        self.error = error
        self.calls = 0

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        self.calls += 1
        if self.calls == 1:
            raise self.error
        return GenerateResult(content="ok", provider="throttled", model=request.model)


@pytest.mark.parametrize(
    ("error", "pause"),
    [
        # an exhausted budget with its reset: paused until that reset
        (
            RateLimitError("429", rate_limit=RateLimitInfo(requests_remaining=0, requests_reset=7)),
            7,
        ),
        # headers without a delay, the delay in the body (Gemini's RetryInfo): the body's
        (RateLimitError("429", rate_limit=RateLimitInfo(requests_limit=60), retry_after=5), 5),
        # nothing announced at all: the limiter's default pause after a 429
        (RateLimitError("429"), 1),
    ],
)
async def test_a_429_always_pauses_the_limiter(
    autojump_clock: MockClock, error: RateLimitError, pause: float
) -> None:
    adapter = ThrottledOnce(error)
    async with running(["gemini"], custom={"throttled": adapter}) as (orch, _):
        start = trio.current_time()
        try:
            # an announced delay on the only candidate is waited out (within max_server_delay)
            result = await orch.generate("q", provider="throttled", allow_fallback=False)
        except AllProvidersFailed:
            (limiter,) = orch.status().providers["throttled"].limiters.values()
            assert limiter.paused_until == pytest.approx(start + pause)
            result = await orch.generate("q", provider="throttled", allow_fallback=False)
        assert trio.current_time() == pytest.approx(start + pause)  # waited for the pause
    assert result.content == "ok"
