"""Circuit breaker scenarios: Polly's boundary tables and resilience4j's scenario list."""

from __future__ import annotations

import random

import pytest
import trio

from hafs_actors import errors
from hafs_actors.errors import CircuitOpenError, ConfigError, RateLimitError, ServerError
from hafs_actors.resilience import (
    BreakerConfig,
    BreakerEvent,
    CircuitBreaker,
    CircuitState,
    Permit,
    TransitionReason,
    WindowType,
    default_is_failure,
)

FAIL = ServerError("boom", status=500)


def breaker(**overrides: object) -> CircuitBreaker:
    """A breaker with only the rate rule active unless a test turns others on."""
    base: dict[str, object] = {
        "consecutive_failures": 0,
        "slow_call_duration": None,
        "open_duration_jitter": 0.0,
    }
    base.update(overrides)
    return CircuitBreaker(BreakerConfig(**base), rng=random.Random(7))  # type: ignore[arg-type]


def run(b: CircuitBreaker, now: float, outcomes: str, latency: float = 0.1) -> None:
    """Record one call per character: 's' success, 'f' counted failure, 'i' ignored."""
    for ch in outcomes:
        permit = b.try_acquire(now)
        assert permit is not None, f"rejected in {b.state}"
        if ch == "s":
            b.on_success(permit, now, latency)
        elif ch == "f":
            b.on_failure(permit, now, latency, FAIL)
        else:
            b.on_ignored(permit)


def trip(b: CircuitBreaker, now: float) -> float:
    """Trip a breaker configured with minimum_calls=1 and return when it may half-open."""
    run(b, now, "f")
    until = b.statistics(now).open_until
    assert b.state is CircuitState.OPEN
    assert until is not None
    return until


# --- thresholds (Polly AdvancedCircuitBehaviorTests-style table) -------------------------------


@pytest.mark.parametrize(
    ("window", "minimum", "threshold", "outcomes", "opens"),
    [
        (10, 10, 0.1, "f" + "s" * 9, True),  # exactly at the ratio: opens
        (10, 10, 0.2, "f" + "s" * 9, False),  # one failure below the ratio
        (10, 10, 0.1, "s" * 8 + "f", False),  # 9 calls: one below minimum
        (10, 10, 0.5, "sfsfsfsfs" + "f", True),  # 5/10 at the 10th call
        (10, 10, 0.5, "sfsfsfsfs" + "s", False),  # 4/10
        (100, 100, 0.07, "f" * 7 + "s" * 93, True),  # 0.07 * 100 != 7 in floating point
        (100, 100, 0.07, "f" * 6 + "s" * 94, False),
        (100, 100, 0.3, "f" * 30 + "s" * 70, True),
        (20, 10, 1.0, "f" * 9, False),  # all 9 failed, still below minimum (resilience4j)
        (20, 10, 1.0, "f" * 10, True),
        (5, 100, 0.5, "ssfff", True),  # COUNT window clamps minimum_calls to its size
    ],
)
def test_failure_rate_boundaries(
    window: int, minimum: int, threshold: float, outcomes: str, opens: bool
) -> None:
    b = breaker(window_size=window, minimum_calls=minimum, failure_rate_threshold=threshold)
    # Successes first, so the rule is only ever evaluated on the final tally.
    ordered = "".join(sorted(outcomes, key=lambda c: c != "s"))
    run(b, 0.0, ordered)
    assert (b.state is CircuitState.OPEN) is opens


def test_ignored_errors_count_neither_way() -> None:
    b = breaker(window_size=4, minimum_calls=4, failure_rate_threshold=0.5)
    run(b, 0.0, "ffiiii")
    stats = b.statistics(0.0)
    assert stats.window_calls == 2
    assert b.state is CircuitState.CLOSED
    run(b, 0.0, "ss")
    assert b.state is CircuitState.OPEN  # 2 of 4 recorded calls failed


def test_count_window_forgets_old_outcomes() -> None:
    b = breaker(window_size=4, minimum_calls=4, failure_rate_threshold=0.75)
    run(b, 0.0, "ffss")  # 50 %
    run(b, 0.0, "ss")  # the two failures leave the window
    stats = b.statistics(0.0)
    assert (stats.window_calls, stats.window_failures) == (4, 0)
    run(b, 0.0, "fff")
    assert b.state is CircuitState.OPEN


def test_time_window_failures_across_a_bucket_edge_below_minimum_do_not_open() -> None:
    """Polly v7 spec: failures at the end of one window and the start of the next."""
    b = breaker(
        window_type=WindowType.TIME,
        window_size=10.0,
        time_window_buckets=10,
        minimum_calls=4,
        failure_rate_threshold=0.5,
    )
    run(b, 0.5, "ff")
    run(b, 10.99, "f")  # the bucket of t=0.5 is [0, 1): gone at t=10
    assert b.statistics(10.99).window_calls == 1
    run(b, 11.0, "f")
    assert b.state is CircuitState.CLOSED
    run(b, 11.0, "f")
    assert b.state is CircuitState.CLOSED
    run(b, 11.5, "f")
    assert b.state is CircuitState.OPEN


def test_time_window_keeps_calls_just_within_the_window() -> None:
    b = breaker(
        window_type=WindowType.TIME,
        window_size=10.0,
        time_window_buckets=10,
        minimum_calls=4,
        failure_rate_threshold=1.0,
    )
    run(b, 0.0, "fff")
    run(b, 9.999, "f")  # still the window of t=0
    assert b.state is CircuitState.OPEN


def test_time_window_accepts_any_minimum() -> None:
    b = breaker(window_type=WindowType.TIME, window_size=5.0, minimum_calls=50)
    run(b, 0.0, "f" * 49)
    assert b.state is CircuitState.CLOSED
    run(b, 0.0, "f")
    assert b.state is CircuitState.OPEN


def test_consecutive_failures_trip_below_minimum_calls() -> None:
    b = breaker(consecutive_failures=3, minimum_calls=100, window_size=100)
    run(b, 0.0, "ffsff")
    assert b.state is CircuitState.CLOSED
    run(b, 0.0, "f")
    assert b.state is CircuitState.OPEN
    assert b.statistics(0.0).trips == 1


# --- slow calls ----------------------------------------------------------------------------


def test_slow_call_rate_opens_at_threshold_and_latency_at_limit_is_not_slow() -> None:
    b = breaker(
        window_size=4,
        minimum_calls=4,
        slow_call_duration=2.0,
        slow_call_rate_threshold=0.5,
        failure_rate_threshold=1.0,
    )
    events: list[BreakerEvent] = []
    b.observer = events.append
    run(b, 0.0, "ss", latency=2.0)  # exactly at the limit: not slow
    run(b, 0.0, "s", latency=2.5)
    assert b.state is CircuitState.CLOSED
    stats = b.statistics(0.0)
    assert (stats.window_calls, stats.window_slow_calls) == (3, 1)
    run(b, 0.0, "s", latency=60.0)  # 2 of 4 slow
    assert b.state is CircuitState.OPEN
    assert events[-1].reason is TransitionReason.SLOW_CALL_RATE


def test_slow_failures_count_as_both() -> None:
    b = breaker(window_size=2, minimum_calls=2, slow_call_duration=1.0, failure_rate_threshold=1.0)
    run(b, 0.0, "s", latency=5.0)
    run(b, 0.0, "f", latency=5.0)
    stats = b.statistics(0.0)
    assert b.state is CircuitState.OPEN  # 100 % slow
    assert stats.trips == 1


# --- open, half-open, growth ---------------------------------------------------------------


def test_lazy_half_open_is_inclusive_at_the_boundary() -> None:
    b = breaker(minimum_calls=1, window_size=1, open_duration=5.0)
    until = trip(b, 100.0)
    assert until == 105.0
    assert b.try_acquire(104.999999) is None
    assert b.state is CircuitState.OPEN
    probe = b.try_acquire(105.0)
    assert probe is not None
    assert probe.probe
    assert b.state is CircuitState.HALF_OPEN


def test_half_open_admits_only_the_configured_probes() -> None:
    b = breaker(minimum_calls=1, window_size=1, half_open_probes=3)
    until = trip(b, 0.0)
    probes = [b.try_acquire(until) for _ in range(4)]
    assert [p is not None for p in probes] == [True, True, True, False]
    assert b.statistics(until).half_open_in_flight == 3


def test_cancelled_probe_returns_its_permit() -> None:
    """Hystrix testUnsubscriptionDoesNotLeaveCircuitStuckHalfOpen, for trio."""
    b = breaker(minimum_calls=1, window_size=1, half_open_probes=1)
    until = trip(b, 0.0)
    probe = b.try_acquire(until)
    assert probe is not None
    assert b.try_acquire(until) is None
    b.on_cancel(probe)
    stats = b.statistics(until)
    assert stats.half_open_in_flight == 0
    assert stats.half_open_calls == 0
    assert stats.cancelled == 1
    again = b.try_acquire(until)
    assert again is not None
    b.on_success(again, until, 0.1)
    assert b.state is CircuitState.CLOSED


async def test_trio_cancellation_passed_to_on_failure_never_counts() -> None:
    b = breaker(minimum_calls=1, window_size=1, consecutive_failures=1)
    permit = b.try_acquire(trio.current_time())
    assert permit is not None
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.sleep(1)
        except trio.Cancelled as exc:
            b.on_failure(permit, trio.current_time(), 0.5, exc)
            raise
    stats = b.statistics(trio.current_time())
    assert b.state is CircuitState.CLOSED
    assert (stats.cancelled, stats.failures, stats.window_calls) == (1, 0, 0)


def test_ignored_probe_returns_its_permit() -> None:
    b = breaker(minimum_calls=1, window_size=1)
    until = trip(b, 0.0)
    probe = b.try_acquire(until)
    assert probe is not None
    b.on_failure(probe, until, 0.1, RateLimitError("429", status=429))
    assert b.state is CircuitState.HALF_OPEN
    assert b.try_acquire(until) is not None


def test_half_open_decides_after_min_of_minimum_calls_and_probes() -> None:
    b = breaker(minimum_calls=2, window_size=2, half_open_probes=4, failure_rate_threshold=0.5)
    run(b, 0.0, "ff")
    until = b.statistics(0.0).open_until
    assert until is not None
    p1, p2, p3 = (b.try_acquire(until) for _ in range(3))
    assert p1
    assert p2
    assert p3
    b.on_success(p1, until, 0.1)
    assert b.state is CircuitState.HALF_OPEN
    b.on_success(p2, until, 0.1)  # 2 outcomes = min(2, 4): decide, 0 % failed
    assert b.state is CircuitState.CLOSED
    b.on_failure(p3, until, 0.1, FAIL)  # a probe of the old state: not counted
    assert b.statistics(until).window_calls == 0


def test_open_duration_grows_to_the_cap_and_resets_after_close() -> None:
    b = breaker(
        minimum_calls=1,
        window_size=1,
        open_duration=5.0,
        open_duration_multiplier=2.0,
        max_open_duration=30.0,
    )
    now = 0.0
    durations = []
    until = trip(b, now)
    for _ in range(5):
        durations.append(until - now)
        now = until
        probe = b.try_acquire(now)
        assert probe is not None
        b.on_failure(probe, now, 0.1, FAIL)  # probe fails: open again, longer
        until = b.statistics(now).open_until
        assert until is not None
    durations.append(until - now)
    assert durations == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]
    assert b.statistics(now).consecutive_trips == 6
    probe = b.try_acquire(until)
    assert probe is not None
    b.on_success(probe, until, 0.1)
    assert b.state is CircuitState.CLOSED
    assert trip(b, until) - until == 5.0


def test_jitter_stays_within_bounds() -> None:
    b = CircuitBreaker(
        BreakerConfig(
            minimum_calls=1,
            window_size=1,
            open_duration=10.0,
            open_duration_multiplier=1.0,
            open_duration_jitter=0.5,
        ),
        rng=random.Random(3),
    )
    seen = set()
    now = 0.0
    for _ in range(200):
        until = trip(b, now)
        assert 5.0 <= until - now <= 10.0
        seen.add(round(until - now, 3))
        b.reset(until)
        now = until
    assert len(seen) > 100  # really random, not a constant


def test_stale_permits_do_not_count_in_the_new_state() -> None:
    b = breaker(minimum_calls=1, window_size=1)
    old = b.try_acquire(0.0)
    assert old is not None
    until = trip(b, 0.0)
    b.on_failure(old, 1.0, 0.1, FAIL)  # admitted while CLOSED, finished while OPEN
    assert b.statistics(1.0).open_until == until
    probe = b.try_acquire(until)
    assert probe is not None
    b.on_success(probe, until, 0.1)
    assert b.state is CircuitState.CLOSED


def test_a_permit_handed_back_twice_is_an_error() -> None:
    b = breaker()
    permit = b.try_acquire(0.0)
    assert permit is not None
    b.on_success(permit, 0.0, 0.1)
    with pytest.raises(RuntimeError, match="already handed back"):
        b.on_failure(permit, 0.0, 0.1, FAIL)
    assert b.statistics(0.0).failures == 0


# --- server delay and operators ------------------------------------------------------------


def test_server_delay_opens_without_growth_and_only_extends() -> None:
    b = breaker(open_duration=5.0)
    events: list[BreakerEvent] = []
    b.observer = events.append
    b.force_open_until(3600.0, 0.0)  # quota exhausted for an hour
    assert b.state is CircuitState.OPEN
    assert b.retry_after(10.0) == 3590.0
    b.force_open_until(60.0, 10.0)  # shorter: ignored
    assert b.statistics(10.0).open_until == 3600.0
    b.force_open_until(7200.0, 20.0)  # longer: extended
    assert b.statistics(20.0).open_until == 7200.0
    assert [e.reason for e in events] == [TransitionReason.SERVER_DELAY] * 2
    assert b.try_acquire(7199.0) is None
    assert b.try_acquire(7200.0) is not None  # then a normal half-open probe
    stats = b.statistics(7200.0)
    assert stats.consecutive_trips == 0
    assert stats.next_open_duration == 5.0


def test_server_delay_in_the_past_is_ignored() -> None:
    b = breaker()
    b.force_open_until(5.0, 10.0)
    assert b.state is CircuitState.CLOSED


def test_operator_overrides() -> None:
    b = breaker(minimum_calls=1, window_size=1)
    b.force_open(0.0)
    assert b.try_acquire(1e9) is None
    assert b.retry_after(0.0) is None
    b.force_open_until(10.0, 0.0)  # server delays do not override an operator
    assert b.state is CircuitState.FORCED_OPEN
    b.force_closed(0.0)
    run(b, 0.0, "f" * 50)  # nothing recorded while forced closed
    assert b.state is CircuitState.FORCED_CLOSED
    assert b.statistics(0.0).window_calls == 0
    b.reset(0.0)
    assert b.state is CircuitState.CLOSED
    run(b, 0.0, "f")
    assert b.state is CircuitState.OPEN


def test_acquire_raises_circuit_open_error_with_retry_after() -> None:
    b = breaker(minimum_calls=1, window_size=1, open_duration=5.0)
    trip(b, 0.0)
    with pytest.raises(CircuitOpenError) as info:
        b.acquire(2.0, provider="gemini", model="flash")
    err = info.value
    assert err.retry_after == 3.0
    assert err.provider == "gemini"
    assert not err.retryable
    assert not err.breaker_failure
    assert "open" in str(err)
    assert b.statistics(2.0).rejected == 1


def test_events_and_statistics_describe_the_flow() -> None:
    events: list[BreakerEvent] = []
    b = CircuitBreaker(
        BreakerConfig(minimum_calls=2, window_size=2, open_duration_jitter=0.0),
        observer=events.append,
    )
    run(b, 1.0, "sf")
    stats = b.statistics(1.0)
    assert b.state is CircuitState.OPEN
    assert stats.failure_rate is None  # the window is cleared on leaving CLOSED
    assert stats.trips == 1
    assert stats.current_open_duration == 5.0
    assert stats.successes == 1
    assert stats.failures == 1
    probe = b.try_acquire(6.0)
    assert probe is not None
    b.on_success(probe, 6.0, 0.2)
    assert [(e.previous, e.state, e.reason, e.at) for e in events] == [
        (CircuitState.CLOSED, CircuitState.OPEN, TransitionReason.FAILURE_RATE, 1.0),
        (CircuitState.OPEN, CircuitState.HALF_OPEN, TransitionReason.OPEN_DURATION_ELAPSED, 6.0),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED, TransitionReason.PROBES_SUCCEEDED, 6.0),
    ]
    assert events[0].open_until == 6.0
    run(b, 7.0, "s")
    stats = b.statistics(7.0)
    assert (stats.window_calls, stats.failure_rate, stats.slow_call_rate) == (1, 0.0, 0.0)


def test_statistics_applies_the_due_half_open_transition() -> None:
    b = breaker(minimum_calls=1, window_size=1, open_duration=5.0)
    trip(b, 0.0)
    assert b.statistics(4.0).state is CircuitState.OPEN
    assert b.statistics(5.0).state is CircuitState.HALF_OPEN


# --- what counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (errors.ServerError("x"), True),
        (errors.OverloadedError("x"), True),
        (errors.ProviderTimeoutError("x"), True),
        (errors.ProviderConnectionError("x"), True),
        (errors.ProtocolError("x"), True),
        (errors.StreamInterruptedError("x"), True),
        (errors.RateLimitError("x"), False),
        (errors.BadRequestError("x"), False),
        (errors.ContextLengthError("x"), False),
        (errors.AuthenticationError("x"), False),
        (errors.NotFoundError("x"), False),
        (errors.ContentFilterError("x"), False),
        (errors.UnsupportedError("x"), False),
        (errors.CircuitOpenError("x"), False),
        (errors.RateLimitWaitExceeded("x"), False),
        (OSError("reset"), True),
        (ValueError("adapter bug"), True),
    ],
)
def test_default_failure_classification(error: BaseException, counts: bool) -> None:
    assert default_is_failure(error) is counts


def test_custom_failure_predicate() -> None:
    def only_overload(error: BaseException) -> bool:
        return isinstance(error, errors.OverloadedError)

    b = breaker(minimum_calls=1, window_size=1, is_failure=only_overload)
    permit = b.try_acquire(0.0)
    assert permit is not None
    b.on_failure(permit, 0.0, 0.1, FAIL)
    assert b.state is CircuitState.CLOSED
    assert b.statistics(0.0).ignored == 1
    permit = b.try_acquire(0.0)
    assert permit is not None
    b.on_failure(permit, 0.0, 0.1, errors.OverloadedError("529"))
    assert b.state is CircuitState.OPEN


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_size", 0),
        ("window_size", 2.5),  # COUNT windows hold whole calls
        ("minimum_calls", 0),
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", 50),  # a percentage, not a ratio
        ("slow_call_rate_threshold", 1.5),
        ("slow_call_duration", -1.0),
        ("half_open_probes", 0),
        ("open_duration", float("inf")),
        ("open_duration_multiplier", 0.5),
        ("max_open_duration", 1.0),  # below open_duration
        ("open_duration_jitter", 1.0),
        ("consecutive_failures", -1),
        ("time_window_buckets", True),
        ("window_type", "count"),
        ("is_failure", "yes"),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        BreakerConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.source == "BreakerConfig"
    assert info.value.key == field


def test_defaults_are_the_documented_ones() -> None:
    cfg = BreakerConfig()
    assert cfg.window_type is WindowType.COUNT
    assert cfg.window_size == 20
    assert (cfg.minimum_calls, cfg.failure_rate_threshold, cfg.consecutive_failures) == (
        10,
        0.5,
        5,
    )
    assert (cfg.slow_call_duration, cfg.slow_call_rate_threshold) == (60.0, 1.0)
    assert (cfg.half_open_probes, cfg.open_duration, cfg.max_open_duration) == (1, 5.0, 300.0)
    assert (cfg.open_duration_multiplier, cfg.open_duration_jitter) == (2.0, 0.5)


def test_permit_repr_is_informative() -> None:
    assert repr(Permit(3, True)) == "Permit(epoch=3, probe=True, done=False)"
