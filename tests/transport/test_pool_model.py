"""The pool's bookkeeping alone, with fake connections, under random programs of requests to
several origins, random hold times, stale idle connections and random cancellation.

Invariants checked continuously: ``open`` never exceeds the limit and equals the sum over
origins; idle never exceeds the keep-alive limit; a connection is never handed to two users;
at the end nothing is in use and every connection not closed is idle in the pool (no leak).
"""

from __future__ import annotations

import math

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.transport._pool import ConnectionPool, Origin, PoolWaitTimeout

ORIGINS: list[Origin] = [("http", "a", 80), ("http", "b", 80), ("https", "a", 443)]


class FakeConnection:
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self.reused = False
        self.closed = False
        self.stale = False
        self.in_use = False

    def is_stale(self) -> bool:
        return self.stale

    def close_now(self) -> None:
        self.closed = True


requests = st.lists(
    st.tuples(
        st.integers(0, len(ORIGINS) - 1),  # origin
        st.floats(0, 2),  # start delay
        st.floats(0, 2),  # hold time
        st.one_of(st.none(), st.floats(0, 3)),  # cancel after
        st.sampled_from(["reuse", "discard", "stale-later"]),
    ),
    min_size=1,
    max_size=25,
)


@given(
    limit=st.integers(1, 5),
    keepalive=st.integers(0, 5),
    expiry=st.sampled_from([None, 0.5, 5.0]),
    pool_timeout=st.sampled_from([None, 1.0]),
    plan=requests,
)
def test_pool_invariants_under_random_programs(
    limit: int,
    keepalive: int,
    expiry: float | None,
    pool_timeout: float | None,
    plan: list[tuple[int, float, float, float | None, str]],
) -> None:
    pool: ConnectionPool[FakeConnection] = ConnectionPool(
        max_connections=limit, max_keepalive_connections=keepalive, keepalive_expiry=expiry
    )
    made: list[FakeConnection] = []

    def check() -> None:
        stats = pool.statistics(0)
        assert 0 <= stats.open <= limit
        assert stats.open == sum(o.open for o in stats.per_origin.values())
        assert stats.idle <= min(keepalive, limit)
        assert stats.in_use == stats.open - stats.idle >= 0
        live = [c for c in made if not c.closed]
        assert len(live) <= stats.open  # slots may be reserved for connections being opened

    async def one(
        origin: Origin, delay: float, hold: float, cancel: float | None, end: str
    ) -> None:
        await trio.sleep(delay)
        with trio.move_on_after(math.inf if cancel is None else cancel):
            try:
                connection = await pool.acquire(origin, pool_timeout)
            except PoolWaitTimeout:
                return
            if connection is None:
                try:
                    await trio.sleep(0.01)  # "connecting": may be cancelled here
                except BaseException:
                    pool.release_slot(origin)
                    raise
                connection = FakeConnection(origin)
                made.append(connection)
                pool.opened(connection)
            assert connection.origin == origin
            assert not connection.closed
            assert not connection.in_use, "handed to two users"
            connection.in_use = True
            try:
                check()
                await trio.sleep(hold)
            except BaseException:
                connection.in_use = False
                pool.discard(connection)
                raise
            connection.in_use = False
            if end == "discard":
                pool.discard(connection)
            else:
                pool.release(connection, reusable=True)
                if end == "stale-later":
                    connection.stale = True  # the server closes it while idle

    async def watch() -> None:
        while True:
            check()
            await trio.sleep(0.05)

    async def scenario() -> None:
        with trio.fail_after(600):  # virtual time: a deadlock fails instead of hanging
            await run_program()

    async def run_program() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            async with trio.open_nursery() as work:
                for index, delay, hold, cancel, end in plan:
                    work.start_soon(one, ORIGINS[index], delay, hold, cancel, end)
            nursery.cancel_scope.cancel()
        check()
        stats = pool.statistics(0)
        assert stats.in_use == 0
        assert stats.waiting == 0
        live = [c for c in made if not c.closed]
        assert len(live) == stats.idle  # nothing leaked: every open connection is idle
        pool.close()
        assert all(c.closed for c in made)
        assert pool.statistics(0).open == 0

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
