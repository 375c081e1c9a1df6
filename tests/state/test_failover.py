"""Redis killed and restarted mid-run; breakers shared across processes (real time, bounded)."""

from __future__ import annotations

import trio

from hafs_actors.resilience import BreakerConfig, CircuitBreaker, CircuitState, Permit, RateLimits
from hafs_actors.state import StateSettings, open_state_backend
from tests.state.conftest import COREDIS_DISCARDED_CONNECTIONS, RedisServer

pytestmark = COREDIS_DISCARDED_CONNECTIONS


async def test_redis_killed_and_restarted_loses_and_hangs_nothing(redis: RedisServer) -> None:
    settings = StateSettings(redis_url=redis.url, share=2)
    log: list[tuple[float, bool]] = []
    available: list[tuple[float, bool]] = []
    started = 0
    async with open_state_backend(settings) as backend:
        limiter = backend.limiter("p", "", RateLimits(requests=200, period=1.0))

        async def worker() -> None:
            nonlocal started
            while True:
                started += 1
                with trio.fail_after(2.0):  # no acquire hangs
                    async with limiter.acquire() as lease:
                        log.append((trio.current_time(), lease.shared))  # type: ignore[attr-defined]
                await trio.sleep(0)

        async def watch() -> None:
            while True:
                stats = backend.statistics()  # type: ignore[attr-defined]
                available.append((trio.current_time(), stats.redis.state is CircuitState.CLOSED))
                await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            for _ in range(32):
                nursery.start_soon(worker)
            await trio.sleep(0.5)
            killed = trio.current_time()
            await trio.to_thread.run_sync(redis.kill)
            await trio.sleep(0.7)
            restarted = trio.current_time()
            await trio.to_thread.run_sync(redis.start)
            await trio.sleep(1.3)
            nursery.cancel_scope.cancel()
    assert len(log) >= started - 32  # every acquire but the 32 cancelled at the end returned
    first_local = min(t for t, shared in log if not shared and t > killed)
    assert first_local - killed < 0.1
    during = [shared for t, shared in log if first_local <= t < restarted]
    assert during
    assert not any(during)
    # the local share: 100 per second, so at most about 100 * 0.7 while Redis is away
    assert len(during) <= 100 * 0.7 + 100 * 0.1
    # shared again within 1 s; the first shared admissions then wait for what the local
    # share admitted meanwhile (the resync charges it to Redis)
    resumed = min(t for t, up in available if up and t > restarted)
    assert resumed - restarted < 1.0
    # from some moment within 1 s of the restart on, every admission is shared again
    after = [(t, shared) for t, shared in log if t > restarted]
    last_local = max((t for t, shared in after if not shared), default=restarted)
    assert last_local - restarted < 1.0
    assert any(shared for t, shared in after if t > last_local)


async def test_a_breaker_opened_in_one_process_is_seen_by_the_others(redis: RedisServer) -> None:
    config = BreakerConfig(consecutive_failures=1, open_duration=0.5, open_duration_jitter=0.0)
    settings = StateSettings(redis_url=redis.url, breaker_poll=0.02)
    async with (
        open_state_backend(settings) as one,
        open_state_backend(settings) as two,
        open_state_backend(settings) as three,
    ):
        breakers = [b.breaker("p", config) for b in (one, two, three)]
        permit = breakers[0].try_acquire(trio.current_time())
        assert permit is not None
        tripped = trio.current_time()
        breakers[0].on_failure(permit, tripped, 0.01, OSError("down"))
        with trio.fail_after(0.1):
            while any(b.state is not CircuitState.OPEN for b in breakers):
                await trio.sleep(0.005)
        assert trio.current_time() - tripped < 0.1
        # when the open period ends, exactly one of the three may send the probe
        probes = []
        with trio.move_on_after(1.0):
            while True:
                for i, b in enumerate(breakers):
                    got = b.try_acquire(trio.current_time())
                    if got is not None:
                        probes.append((i, got))
                await trio.sleep(0.005)
        assert len(probes) == 1, probes
        i, probe = probes[0]
        breakers[i].on_success(probe, trio.current_time(), 0.01)
        with trio.fail_after(0.1):
            while any(b.state is not CircuitState.CLOSED for b in breakers):
                await trio.sleep(0.005)


async def test_a_failed_probe_opens_every_process_again(redis: RedisServer) -> None:
    config = BreakerConfig(consecutive_failures=1, open_duration=0.2, open_duration_jitter=0.0)
    settings = StateSettings(redis_url=redis.url, breaker_poll=0.02)
    async with open_state_backend(settings) as one, open_state_backend(settings) as two:
        a, b = one.breaker("p", config), two.breaker("p", config)
        permit = a.try_acquire(trio.current_time())
        assert permit is not None
        a.on_failure(permit, trio.current_time(), 0.0, OSError("down"))
        with trio.fail_after(0.1):
            while b.state is not CircuitState.OPEN:
                await trio.sleep(0.005)
        probes: list[tuple[CircuitBreaker, Permit]] = []
        with trio.fail_after(1.0):
            while not probes:
                await trio.sleep(0.005)
                for x in (a, b):
                    got = x.try_acquire(trio.current_time())
                    if got is not None:
                        probes.append((x, got))
        [(owner, probe)] = probes
        owner.on_failure(probe, trio.current_time(), 0.0, OSError("still down"))
        await trio.sleep(0.1)
        assert a.state is CircuitState.OPEN
        assert b.state is CircuitState.OPEN
        assert b.statistics(trio.current_time()).next_open_duration == 0.8
