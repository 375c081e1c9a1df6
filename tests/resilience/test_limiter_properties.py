"""Hypothesis: random arrivals, cancellations, deadlines, refunds and server headers.

Each example runs a whole scenario under ``MockClock(autojump_threshold=0)`` and checks, at the
end, that nothing leaked (no waiter, no slot in flight), that admissions were first in, first
out, that no sliding period ever held more than a limit, that the concurrency cap held, and that
every "wait exceeded" error came at once, at the deadline, or when server news arrived.
"""

from __future__ import annotations

import attrs
import trio
import trio.testing
from hypothesis import event, given
from hypothesis import strategies as st

from hafs_actors.errors import RateLimitWaitExceeded
from hafs_actors.resilience import RateLimiter, RateLimits, RequestTooLargeError
from hafs_actors.types import RateLimitInfo, Usage

times = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 3.5, 5.0, 10.0, 20.0])


@attrs.frozen
class Request:
    arrive: float
    input_tokens: int
    output_tokens: int
    hold: float
    cancel_after: float | None
    deadline_after: float | None
    refund: bool


@attrs.frozen
class News:
    at: float
    info: RateLimitInfo
    rate_limited: bool


requests = st.builds(
    Request,
    arrive=times,
    input_tokens=st.integers(0, 30),
    output_tokens=st.integers(0, 30),
    hold=st.sampled_from([0.0, 0.5, 2.0, 7.0]),
    cancel_after=st.none() | times,
    deadline_after=st.none() | times | st.just(30.0),
    refund=st.booleans(),
)

news = st.builds(
    News,
    at=times,
    info=st.builds(
        RateLimitInfo,
        requests_remaining=st.none() | st.integers(0, 3),
        requests_reset=st.none() | st.sampled_from([1.0, 4.0]),
        tokens_remaining=st.none() | st.integers(0, 50),
        tokens_reset=st.none() | st.sampled_from([2.0, 6.0]),
        retry_after=st.none() | st.sampled_from([1.0, 3.0]),
    ),
    rate_limited=st.booleans(),
)

limits = st.builds(
    RateLimits,
    requests=st.none() | st.integers(1, 4),
    tokens=st.none() | st.integers(30, 90),
    input_tokens=st.none() | st.integers(25, 60),
    output_tokens=st.none(),
    concurrency=st.none() | st.integers(1, 3),
    period=st.sampled_from([1.0, 5.0, 10.0]),
)


@attrs.define
class Record:
    seq: int
    request: Request
    arrived_at: float = 0.0
    admitted_at: float | None = None
    failed_at: float | None = None
    retry_after: float | None = None
    too_large: bool = False
    need: list[int] = attrs.Factory(list)


async def scenario(lim: RateLimits, reqs: list[Request], updates: list[News]) -> None:
    limiter = RateLimiter(lim)
    records: list[Record] = []
    admitted_order: list[int] = []
    in_flight = 0
    max_in_flight = 0
    news_times: set[float] = set()

    async def client(req: Request) -> None:
        nonlocal in_flight, max_in_flight
        await trio.sleep_until(req.arrive)
        rec = Record(len(records), req, arrived_at=trio.current_time())
        records.append(rec)
        deadline = None if req.deadline_after is None else req.arrive + req.deadline_after
        cancel_at = float("inf") if req.cancel_after is None else req.arrive + req.cancel_after
        with trio.CancelScope(deadline=cancel_at):
            try:
                async with limiter.acquire(
                    req.input_tokens, req.output_tokens, deadline=deadline
                ) as lease:
                    rec.admitted_at = trio.current_time()
                    admitted_order.append(rec.seq)
                    rec.need = list(lease.charged)
                    in_flight += 1
                    max_in_flight = max(max_in_flight, in_flight)
                    try:
                        await trio.sleep(req.hold / 2)
                        if req.refund:
                            lease.reconcile(
                                Usage(
                                    input_tokens=req.input_tokens // 2,
                                    output_tokens=req.output_tokens // 2,
                                )
                            )
                            rec.need = list(lease.charged)
                        await trio.sleep(req.hold / 2)
                    finally:
                        in_flight -= 1
            except RequestTooLargeError:
                rec.too_large = True
            except RateLimitWaitExceeded as exc:
                rec.failed_at = trio.current_time()
                rec.retry_after = exc.retry_after

    async def server() -> None:
        for update in sorted(updates, key=lambda u: u.at):
            await trio.sleep_until(update.at)
            news_times.add(trio.current_time())
            limiter.apply_rate_limit_info(
                update.info, trio.current_time(), rate_limited=update.rate_limited
            )

    with trio.fail_after(100_000):  # a lost wake-up fails instead of hanging
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            for req in reqs:
                nursery.start_soon(client, req)

    stats = limiter.statistics()
    assert (stats.waiters, stats.in_flight) == (0, 0)
    for label, happened in (
        ("an admission waited", any((r.admitted_at or 0.0) > r.arrived_at for r in records)),
        ("a wait was refused", any(r.failed_at is not None for r in records)),
        ("a waiter was cancelled", stats.cancelled > 0),
        ("a request was too large", any(r.too_large for r in records)),
    ):
        if happened:
            event(label)
    assert stats.admitted == len(admitted_order)

    # FIFO: admissions happen in arrival order
    assert admitted_order == sorted(admitted_order)

    # concurrency cap
    if lim.concurrency is not None:
        assert max_in_flight <= lim.concurrency

    # sliding window: at each admission, the period ending there holds at most each limit
    admitted = [r for r in records if r.admitted_at is not None]
    for rec in admitted:
        assert rec.admitted_at is not None
        t = rec.admitted_at
        window = [
            r
            for r in admitted
            if r.admitted_at is not None and t < r.admitted_at + lim.period and r.admitted_at <= t
        ]
        for d, limit in enumerate(lim.vector):
            assert sum(r.need[d] for r in window) <= limit

    for rec in records:
        req = rec.request
        if rec.too_large:
            need = (1, req.input_tokens + req.output_tokens, req.input_tokens, 0)
            assert any(n > lim_d for n, lim_d in zip(need, lim.vector, strict=True))
        deadline = None if req.deadline_after is None else req.arrive + req.deadline_after
        if rec.admitted_at is not None and deadline is not None:
            assert rec.admitted_at < deadline or rec.admitted_at == rec.arrived_at
        if rec.failed_at is not None:
            # refused only at once, at the deadline, or when server news re-projected the queue
            assert deadline is not None
            assert rec.arrived_at <= rec.failed_at <= deadline
            assert rec.failed_at in {rec.arrived_at, deadline} | news_times
            if rec.failed_at < deadline:
                # an early refusal is backed by a projected admission at or after the deadline
                assert rec.retry_after is None or rec.retry_after >= deadline - rec.failed_at


@given(
    lim=limits, reqs=st.lists(requests, min_size=1, max_size=25), updates=st.lists(news, max_size=3)
)
def test_random_scenarios_leak_nothing_and_keep_every_promise(
    lim: RateLimits, reqs: list[Request], updates: list[News]
) -> None:
    trio.run(scenario, lim, reqs, updates, clock=trio.testing.MockClock(autojump_threshold=0))
