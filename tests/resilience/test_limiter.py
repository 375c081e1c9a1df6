"""Rate limiter behaviour under trio's MockClock (autojump: no real sleeps)."""

from __future__ import annotations

from collections import Counter

import pytest
import trio
import trio.testing

from hafs_actors.errors import ConfigError, RateLimitWaitExceeded
from hafs_actors.resilience import RateLimiter, RateLimits, RequestTooLargeError
from hafs_actors.types import RateLimitInfo, Usage


async def settle() -> None:
    """Let every task run until it blocks (all waiters queued in start order)."""
    await trio.testing.wait_all_tasks_blocked()


# --- exactness -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 7, 50])
async def test_concurrent_acquirers_get_exactly_the_limit_per_window(
    autojump_clock: trio.testing.MockClock, watchdog: None, limit: int
) -> None:
    period = 60.0
    limiter = RateLimiter(RateLimits(requests=limit, period=period))
    times: list[float] = []
    per_task = 6
    tasks = 40

    async def worker() -> None:
        for _ in range(per_task):
            async with limiter.acquire():
                times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(tasks):
            nursery.start_soon(worker)

    total = per_task * tasks
    assert len(times) == total
    windows = Counter(int(t // period) for t in times)
    full, rest = divmod(total, limit)
    assert [windows[w] for w in range(full)] == [limit] * full
    assert windows.get(full, 0) == rest
    # and no sliding interval of one period holds more than the limit
    times.sort()
    assert all(times[i + limit] - times[i] >= period for i in range(len(times) - limit))
    stats = limiter.statistics()
    assert (stats.admitted, stats.waiters, stats.in_flight) == (total, 0, 0)


async def test_token_dimensions_are_exact(
    autojump_clock: trio.testing.MockClock, watchdog: None
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, input_tokens=60, output_tokens=70, period=10))
    times: list[float] = []

    async def worker() -> None:
        for _ in range(5):
            async with limiter.acquire(input_tokens=6, output_tokens=4):
                times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(worker)
    # input tokens bind: 60 / 6 = 10 admissions per 10 s window
    windows = Counter(int(t // 10) for t in times)
    assert set(windows.values()) == {10}
    assert len(windows) == 10


# --- FIFO ----------------------------------------------------------------------------------


async def test_small_request_does_not_overtake_big_one_at_the_head(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, period=60))
    order: list[tuple[str, float]] = []
    async with limiter.acquire(90):
        pass

    async def request(name: str, tokens: int) -> None:
        async with limiter.acquire(tokens):
            order.append((name, trio.current_time()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(request, "big", 50)
        await settle()
        nursery.start_soon(request, "small", 5)  # 10 tokens are free, but big is first
        await settle()
        assert limiter.statistics().waiters == 2
    assert order == [("big", 60.0), ("small", 60.0)]


async def test_waiters_are_admitted_in_arrival_order(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=3, period=1.0))
    admitted: list[int] = []

    async def request(i: int) -> None:
        async with limiter.acquire(input_tokens=i):
            admitted.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(30):
            nursery.start_soon(request, i)
            await settle()
    assert admitted == list(range(30))


# --- maximum wait --------------------------------------------------------------------------


async def test_projected_wait_past_deadline_fails_immediately(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=2, period=60), provider="openai", model="gpt")
    for _ in range(2):
        async with limiter.acquire():
            pass
    start = trio.current_time()
    with pytest.raises(RateLimitWaitExceeded) as info:
        async with limiter.acquire(deadline=start + 59.0):
            pass
    assert trio.current_time() == start  # no waiting in vain
    err = info.value
    assert err.retry_after == 60.0
    assert err.provider == "openai"
    assert not err.breaker_failure
    assert "after its deadline" in str(err)
    # the admission time equal to the deadline is not good enough: the call needs some time
    with pytest.raises(RateLimitWaitExceeded):
        async with limiter.acquire(deadline=start + 60.0):
            pass
    async with limiter.acquire(deadline=start + 60.5):
        assert trio.current_time() == start + 60.0
    assert limiter.statistics().rejected == 2


async def test_projection_counts_the_queue_ahead(
    autojump_clock: trio.testing.MockClock, watchdog: None
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, period=60))
    async with limiter.acquire(100):
        pass
    results: list[str] = []

    async def big() -> None:
        async with limiter.acquire(100):
            results.append("big")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(big)
        await settle()
        # alone, 10 tokens would be free at t=60; behind the big one only at t=120
        with pytest.raises(RateLimitWaitExceeded) as info:
            async with limiter.acquire(10, deadline=100.0):
                pass
        assert info.value.retry_after == 120.0
        assert trio.current_time() == 0.0
    assert results == ["big"]


async def test_deadline_reached_while_waiting_for_a_slot(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(concurrency=1))
    async with trio.open_nursery() as nursery:

        async def holder() -> None:
            async with limiter.acquire():
                await trio.sleep(100)

        nursery.start_soon(holder)
        await settle()
        with pytest.raises(RateLimitWaitExceeded, match="deadline reached"):
            async with limiter.acquire(deadline=5.0):
                pass
        assert trio.current_time() == 5.0
        stats = limiter.statistics()
        assert (stats.waiters, stats.in_flight, stats.rejected) == (0, 1, 1)


async def test_waiter_delayed_by_a_slot_past_its_rate_window_is_refused_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    # Hypothesis found it: the arrival projection (which cannot see slots) said t=2.0; the slot
    # stayed busy until t=3.0, and then the rate window put the admission at t=4.0, after the
    # deadline 3.5. The refusal comes at the deadline (a documented moment), not at t=3.0.
    limiter = RateLimiter(RateLimits(requests=1, concurrency=1, period=1.0))
    outcome: dict[str, tuple[str, float]] = {}
    errors: list[RateLimitWaitExceeded] = []

    async def holder() -> None:
        async with limiter.acquire():
            await trio.sleep(3.0)

    async def waiter(name: str, arrive: float, deadline: float | None) -> None:
        await trio.sleep_until(arrive)
        try:
            async with limiter.acquire(deadline=deadline):
                outcome[name] = ("admitted", trio.current_time())
        except RateLimitWaitExceeded as exc:
            outcome[name] = ("refused", trio.current_time())
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(holder)
        nursery.start_soon(waiter, "first", 0.5, None)
        nursery.start_soon(waiter, "second", 0.6, 3.5)
    assert outcome == {"first": ("admitted", 3.0), "second": ("refused", 3.5)}
    assert "deadline reached" in str(errors[0])
    assert errors[0].retry_after == 0.5  # the projected admission at t=4.0
    stats = limiter.statistics()
    assert (stats.waiters, stats.in_flight, stats.admitted, stats.rejected) == (0, 0, 2, 1)


async def test_request_larger_than_a_limit_is_refused(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(input_tokens=1000), provider="anthropic")
    with pytest.raises(RequestTooLargeError, match="1001 input_tokens but the limit is 1000"):
        async with limiter.acquire(input_tokens=1001):
            pass
    assert issubclass(RequestTooLargeError, RateLimitWaitExceeded)
    async with limiter.acquire(input_tokens=1000):
        pass


# --- concurrency ---------------------------------------------------------------------------


async def test_slot_is_held_until_the_lease_exits_on_every_path(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(concurrency=2))
    entered: list[float] = []

    async def stream(duration: float, fail: bool) -> None:
        async with limiter.acquire():
            entered.append(trio.current_time())
            await trio.sleep(duration)  # the whole stream holds the slot
            if fail:
                raise ValueError("stream broke")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream, 10.0, False)
        await settle()
        assert limiter.statistics().in_flight == 1
        with pytest.raises(ValueError, match="stream broke"):
            await stream(5.0, True)
        assert trio.current_time() == 5.0
        assert limiter.statistics().in_flight == 1  # released on the error path

    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(stream, 10.0, False)
        await settle()
        async with limiter.acquire():
            assert trio.current_time() == 20.0  # both slots held for whole streams
        nursery.cancel_scope.cancel()
    assert limiter.statistics().in_flight == 0


async def test_cancelled_waiter_leaves_the_queue_and_wakes_the_next(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=1, period=10, concurrency=1))
    got: list[tuple[str, float]] = []
    doomed_scope = trio.CancelScope()

    async def request(name: str, scope: trio.CancelScope | None = None) -> None:
        with scope or trio.CancelScope():
            async with limiter.acquire():
                got.append((name, trio.current_time()))
                await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(request, "first")
        await settle()
        nursery.start_soon(request, "doomed", doomed_scope)  # head of the queue
        await settle()
        nursery.start_soon(request, "third")
        await settle()
        assert limiter.statistics().waiters == 2
        doomed_scope.cancel()
        await settle()
        assert limiter.statistics().waiters == 1
    assert got == [("first", 0.0), ("third", 10.0)]
    stats = limiter.statistics()
    assert (stats.waiters, stats.in_flight, stats.cancelled, stats.admitted) == (0, 0, 1, 2)


async def test_cancelled_head_wakes_the_next_waiter_at_once(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, period=60))
    async with limiter.acquire(90):
        pass
    admitted: list[tuple[str, float]] = []
    big_scope = trio.CancelScope()

    async def request(name: str, tokens: int, scope: trio.CancelScope) -> None:
        with scope:
            async with limiter.acquire(tokens):
                admitted.append((name, trio.current_time()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(request, "big", 50, big_scope)
        await settle()
        nursery.start_soon(request, "small", 5, trio.CancelScope())
        await settle()
        await trio.sleep(1)
        big_scope.cancel()
    assert admitted == [("small", 1.0)]


# --- server corrections --------------------------------------------------------------------


async def test_remaining_and_reset_headers_lower_the_local_budget(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=100, period=60))
    limiter.apply_rate_limit_info(
        RateLimitInfo(requests_remaining=2, requests_reset=10.0), trio.current_time()
    )
    assert limiter.statistics().requests_available == 2
    times = []
    for _ in range(4):
        async with limiter.acquire():
            times.append(trio.current_time())
    assert times == [0.0, 0.0, 10.0, 10.0]


async def test_budget_applies_to_dimensions_without_a_local_limit(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits())
    limiter.apply_rate_limit_info(
        RateLimitInfo(output_tokens_remaining=500, output_tokens_reset=30.0), 0.0
    )
    assert limiter.statistics().output_tokens_available == 500
    async with limiter.acquire(output_tokens=400):
        pass
    async with limiter.acquire(output_tokens=400):
        assert trio.current_time() == 30.0


async def test_retry_after_pauses_the_whole_limiter(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=100))
    limiter.apply_rate_limit_info(RateLimitInfo(retry_after=20.0), 0.0, rate_limited=True)
    assert limiter.statistics().paused_until == 20.0
    with pytest.raises(RateLimitWaitExceeded):
        async with limiter.acquire(deadline=19.0):
            pass
    async with limiter.acquire():
        assert trio.current_time() == 20.0
    assert limiter.statistics().paused_until is None


@pytest.mark.parametrize(
    ("info", "pause"),
    [
        (RateLimitInfo(requests_remaining=0, requests_reset=7.0, tokens_reset=90.0), 7.0),
        (RateLimitInfo(requests_remaining=3, requests_reset=7.0, tokens_reset=90.0), 90.0),
        (RateLimitInfo(), 1.0),  # rate_limited_pause
        (RateLimitInfo(retry_after=2.0, requests_remaining=0, requests_reset=7.0), 2.0),
    ],
)
async def test_a_429_without_retry_after_pauses_until_the_announced_reset(
    autojump_clock: trio.testing.MockClock, watchdog: None, info: RateLimitInfo, pause: float
) -> None:
    limiter = RateLimiter(RateLimits(requests=100))
    limiter.apply_rate_limit_info(info, 0.0, rate_limited=True)
    assert limiter.statistics().paused_until == pause


async def test_headers_never_shorten_a_pause_and_ignore_negative_values(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=10))
    limiter.pause_until(50.0)
    limiter.apply_rate_limit_info(RateLimitInfo(retry_after=5.0, requests_remaining=-1), 0.0)
    stats = limiter.statistics()
    assert stats.paused_until == 50.0
    assert stats.requests_available == 10


async def test_a_pause_fails_waiters_that_can_no_longer_make_their_deadline(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(concurrency=1))
    outcome: dict[str, object] = {}

    async def waiter(name: str, deadline: float) -> None:
        try:
            async with limiter.acquire(deadline=deadline):
                outcome[name] = trio.current_time()
        except RateLimitWaitExceeded:
            outcome[name] = ("failed at", trio.current_time())

    async with trio.open_nursery() as nursery:
        lease = limiter.acquire()
        await lease.__aenter__()
        nursery.start_soon(waiter, "short", 10.0)
        nursery.start_soon(waiter, "long", 100.0)
        await settle()
        limiter.apply_rate_limit_info(RateLimitInfo(retry_after=30.0), 0.0, rate_limited=True)
        await settle()
        assert outcome == {"short": ("failed at", 0.0)}  # at once, not at its deadline
        await lease.__aexit__(None, None, None)
    assert outcome["long"] == 30.0


async def test_a_waiter_failed_by_news_no_longer_delays_those_behind_it(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, period=60))
    async with limiter.acquire(100):
        pass
    outcome: dict[str, object] = {}

    async def waiter(name: str, tokens: int, deadline: float) -> None:
        try:
            async with limiter.acquire(tokens, deadline=deadline):
                outcome[name] = trio.current_time()
        except RateLimitWaitExceeded:
            outcome[name] = "failed"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, "a", 100, 65.0)  # fits at t=60, before its deadline
        await settle()
        nursery.start_soon(waiter, "b", 50, 80.0)  # behind a: t=120, too late at once
        await settle()
        assert outcome == {"b": "failed"}
        nursery.start_soon(waiter, "c", 50, 125.0)  # behind a: t=120, in time
        await settle()
        assert limiter.statistics().waiters == 2
        # a server pause to t=70 makes a miss its deadline; without a, c fits at t=70
        limiter.apply_rate_limit_info(RateLimitInfo(retry_after=70.0), 0.0, rate_limited=True)
        await settle()
        assert outcome == {"a": "failed", "b": "failed"}
    assert outcome == {"a": "failed", "b": "failed", "c": 70.0}


# --- reconcile -----------------------------------------------------------------------------


async def test_reconcile_refunds_and_charges(
    autojump_clock: trio.testing.MockClock, watchdog: None
) -> None:
    limiter = RateLimiter(RateLimits(tokens=1000, output_tokens=600, period=60))
    async with limiter.acquire(input_tokens=100, output_tokens=500) as lease:
        assert limiter.statistics().tokens_available == 400
        lease.reconcile(Usage(input_tokens=100, output_tokens=50))  # refund 450
        stats = limiter.statistics()
        assert (stats.tokens_available, stats.output_tokens_available) == (850, 550)
        lease.reconcile(Usage(input_tokens=120, output_tokens=300))  # streaming usage grew
        assert lease.charged == (1, 420, 120, 300)
        stats = limiter.statistics()
        assert (stats.tokens_available, stats.output_tokens_available) == (580, 300)
    await trio.sleep(60)
    assert limiter.statistics().tokens_available == 1000


async def test_refund_admits_a_waiter_at_once(
    autojump_clock: trio.testing.MockClock, watchdog: None
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, period=60))
    admitted: list[float] = []

    async def second() -> None:
        async with limiter.acquire(50):
            admitted.append(trio.current_time())

    async with limiter.acquire(100) as lease, trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.sleep(5)
        assert admitted == []
        lease.reconcile(Usage(input_tokens=20, output_tokens=0))
    assert admitted == [5.0]


async def test_reconcile_uses_total_tokens_and_keeps_unknown_estimates(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(tokens=1000, input_tokens=1000))
    async with limiter.acquire(input_tokens=200, output_tokens=100) as lease:
        lease.reconcile(Usage(total_tokens=250))
        assert lease.charged == (1, 250, 200, 100)
        lease.reconcile(Usage())
        assert lease.charged == (1, 300, 200, 100)


async def test_refund_after_the_admission_left_the_window_changes_nothing(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(tokens=100, period=10))
    async with limiter.acquire(100) as lease:
        await trio.sleep(10)
        lease.reconcile(Usage(input_tokens=1, output_tokens=0))
        assert limiter.statistics().tokens_available == 100


async def test_reconcile_before_admission_is_an_error() -> None:
    limiter = RateLimiter()
    with pytest.raises(RuntimeError, match="never admitted"):
        limiter.acquire().reconcile(Usage(input_tokens=1))


# --- misc ----------------------------------------------------------------------------------


async def test_unlimited_limiter_admits_everything_at_once(
    autojump_clock: trio.testing.MockClock,
    watchdog: None,
) -> None:
    limiter = RateLimiter(RateLimits(requests=0, tokens=-5, concurrency=None))
    for _ in range(1000):
        async with limiter.acquire(10**6, 10**6):
            pass
    stats = limiter.statistics()
    assert trio.current_time() == 0.0
    assert stats.requests_available is None
    assert stats.concurrency_limit is None
    assert stats.admitted == 1000


async def test_a_lease_enters_once() -> None:
    lease = RateLimiter().acquire()
    async with lease:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with lease:
            pass


@pytest.mark.parametrize(
    ("field", "value"),
    [("requests", 1.5), ("tokens", "100"), ("concurrency", True), ("period", 0), ("period", -1)],
)
def test_bad_limits_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        RateLimits(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("estimate", [-1, 1.5, True])
def test_bad_estimates_are_refused(estimate: object) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        RateLimiter().acquire(input_tokens=estimate)  # type: ignore[arg-type]


def test_per_minute_uses_provider_units() -> None:
    limits = RateLimits.per_minute(rpm=60, tpm=1000, input_tpm=800, output_tpm=200, concurrency=4)
    assert limits == RateLimits(60, 1000, 800, 200, 4, 60.0)
    assert limits.vector == (60, 1000, 800, 200)
