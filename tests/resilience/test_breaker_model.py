"""Hypothesis state machine: the breaker against a slow, obvious reference model.

The model keeps plain lists of outcomes and recomputes every rate from scratch with exact
fractions; the breaker keeps rings and running totals. Every step compares state, window
counts, probe accounting, trips and the transition events. Drawn configurations are small so
that boundaries (exactly at a threshold, one call below the minimum, the instant an open
period ends) are hit often.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import attrs
from hypothesis import event as note_event
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hafs_actors.errors import RateLimitError, ServerError
from hafs_actors.resilience import (
    BreakerConfig,
    BreakerEvent,
    CircuitBreaker,
    CircuitState,
    Permit,
    TransitionReason,
    WindowType,
)

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN
FORCED_OPEN = CircuitState.FORCED_OPEN
FORCED_CLOSED = CircuitState.FORCED_CLOSED

# Thresholds are multiples of 1/20 so the model can use the exact decimal value.
# Thresholds are drawn so that exact equality with a window's rate is common.
twentieths = st.one_of(st.sampled_from([4, 5, 10, 15, 20]), st.integers(1, 20))
kinds = st.sampled_from(
    ["success", "success", "failure", "failure", "not_counted", "ignored", "cancelled"]
)
latencies = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.5, 3.0, 100.0])


@attrs.define
class ModelPermit:
    epoch: int
    probe: bool
    done: bool = False


@attrs.define
class Outcome:
    t: float
    failed: bool
    slow: bool


class Model:
    """The documented semantics, written as directly as possible."""

    def __init__(self, cfg: BreakerConfig, failure_k: int, slow_k: int) -> None:
        self.cfg = cfg
        self.failure_threshold = Fraction(failure_k, 20)
        self.slow_threshold = Fraction(slow_k, 20)
        self.state = CLOSED
        self.epoch = 0
        self.outcomes: list[Outcome] = []
        self.consecutive = 0
        self.open_until: float | None = None
        self.consecutive_trips = 0
        self.trips = 0
        self.next_nominal = cfg.open_duration
        self.probes_in_flight = 0
        self.probe_outcomes: list[Outcome] = []
        self.events: list[tuple[CircuitState, CircuitState, TransitionReason]] = []
        self.pending_trip_nominal: float | None = None

    # window -----------------------------------------------------------------------------
    def window(self, now: float) -> list[Outcome]:
        cfg = self.cfg
        if cfg.window_type is WindowType.COUNT:
            return self.outcomes[-int(cfg.window_size) :]
        width = cfg.window_size / cfg.time_window_buckets
        current = math.floor(now / width)
        return [
            o for o in self.outcomes if math.floor(o.t / width) > current - cfg.time_window_buckets
        ]

    def min_calls(self) -> int:
        if self.cfg.window_type is WindowType.COUNT:
            return min(self.cfg.minimum_calls, int(self.cfg.window_size))
        return self.cfg.minimum_calls

    def exceeded(self, outcomes: list[Outcome]) -> TransitionReason | None:
        n = len(outcomes)
        failures = sum(o.failed for o in outcomes)
        slow = sum(o.slow for o in outcomes)
        if Fraction(failures, n) >= self.failure_threshold:
            return TransitionReason.FAILURE_RATE
        if Fraction(slow, n) >= self.slow_threshold:
            return TransitionReason.SLOW_CALL_RATE
        return None

    # transitions ------------------------------------------------------------------------
    def transition(self, state: CircuitState, reason: TransitionReason) -> None:
        self.events.append((self.state, state, reason))
        self.state = state
        self.epoch += 1
        self.outcomes = []
        self.consecutive = 0
        self.probes_in_flight = 0
        self.probe_outcomes = []
        if state is not OPEN:
            self.open_until = None

    def trip(self, reason: TransitionReason) -> None:
        self.pending_trip_nominal = self.next_nominal
        self.next_nominal = min(
            self.cfg.max_open_duration, self.next_nominal * self.cfg.open_duration_multiplier
        )
        self.trips += 1
        self.consecutive_trips += 1
        self.transition(OPEN, reason)  # open_until is adopted from the breaker's event

    def close_after_probes(self) -> None:
        self.consecutive_trips = 0
        self.next_nominal = self.cfg.open_duration
        self.transition(CLOSED, TransitionReason.PROBES_SUCCEEDED)

    # operations -------------------------------------------------------------------------
    def acquire(self, now: float) -> ModelPermit | None:
        if self.state in (CLOSED, FORCED_CLOSED):
            return ModelPermit(self.epoch, False)
        if self.state is OPEN:
            assert self.open_until is not None
            if now < self.open_until:
                return None
            self.transition(HALF_OPEN, TransitionReason.OPEN_DURATION_ELAPSED)
        free = self.probes_in_flight + len(self.probe_outcomes) < self.cfg.half_open_probes
        if self.state is HALF_OPEN and free:
            self.probes_in_flight += 1
            return ModelPermit(self.epoch, True)
        return None

    def release(self, permit: ModelPermit) -> bool:
        assert not permit.done
        permit.done = True
        if permit.epoch != self.epoch:
            return False
        if permit.probe:
            self.probes_in_flight -= 1
            return True
        return self.state is CLOSED

    def record(self, now: float, failed: bool, slow: bool) -> None:
        outcome = Outcome(now, failed, slow)
        if self.state is HALF_OPEN:
            self.probe_outcomes.append(outcome)
            needed = min(self.cfg.minimum_calls, self.cfg.half_open_probes)
            if len(self.probe_outcomes) >= needed:
                reason = self.exceeded(self.probe_outcomes)
                if reason is None:
                    self.close_after_probes()
                else:
                    self.trip(reason)
            return
        self.outcomes.append(outcome)
        if failed:
            self.consecutive += 1
            limit = self.cfg.consecutive_failures
            if limit and self.consecutive >= limit:
                self.trip(TransitionReason.CONSECUTIVE_FAILURES)
                return
        else:
            self.consecutive = 0
        window = self.window(now)
        if len(window) >= self.min_calls():
            reason = self.exceeded(window)
            if reason is not None:
                self.trip(reason)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.permits: list[tuple[Permit, ModelPermit]] = []
        self.events: list[BreakerEvent] = []
        self.seen_events = 0

    @initialize(
        count_window=st.booleans(),
        window_calls=st.integers(1, 8),
        window_seconds=st.sampled_from([1.0, 2.0, 5.0, 10.0, 30.0]),
        buckets=st.integers(1, 5),
        minimum_calls=st.integers(1, 10),
        failure_k=twentieths,
        consecutive=st.sampled_from([0, 0, 0, 1, 2, 3, 5]),
        slow_duration=st.sampled_from([None, 1.0, 2.5, 2.5]),
        slow_k=st.sampled_from([5, 10, 10, 15, 20, 20]),
        probes=st.integers(1, 4),
        open_duration=st.sampled_from([1.0, 2.0, 5.0]),
        multiplier=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
        cap_factor=st.sampled_from([1.0, 4.0, 100.0]),
        jitter=st.sampled_from([0.0, 0.25, 0.5, 0.9]),
        seed=st.integers(0, 2**32 - 1),
    )
    def setup(
        self,
        count_window: bool,
        window_calls: int,
        window_seconds: float,
        buckets: int,
        minimum_calls: int,
        failure_k: int,
        consecutive: int,
        slow_duration: float | None,
        slow_k: int,
        probes: int,
        open_duration: float,
        multiplier: float,
        cap_factor: float,
        jitter: float,
        seed: int,
    ) -> None:
        self.cfg = BreakerConfig(
            window_type=WindowType.COUNT if count_window else WindowType.TIME,
            window_size=window_calls if count_window else window_seconds,
            time_window_buckets=buckets,
            minimum_calls=minimum_calls,
            failure_rate_threshold=failure_k / 20,
            consecutive_failures=consecutive,
            slow_call_duration=slow_duration,
            slow_call_rate_threshold=slow_k / 20,
            half_open_probes=probes,
            open_duration=open_duration,
            open_duration_multiplier=multiplier,
            max_open_duration=open_duration * cap_factor,
            open_duration_jitter=jitter,
        )
        self.breaker = CircuitBreaker(
            self.cfg, rng=random.Random(seed), observer=self.events.append
        )
        self.model = Model(self.cfg, failure_k, slow_k)

    # --- syncing -------------------------------------------------------------------------

    def check_events(self) -> None:
        new = self.events[self.seen_events :]
        self.seen_events = len(self.events)
        got = [(e.previous, e.state, e.reason) for e in new]
        expected = self.model.events
        self.model.events = []
        assert got == expected
        for prev, state, reason in got:
            note_event(f"{prev.value}->{state.value} {reason.value}")
        for event in new:
            assert event.at == self.now
            if event.state is OPEN:
                assert event.open_until is not None
                if event.reason is TransitionReason.SERVER_DELAY:
                    continue
                nominal = self.model.pending_trip_nominal
                assert nominal is not None
                duration = event.open_until - self.now
                low = (1 - self.cfg.open_duration_jitter) * nominal
                assert low * (1 - 1e-9) <= duration <= nominal * (1 + 1e-9)
                assert duration <= self.cfg.max_open_duration * (1 + 1e-9)
                self.model.open_until = event.open_until

    def slow(self, latency: float) -> bool:
        d = self.cfg.slow_call_duration
        return d is not None and latency > d

    # --- rules ---------------------------------------------------------------------------

    @rule(dt=st.floats(0, 50, allow_nan=False))
    def advance(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.model.state is OPEN)
    @rule(before=st.booleans())
    def advance_to_open_boundary(self, before: bool) -> None:
        """Land exactly on the end of the open period, or on the float just before it."""
        until = self.model.open_until
        assert until is not None
        target = math.nextafter(until, -math.inf) if before else until
        self.now = max(self.now, target)

    @rule(n=st.integers(1, 3))
    def acquire(self, n: int) -> None:
        for _ in range(n):
            permit = self.breaker.try_acquire(self.now)
            expected = self.model.acquire(self.now)
            self.check_events()
            assert (permit is None) == (expected is None), (permit, expected)
            if permit is not None and expected is not None:
                assert permit.probe == expected.probe
                self.permits.append((permit, expected))

    def complete(self, permit: Permit, expected: ModelPermit, kind: str, latency: float) -> None:
        slow = self.slow(latency)
        if kind == "success":
            self.breaker.on_success(permit, self.now, latency)
            if self.model.release(expected):
                self.model.record(self.now, False, slow)
        elif kind == "failure":
            self.breaker.on_failure(permit, self.now, latency, ServerError("boom", status=500))
            if self.model.release(expected):
                self.model.record(self.now, True, slow)
        elif kind == "not_counted":
            self.breaker.on_failure(permit, self.now, latency, RateLimitError("429", status=429))
            self.model.release(expected)
        elif kind == "ignored":
            self.breaker.on_ignored(permit)
            self.model.release(expected)
        else:
            self.breaker.on_cancel(permit)
            self.model.release(expected)
        self.check_events()

    @precondition(lambda self: bool(self.permits))
    @rule(
        index=st.integers(0, 1000),
        kind=kinds,
        latency=latencies,
        later=st.floats(0, 3, allow_nan=False),
    )
    def finish(self, index: int, kind: str, latency: float, later: float) -> None:
        """Complete one of the calls in flight, possibly admitted in an earlier state."""
        permit, expected = self.permits.pop(index % len(self.permits))
        self.now += later
        self.complete(permit, expected, kind, latency)

    @rule(
        calls=st.lists(st.tuples(kinds, latencies), min_size=1, max_size=12),
        gap=st.sampled_from([0.0, 0.1, 0.7, 3.0]),
    )
    def burst(self, calls: list[tuple[str, float]], gap: float) -> None:
        """Several calls, each admitted and completed before the next starts."""
        for kind, latency in calls:
            self.now += gap
            permit = self.breaker.try_acquire(self.now)
            expected = self.model.acquire(self.now)
            self.check_events()
            assert (permit is None) == (expected is None)
            if permit is not None and expected is not None:
                self.complete(permit, expected, kind, latency)

    @precondition(lambda self: self.model.state not in (FORCED_OPEN, FORCED_CLOSED))
    @rule(delay=st.floats(-1, 500, allow_nan=False), rare=st.integers(0, 3))
    def server_delay(self, delay: float, rare: int) -> None:
        if rare:
            return
        until = self.now + delay
        self.breaker.force_open_until(until, self.now)
        model = self.model
        if until <= self.now:
            pass
        elif model.state is OPEN:
            assert model.open_until is not None
            if until > model.open_until:
                model.events.append((OPEN, OPEN, TransitionReason.SERVER_DELAY))
                model.open_until = until
        else:
            model.trips += 1
            model.transition(OPEN, TransitionReason.SERVER_DELAY)
            model.open_until = until
        self.check_events()
        assert self.breaker.statistics(self.now).open_until == model.open_until

    @rule(
        op=st.sampled_from(["force_open", "force_closed", "reset", "reset"]), rare=st.integers(0, 5)
    )
    def operator(self, op: str, rare: int) -> None:
        if rare and self.model.state not in (FORCED_OPEN, FORCED_CLOSED):
            return
        model = self.model
        if op == "force_open":
            self.breaker.force_open(self.now)
            model.transition(FORCED_OPEN, TransitionReason.FORCED_OPEN)
        else:
            getattr(self.breaker, op)(self.now)
            model.consecutive_trips = 0
            model.next_nominal = self.cfg.open_duration
            if op == "force_closed":
                model.transition(FORCED_CLOSED, TransitionReason.FORCED_CLOSED)
            else:
                model.transition(CLOSED, TransitionReason.RESET)
        self.check_events()

    @precondition(lambda self: bool(self.permits))
    @rule()
    def double_release_is_refused(self) -> None:
        permit, expected = self.permits.pop()
        self.breaker.on_cancel(permit)
        self.model.release(expected)
        try:
            self.breaker.on_cancel(permit)
        except RuntimeError:
            pass
        else:
            raise AssertionError("a permit was handed back twice without error")

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        model = self.model
        assert self.breaker.state is model.state
        stats = self.breaker.statistics(self.now)
        # statistics() may apply the lazy OPEN -> HALF_OPEN transition: mirror it.
        if model.state is OPEN and model.open_until is not None and self.now >= model.open_until:
            model.transition(HALF_OPEN, TransitionReason.OPEN_DURATION_ELAPSED)
        self.check_events()
        assert stats.state is model.state
        window = model.window(self.now) if model.state is CLOSED else []
        assert stats.window_calls == len(window)
        assert stats.window_failures == sum(o.failed for o in window)
        assert stats.window_slow_calls == sum(o.slow for o in window)
        assert stats.consecutive_failures == model.consecutive
        assert stats.half_open_in_flight == model.probes_in_flight
        assert stats.half_open_calls == len(model.probe_outcomes)
        assert 0 <= stats.half_open_in_flight <= self.cfg.half_open_probes
        assert stats.half_open_in_flight + stats.half_open_calls <= self.cfg.half_open_probes
        assert stats.trips == model.trips
        assert stats.consecutive_trips == model.consecutive_trips
        assert stats.next_open_duration == model.next_nominal
        assert stats.next_open_duration <= self.cfg.max_open_duration
        assert stats.open_until == (model.open_until if model.state is OPEN else None)


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60)
TestBreakerAgainstModel = BreakerMachine.TestCase
