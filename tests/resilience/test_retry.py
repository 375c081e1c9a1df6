"""Retry policy: full jitter bounds, server delays, deadlines and the retry budget."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigError,
    OverloadedError,
    RateLimitError,
    ServerError,
)
from hafs_actors.resilience import RetryBudget, RetryConfig, RetryPolicy
from hafs_actors.types import RateLimitInfo


def policy(seed: int = 1, **overrides: object) -> RetryPolicy:
    base: dict[str, object] = {"budget_min_retries_per_second": 1000.0}  # budget out of the way
    base.update(overrides)
    return RetryPolicy(RetryConfig(**base), rng=random.Random(seed))  # type: ignore[arg-type]


def boom(provider: str = "openai", **kw: object) -> ServerError:
    return ServerError("500", provider=provider, status=500, **kw)  # type: ignore[arg-type]


# --- backoff -------------------------------------------------------------------------------


@given(
    attempt=st.integers(0, 2000),
    base=st.floats(0.001, 10.0),
    cap=st.floats(0.001, 100.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_full_jitter_delay_is_within_zero_and_the_capped_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    p = policy(seed, base_delay=base, max_delay=cap, max_retries=10**6)
    decision = p.decide(boom(), attempt, 0.0, None)
    ceiling = min(cap, base * 2.0 ** min(attempt, 1023))
    assert decision.retry
    assert 0.0 <= decision.delay <= ceiling <= cap
    assert p.backoff_ceiling(attempt) == ceiling


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    p = policy(base_delay=0.5, max_delay=8.0)
    assert [p.backoff_ceiling(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_full_jitter_spreads_over_the_whole_range() -> None:
    p = policy(seed=5, base_delay=1.0, max_delay=1.0, max_retries=10)
    delays = [p.decide(boom(), 0, 0.0, None).delay for _ in range(2000)]
    assert min(delays) < 0.01
    assert max(delays) > 0.99
    assert 0.45 < sum(delays) / len(delays) < 0.55  # uniform mean


def test_same_seed_same_delays() -> None:
    a, b = policy(seed=42), policy(seed=42)
    assert [a.decide(boom(), 1, 0.0, None).delay for _ in range(20)] == [
        b.decide(boom(), 1, 0.0, None).delay for _ in range(20)
    ]


# --- what is retried -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("401"),
        CircuitOpenError("open", retry_after=1.0),
        ValueError("not a provider error"),
        ServerError("500 but told not to", retryable=False),
    ],
)
def test_only_retryable_errors_are_retried(error: BaseException) -> None:
    decision = policy().decide(error, 0, 0.0, None)
    assert not decision.retry
    assert "not retryable" in decision.reason


def test_max_retries() -> None:
    p = policy(max_retries=2)
    assert p.decide(boom(), 0, 0.0, None).retry
    assert p.decide(boom(), 1, 0.0, None).retry
    decision = p.decide(boom(), 2, 0.0, None)
    assert not decision.retry
    assert "max retries (2)" in decision.reason


def test_bad_attempt_number() -> None:
    with pytest.raises(ValueError, match="attempt_no"):
        policy().decide(boom(), -1, 0.0, None)


# --- server delays and deadlines -----------------------------------------------------------


def test_server_delay_is_honoured_exactly() -> None:
    p = policy(max_delay=1.0)
    decision = p.decide(OverloadedError("529", retry_after=7.5), 0, 0.0, 60.0)
    assert decision.retry
    assert decision.delay == 7.5
    assert "server delay" in decision.reason


def test_server_delay_from_rate_limit_headers() -> None:
    err = RateLimitError("429", rate_limit=RateLimitInfo(retry_after=4.0))
    assert policy().decide(err, 0, 0.0, None).delay == 4.0


def test_server_delay_above_the_cap_moves_on() -> None:
    decision = policy(max_server_delay=60.0).decide(
        RateLimitError("quota", retry_after=3600.0), 0, 0.0, None
    )
    assert not decision.retry
    assert decision.delay == 3600.0
    assert "move on" in decision.reason


def test_server_delay_at_the_cap_is_waited() -> None:
    assert policy(max_server_delay=60.0).decide(boom(retry_after=60.0), 0, 0.0, None).retry


def test_delay_that_uses_up_the_deadline_moves_on() -> None:
    p = policy()
    decision = p.decide(boom(retry_after=5.0), 0, 0.0, 5.0)
    assert not decision.retry
    assert "deadline" in decision.reason
    assert p.decide(boom(retry_after=5.0), 0, 0.0, 5.1).retry
    # a zero server delay means "no advice": full jitter applies
    zero = p.decide(boom(retry_after=0.0), 0, 0.0, None)
    assert zero.retry
    assert "jitter" in zero.reason


@given(remaining=st.floats(0.0, 20.0), seed=st.integers(0, 1000))
def test_a_granted_retry_always_fits_the_deadline(remaining: float, seed: int) -> None:
    decision = policy(seed, base_delay=4.0, max_delay=16.0).decide(boom(), 2, 0.0, remaining)
    assert not decision.retry or decision.delay < remaining


# --- budget --------------------------------------------------------------------------------


def test_budget_exhausts_and_refills() -> None:
    p = RetryPolicy(
        RetryConfig(budget_ratio=0.2, budget_min_retries_per_second=0.0, budget_ttl=10.0),
        rng=random.Random(0),
    )
    for _ in range(10):
        p.record_request("openai", 0.0)
    granted = [p.decide(boom(), 0, 0.0, None).retry for _ in range(3)]
    assert granted == [True, True, False]  # 20 % of 10 requests
    refused = p.decide(boom(), 0, 0.0, None)
    assert "budget of openai exhausted" in refused.reason
    assert p.budget("openai").balance(0.0) == 0.0
    # more requests earn more retries
    for _ in range(5):
        p.record_request("openai", 1.0)
    assert p.decide(boom(), 0, 1.0, None).retry
    assert not p.decide(boom(), 0, 1.0, None).retry
    # after the ttl, old deposits and withdrawals are gone together
    assert p.budget("openai").balance(10.5) == pytest.approx(0.0)
    for _ in range(5):
        p.record_request("openai", 11.0)
    assert p.decide(boom(), 0, 11.0, None).retry


def test_reserve_lets_a_quiet_provider_retry_then_refills() -> None:
    p = RetryPolicy(
        RetryConfig(budget_ratio=0.2, budget_min_retries_per_second=0.5, budget_ttl=10.0)
    )
    granted = sum(p.decide(boom(), 0, 0.0, None).retry for _ in range(20))
    assert granted == 5  # 0.5/s x 10 s
    assert not p.decide(boom(), 0, 9.9, None).retry
    assert p.decide(boom(), 0, 10.0, None).retry  # the withdrawals of t=0 left the window


def test_budgets_are_per_provider() -> None:
    p = RetryPolicy(RetryConfig(budget_ratio=0.0, budget_min_retries_per_second=0.1))
    assert p.decide(boom("a"), 0, 0.0, None).retry
    assert not p.decide(boom("a"), 0, 0.0, None).retry
    assert p.decide(boom("b"), 0, 0.0, None).retry
    assert p.decide(boom("a"), 0, 0.0, None, provider="c").retry


def test_refusals_for_other_reasons_do_not_spend_the_budget() -> None:
    p = RetryPolicy(RetryConfig(budget_ratio=0.0, budget_min_retries_per_second=0.1))
    assert not p.decide(boom(retry_after=5.0), 0, 0.0, 1.0).retry  # deadline
    assert not p.decide(AuthenticationError("401", provider="openai"), 0, 0.0, None).retry
    assert p.budget("openai").balance(0.0) == 1.0
    assert p.decide(boom(), 0, 0.0, None).retry


@given(
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 1.0]),
    reserve=st.sampled_from([0.0, 0.1, 0.3, 1.0]),
    events=st.lists(st.booleans(), max_size=200),
)
def test_budget_never_grants_more_than_reserve_plus_ratio(
    ratio: float, reserve: float, events: list[bool]
) -> None:
    """Within one bucket nothing expires: grants stay within floor(reserve + ratio * requests)."""
    budget = RetryBudget(ratio, reserve, ttl=10.0)
    requests = granted = 0
    for is_request in events:
        if is_request:
            budget.deposit(0.5)
            requests += 1
        else:
            ok = budget.try_withdraw(0.5)
            bound = math.floor(reserve * 10.0 + ratio * requests + 1e-9)
            assert granted + ok <= bound
            # and it is not stingy: it grants whenever a whole token is there
            assert ok == (granted < bound)
            granted += ok


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("base_delay", 0),
        ("max_delay", float("inf")),
        ("max_server_delay", float("nan")),
        ("budget_ratio", -0.1),
        ("budget_min_retries_per_second", True),
        ("budget_ttl", 0.0),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        RetryConfig(**{field: value})  # type: ignore[arg-type]


def test_engine_defaults_are_the_configuration_defaults() -> None:
    """One default per setting: the [retry] section's defaults are the engine's."""
    from hafs_actors.config import RetrySettings

    assert RetrySettings().policy().config == RetryConfig()
