"""The circuit breaker: a pure, synchronous state machine with the clock passed in.

Every method takes ``now`` (the provider actor passes ``trio.current_time()``), so the core has
no timer task and no I/O, and hypothesis can drive it step by step. Semantics follow
resilience4j (rate over a sliding window, ``minimum_calls``, slow-call rate, N half-open probes)
with Polly's lazy, inclusive OPEN -> HALF_OPEN transition and Envoy/Finagle's growing, jittered,
capped open duration. ``docs/resilience.md`` lists every default and where it comes from.

Usage, one call::

    permit = breaker.try_acquire(now)          # None: rejected (see retry_after(now))
    try:
        result = await call()
    except trio.Cancelled:
        breaker.on_cancel(permit)
        raise
    except BaseException as exc:
        breaker.on_failure(permit, trio.current_time(), latency, exc)
        raise
    else:
        breaker.on_success(permit, trio.current_time(), latency)
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable

import attrs
import trio

from ..errors import CircuitOpenError, ConfigError, ProviderError

__all__ = [
    "BreakerConfig",
    "BreakerEvent",
    "BreakerStatistics",
    "CircuitBreaker",
    "CircuitState",
    "Permit",
    "TransitionReason",
    "WindowType",
    "default_is_failure",
]


class CircuitState(str, enum.Enum):
    """Breaker states. The two FORCED states are operator overrides, left only by ``reset()``."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"


class WindowType(str, enum.Enum):
    """COUNT: the last ``window_size`` calls. TIME: the calls of the last ``window_size`` s."""

    COUNT = "count"
    TIME = "time"


class TransitionReason(str, enum.Enum):
    """Why the breaker changed state; carried by every :class:`BreakerEvent`."""

    FAILURE_RATE = "failure_rate"
    SLOW_CALL_RATE = "slow_call_rate"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    OPEN_DURATION_ELAPSED = "open_duration_elapsed"
    PROBES_SUCCEEDED = "probes_succeeded"
    SERVER_DELAY = "server_delay"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"
    RESET = "reset"
    #: another process's breaker decided (the shared state backend, ``hafs_actors.state``)
    SHARED = "shared"


def default_is_failure(error: BaseException) -> bool:
    """Whether ``error`` counts against the breaker by default.

    A :class:`~hafs_actors.errors.ProviderError` says so itself (``breaker_failure``: False for
    429s, request-caused 4xx, auth, not found, content filter, local rejections; True for 5xx,
    overload, timeouts, connection and protocol errors). Cancellation never counts. Any other
    exception (an unwrapped transport error, a bug in an adapter) counts, as in resilience4j.
    """
    if isinstance(error, ProviderError):
        return bool(error.breaker_failure)
    return not isinstance(error, trio.Cancelled)


def _config_error(key: str, message: str) -> ConfigError:
    return ConfigError(message, source="BreakerConfig", key=key)


def _number(value: object) -> float | None:
    """``value`` as a float when it is a real number (bool excluded), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _check_positive(key: str, value: object) -> None:
    number = _number(value)
    if number is None or not 0 < number < math.inf:
        raise _config_error(key, f"must be a positive finite number, got {value!r}")


def _check_ratio(key: str, value: object) -> None:
    number = _number(value)
    if number is None or not 0 < number <= 1:
        raise _config_error(key, f"must be a ratio in (0, 1], got {value!r}")


def _check_count(key: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _config_error(key, f"must be an integer >= {minimum}, got {value!r}")


@attrs.frozen
class BreakerConfig:
    """How a breaker decides. Rates are fractions: ``0.5`` means 50 %.

    A rate trips the breaker when it is **at or above** its threshold (resilience4j, Polly),
    and only once the window holds at least ``minimum_calls`` recorded calls (for a COUNT
    window, ``min(minimum_calls, window_size)``). ``consecutive_failures`` trips independently
    of the window and of ``minimum_calls``; 0 turns it off. Bad values raise
    :class:`~hafs_actors.errors.ConfigError` naming the field.
    """

    window_type: WindowType = WindowType.COUNT
    #: calls (COUNT, a whole number) or seconds (TIME)
    window_size: float = 20
    #: sub-windows of a TIME window; outcomes leave the window one bucket at a time
    time_window_buckets: int = 10
    minimum_calls: int = 10
    failure_rate_threshold: float = 0.5
    consecutive_failures: int = 5
    #: a call whose latency is strictly above this is slow; None turns slow-call tracking off
    slow_call_duration: float | None = 60.0
    slow_call_rate_threshold: float = 1.0
    half_open_probes: int = 1
    open_duration: float = 5.0
    open_duration_multiplier: float = 2.0
    max_open_duration: float = 300.0
    #: each open period lasts a uniform share in [(1 - jitter) * nominal, nominal]
    open_duration_jitter: float = 0.5
    #: which errors count as failures; errors that do not count are ignored
    is_failure: Callable[[BaseException], bool] = attrs.field(default=default_is_failure, eq=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.window_type, WindowType):
            raise _config_error("window_type", f"must be a WindowType, got {self.window_type!r}")
        _check_positive("window_size", self.window_size)
        if self.window_type is WindowType.COUNT and self.window_size != int(self.window_size):
            raise _config_error(
                "window_size", f"a COUNT window holds whole calls, got {self.window_size!r}"
            )
        _check_count("time_window_buckets", self.time_window_buckets, 1)
        _check_count("minimum_calls", self.minimum_calls, 1)
        _check_ratio("failure_rate_threshold", self.failure_rate_threshold)
        _check_count("consecutive_failures", self.consecutive_failures, 0)
        if self.slow_call_duration is not None:
            _check_positive("slow_call_duration", self.slow_call_duration)
        _check_ratio("slow_call_rate_threshold", self.slow_call_rate_threshold)
        _check_count("half_open_probes", self.half_open_probes, 1)
        _check_positive("open_duration", self.open_duration)
        _check_positive("open_duration_multiplier", self.open_duration_multiplier)
        if self.open_duration_multiplier < 1:
            raise _config_error(
                "open_duration_multiplier", f"must be >= 1, got {self.open_duration_multiplier!r}"
            )
        _check_positive("max_open_duration", self.max_open_duration)
        if self.max_open_duration < self.open_duration:
            raise _config_error(
                "max_open_duration",
                f"must be >= open_duration ({self.open_duration}), got {self.max_open_duration}",
            )
        jitter = _number(self.open_duration_jitter)
        if jitter is None or not 0 <= jitter < 1:
            raise _config_error(
                "open_duration_jitter", f"must be in [0, 1), got {self.open_duration_jitter!r}"
            )
        if not callable(self.is_failure):
            raise _config_error("is_failure", f"must be callable, got {self.is_failure!r}")

    @property
    def effective_minimum_calls(self) -> int:
        """``minimum_calls``, clamped to the window size for a COUNT window (resilience4j)."""
        if self.window_type is WindowType.COUNT:
            return min(self.minimum_calls, int(self.window_size))
        return self.minimum_calls

    @property
    def half_open_decision_calls(self) -> int:
        """Probe outcomes needed before HALF_OPEN decides: ``min(minimum_calls, probes)``."""
        return min(self.minimum_calls, self.half_open_probes)


@attrs.frozen
class BreakerEvent:
    """One state transition, for observers (the demo's "breaker events" display, logs)."""

    previous: CircuitState
    state: CircuitState
    at: float
    reason: TransitionReason
    #: set when the new state is OPEN: when a probe may be admitted
    open_until: float | None = None


@attrs.frozen
class BreakerStatistics:
    """A snapshot of one breaker; cheap to take, safe to share."""

    state: CircuitState
    window_calls: int
    window_failures: int
    window_slow_calls: int
    #: failures / calls in the window; None when the window is empty
    failure_rate: float | None
    slow_call_rate: float | None
    consecutive_failures: int
    open_until: float | None
    #: times the breaker went to OPEN, for any reason
    trips: int
    #: failure trips since the last close; drives the growth of the open duration
    consecutive_trips: int
    #: the (jittered) length of the current or latest open period
    current_open_duration: float | None
    #: the nominal length of the next failure trip, before jitter
    next_open_duration: float
    half_open_in_flight: int
    half_open_calls: int
    half_open_failures: int
    successes: int
    failures: int
    ignored: int
    cancelled: int
    rejected: int


class Permit:
    """Admission of one call. Hand it back exactly once, through one of the ``on_*`` methods.

    A permit remembers the breaker epoch it was issued in: outcomes of calls admitted before a
    state change are not counted against the new state (they are released, never recorded).
    """

    __slots__ = ("_done", "epoch", "probe")

    def __init__(self, epoch: int, probe: bool) -> None:
        self.epoch = epoch
        self.probe = probe
        self._done = False

    def __repr__(self) -> str:
        return f"Permit(epoch={self.epoch}, probe={self.probe}, done={self._done})"


_FAILED = 1
_SLOW = 2


class _CountWindow:
    """The last N outcomes in a ring, with running totals (subtract on evict)."""

    __slots__ = ("calls", "failures", "pos", "ring", "slow")

    def __init__(self, size: int) -> None:
        self.ring: list[int | None] = [None] * size
        self.pos = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, _now: float, outcome: int) -> None:
        old = self.ring[self.pos]
        if old is None:
            self.calls += 1
        else:
            self.failures -= old & _FAILED
            self.slow -= (old & _SLOW) >> 1
        self.ring[self.pos] = outcome
        self.failures += outcome & _FAILED
        self.slow += (outcome & _SLOW) >> 1
        self.pos = (self.pos + 1) % len(self.ring)

    def advance(self, _now: float) -> None:
        return None

    def clear(self) -> None:
        self.ring = [None] * len(self.ring)
        self.pos = self.calls = self.failures = self.slow = 0


class _TimeWindow:
    """Outcomes of the last ``size`` seconds in ``buckets`` sub-windows (resilience4j/Polly).

    Time is cut into buckets of ``size / buckets`` seconds numbered ``floor(now / width)``; the
    window is the current bucket and the ``buckets - 1`` before it.
    """

    __slots__ = ("b_calls", "b_failures", "b_slow", "calls", "failures", "head", "slow", "width")

    def __init__(self, size: float, buckets: int) -> None:
        self.width = size / buckets
        self.b_calls = [0] * buckets
        self.b_failures = [0] * buckets
        self.b_slow = [0] * buckets
        self.head: int | None = None
        self.calls = self.failures = self.slow = 0

    def advance(self, now: float) -> None:
        index = math.floor(now / self.width)
        head = self.head
        if head is None or index - head >= len(self.b_calls):
            self.clear()
            self.head = index
            return
        n = len(self.b_calls)
        for i in range(head + 1, index + 1):
            slot = i % n
            self.calls -= self.b_calls[slot]
            self.failures -= self.b_failures[slot]
            self.slow -= self.b_slow[slot]
            self.b_calls[slot] = self.b_failures[slot] = self.b_slow[slot] = 0
        if index > head:
            self.head = index

    def record(self, now: float, outcome: int) -> None:
        self.advance(now)
        assert self.head is not None
        slot = self.head % len(self.b_calls)
        failed = outcome & _FAILED
        slow = (outcome & _SLOW) >> 1
        self.b_calls[slot] += 1
        self.b_failures[slot] += failed
        self.b_slow[slot] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def clear(self) -> None:
        n = len(self.b_calls)
        self.b_calls = [0] * n
        self.b_failures = [0] * n
        self.b_slow = [0] * n
        self.calls = self.failures = self.slow = 0


class CircuitBreaker:
    """A circuit breaker for one provider (or one provider/model). Not thread-safe; trio-safe.

    ``rng`` draws the jitter of open periods (seed it in tests). ``observer`` is called
    synchronously with every :class:`BreakerEvent`; it must not raise.
    """

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        rng: random.Random | None = None,
        observer: Callable[[BreakerEvent], None] | None = None,
    ) -> None:
        self.config = config = config if config is not None else BreakerConfig()
        self._rng = rng if rng is not None else random.Random()
        self.observer = observer
        self._window: _CountWindow | _TimeWindow
        if config.window_type is WindowType.COUNT:
            self._window = _CountWindow(int(config.window_size))
        else:
            self._window = _TimeWindow(config.window_size, config.time_window_buckets)
        self._min_calls = config.effective_minimum_calls
        self._decision_calls = config.half_open_decision_calls
        self._slow_after = (
            config.slow_call_duration if config.slow_call_duration is not None else math.inf
        )
        self._state = CircuitState.CLOSED
        self._epoch = 0
        self._consecutive = 0
        self._open_until: float | None = None
        self._trips = 0
        self._consecutive_trips = 0
        self._current_open: float | None = None
        self._next_open = config.open_duration
        self._probes_in_flight = 0
        self._probe_calls = 0
        self._probe_failures = 0
        self._probe_slow = 0
        self._successes = self._failures = self._ignored = self._cancelled = self._rejected = 0

    # --- reading -----------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The stored state; an OPEN breaker whose time is up turns HALF_OPEN on the next call."""
        return self._state

    def retry_after(self, now: float) -> float | None:
        """Seconds until a call may be admitted; 0 when one may be now; None when unknown.

        Unknown means HALF_OPEN with every probe in flight, or FORCED_OPEN.
        """
        state = self._state
        if state is CircuitState.OPEN:
            assert self._open_until is not None
            return max(0.0, self._open_until - now)
        if state is CircuitState.HALF_OPEN:
            free = self._probes_in_flight + self._probe_calls < self.config.half_open_probes
            return 0.0 if free else None
        if state is CircuitState.FORCED_OPEN:
            return None
        return 0.0

    def statistics(self, now: float) -> BreakerStatistics:
        """A snapshot at ``now`` (applies the lazy OPEN -> HALF_OPEN transition when due)."""
        self._lazy_half_open(now)
        w = self._window
        w.advance(now)
        return BreakerStatistics(
            state=self._state,
            window_calls=w.calls,
            window_failures=w.failures,
            window_slow_calls=w.slow,
            failure_rate=w.failures / w.calls if w.calls else None,
            slow_call_rate=w.slow / w.calls if w.calls else None,
            consecutive_failures=self._consecutive,
            open_until=self._open_until,
            trips=self._trips,
            consecutive_trips=self._consecutive_trips,
            current_open_duration=self._current_open,
            next_open_duration=self._next_open,
            half_open_in_flight=self._probes_in_flight,
            half_open_calls=self._probe_calls,
            half_open_failures=self._probe_failures,
            successes=self._successes,
            failures=self._failures,
            ignored=self._ignored,
            cancelled=self._cancelled,
            rejected=self._rejected,
        )

    # --- admission ---------------------------------------------------------------------------

    def try_acquire(self, now: float) -> Permit | None:
        """A permit for one call, or None when the breaker rejects it."""
        state = self._state
        if state is CircuitState.CLOSED or state is CircuitState.FORCED_CLOSED:
            return Permit(self._epoch, False)
        if state is CircuitState.OPEN:
            if not self._lazy_half_open(now):
                self._rejected += 1
                return None
            state = self._state
        if (
            state is CircuitState.HALF_OPEN
            and self._probes_in_flight + self._probe_calls < self.config.half_open_probes
        ):
            self._probes_in_flight += 1
            return Permit(self._epoch, True)
        self._rejected += 1
        return None

    def acquire(self, now: float, *, provider: str = "", model: str = "") -> Permit:
        """Like :meth:`try_acquire`, but raise :class:`CircuitOpenError` when rejected."""
        permit = self.try_acquire(now)
        if permit is not None:
            return permit
        raise CircuitOpenError(
            f"circuit breaker is {self._state.value}",
            provider=provider,
            model=model,
            retry_after=self.retry_after(now),
        )

    # --- outcomes ----------------------------------------------------------------------------

    def on_success(self, permit: Permit, now: float, latency: float) -> None:
        """The call succeeded. ``latency``: time to first token for streams, else the total."""
        recorded = self._release(permit)
        self._successes += 1
        if recorded:
            self._record(now, _SLOW if latency > self._slow_after else 0)

    def on_failure(self, permit: Permit, now: float, latency: float, error: BaseException) -> None:
        """The call failed with ``error``; the config's ``is_failure`` decides if it counts.

        Cancellation is routed to :meth:`on_cancel` and errors that do not count to
        :meth:`on_ignored`.
        """
        if isinstance(error, trio.Cancelled):
            self.on_cancel(permit)
        elif not self.config.is_failure(error):
            self.on_ignored(permit)
        else:
            recorded = self._release(permit)
            self._failures += 1
            if recorded:
                self._record(now, _FAILED | (_SLOW if latency > self._slow_after else 0))

    def on_cancel(self, permit: Permit) -> None:
        """The call was cancelled: it never counts, and its permit (probe slot) comes back."""
        self._release(permit)
        self._cancelled += 1

    def on_ignored(self, permit: Permit) -> None:
        """The call ended in a way that does not count (e.g. a 429); the permit comes back."""
        self._release(permit)
        self._ignored += 1

    # --- control -----------------------------------------------------------------------------

    def force_open_until(self, until: float, now: float) -> None:
        """Open until ``until`` because the server said so (``Retry-After``, ``RetryInfo``).

        Not a failure trip: the open duration does not grow. An OPEN breaker is only ever
        extended, never shortened. Ignored in the FORCED states and when ``until <= now``.
        """
        state = self._state
        if until <= now or state is CircuitState.FORCED_OPEN or state is CircuitState.FORCED_CLOSED:
            return
        if state is CircuitState.OPEN:
            assert self._open_until is not None
            if until <= self._open_until:
                return
            self._current_open = until - now
            self._open_until = until
            self._emit(state, CircuitState.OPEN, now, TransitionReason.SERVER_DELAY)
            return
        self._trips += 1
        self._current_open = until - now
        self._transition(CircuitState.OPEN, now, TransitionReason.SERVER_DELAY, until)

    def force_open(self, now: float) -> None:
        """Operator override: reject every call until :meth:`reset`."""
        self._transition(CircuitState.FORCED_OPEN, now, TransitionReason.FORCED_OPEN, None)

    def force_closed(self, now: float) -> None:
        """Operator override: admit every call and record nothing until :meth:`reset`."""
        self._consecutive_trips = 0
        self._next_open = self.config.open_duration
        self._transition(CircuitState.FORCED_CLOSED, now, TransitionReason.FORCED_CLOSED, None)

    def reset(self, now: float) -> None:
        """Back to CLOSED with an empty window and the initial open duration."""
        self._consecutive_trips = 0
        self._next_open = self.config.open_duration
        self._transition(CircuitState.CLOSED, now, TransitionReason.RESET, None)

    # --- internals ---------------------------------------------------------------------------

    def _release(self, permit: Permit) -> bool:
        """Mark the permit used; True when its outcome should be recorded."""
        if permit._done:
            raise RuntimeError(f"{permit!r} was already handed back")
        permit._done = True
        if permit.epoch != self._epoch:
            return False
        if permit.probe:
            self._probes_in_flight -= 1
            return True
        return self._state is CircuitState.CLOSED

    def _record(self, now: float, outcome: int) -> None:
        if self._state is CircuitState.HALF_OPEN:
            self._probe_calls += 1
            self._probe_failures += outcome & _FAILED
            self._probe_slow += (outcome & _SLOW) >> 1
            if self._probe_calls >= self._decision_calls:
                reason = self._rate_exceeded(
                    self._probe_calls, self._probe_failures, self._probe_slow
                )
                if reason is None:
                    self._consecutive_trips = 0
                    self._next_open = self.config.open_duration
                    self._transition(
                        CircuitState.CLOSED, now, TransitionReason.PROBES_SUCCEEDED, None
                    )
                else:
                    self._trip(now, reason)
            return
        w = self._window
        w.record(now, outcome)
        if outcome & _FAILED:
            self._consecutive += 1
            limit = self.config.consecutive_failures
            if limit and self._consecutive >= limit:
                self._trip(now, TransitionReason.CONSECUTIVE_FAILURES)
                return
        else:
            self._consecutive = 0
        if w.calls >= self._min_calls:
            reason = self._rate_exceeded(w.calls, w.failures, w.slow)
            if reason is not None:
                self._trip(now, reason)

    def _rate_exceeded(self, calls: int, failures: int, slow: int) -> TransitionReason | None:
        # Division, not multiplication: 7 / 100 >= 0.07 holds at the boundary, while
        # 7 >= 0.07 * 100 does not (0.07 * 100 == 7.000000000000001).
        if failures / calls >= self.config.failure_rate_threshold:
            return TransitionReason.FAILURE_RATE
        if slow / calls >= self.config.slow_call_rate_threshold:
            return TransitionReason.SLOW_CALL_RATE
        return None

    def _trip(self, now: float, reason: TransitionReason) -> None:
        cfg = self.config
        nominal = self._next_open
        duration = nominal * (1.0 - cfg.open_duration_jitter * self._rng.random())
        self._next_open = min(cfg.max_open_duration, nominal * cfg.open_duration_multiplier)
        self._trips += 1
        self._consecutive_trips += 1
        self._current_open = duration
        self._transition(CircuitState.OPEN, now, reason, now + duration)

    def _lazy_half_open(self, now: float) -> bool:
        """OPEN -> HALF_OPEN once ``now >= open_until`` (inclusive, as Polly). True if done."""
        if self._state is not CircuitState.OPEN:
            return False
        assert self._open_until is not None
        if now < self._open_until:
            return False
        self._transition(CircuitState.HALF_OPEN, now, TransitionReason.OPEN_DURATION_ELAPSED, None)
        return True

    def _transition(
        self, state: CircuitState, now: float, reason: TransitionReason, open_until: float | None
    ) -> None:
        previous = self._state
        self._state = state
        self._epoch += 1
        self._open_until = open_until
        self._window.clear()
        self._consecutive = 0
        self._probes_in_flight = self._probe_calls = self._probe_failures = self._probe_slow = 0
        self._emit(previous, state, now, reason)

    def _emit(
        self, previous: CircuitState, state: CircuitState, now: float, reason: TransitionReason
    ) -> None:
        if self.observer is not None:
            self.observer(BreakerEvent(previous, state, now, reason, self._open_until))
