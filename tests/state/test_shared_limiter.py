"""The shared limiter against a real Redis: GCRA exactness, corrections, pauses, NOSCRIPT."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio

from hafs_actors.errors import ConfigError, RateLimitWaitExceeded
from hafs_actors.resilience import RateLimits, RequestTooLargeError
from hafs_actors.state import StateSettings, open_state_backend
from hafs_actors.state._limiter import SharedRateLimiter
from hafs_actors.types import RateLimitInfo, Usage
from tests.state.conftest import COREDIS_DISCARDED_CONNECTIONS, RedisServer, free_port

pytestmark = COREDIS_DISCARDED_CONNECTIONS


def settings(url: str, **kw: object) -> StateSettings:
    return StateSettings(redis_url=url, **kw)  # type: ignore[arg-type]


async def test_requests_are_paced_by_the_servers_clock(redis: RedisServer) -> None:
    async with open_state_backend(settings(redis.url)) as backend:
        limiter = backend.limiter("p", "m", RateLimits(requests=10, period=1.0))
        times = []
        for _ in range(4):
            async with limiter.acquire() as lease:
                assert lease.shared  # type: ignore[attr-defined]
                times.append(trio.current_time())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.09 <= gap < 0.15 for gap in gaps), gaps


async def test_a_fractional_interval_still_admits(redis: RedisServer) -> None:
    async with open_state_backend(settings(redis.url)) as backend:
        limiter = backend.limiter("p", "", RateLimits(requests=300, period=10.0))  # 33.3 ms
        with trio.fail_after(1):
            for _ in range(3):
                async with limiter.acquire():
                    pass


async def test_two_processes_share_one_quota(redis: RedisServer) -> None:
    async with (
        open_state_backend(settings(redis.url, burst=1.0)) as one,
        open_state_backend(settings(redis.url, burst=1.0)) as two,
    ):
        limits = RateLimits(requests=4, period=60.0)
        a, b = one.limiter("p", "", limits), two.limiter("p", "", limits)
        for limiter in (a, b, a, b):
            async with limiter.acquire(deadline=trio.current_time() + 1):
                pass
        with pytest.raises(RateLimitWaitExceeded) as info:
            async with b.acquire(deadline=trio.current_time() + 1):
                pass
        assert info.value.retry_after == pytest.approx(15.0, abs=0.5)


async def test_all_or_nothing_across_dimensions(redis: RedisServer) -> None:
    async with open_state_backend(settings(redis.url, burst=1.0)) as backend:
        limits = RateLimits(requests=100, input_tokens=1000, output_tokens=100, period=60.0)
        limiter = backend.limiter("p", "m", limits)
        async with limiter.acquire(900, 10):
            pass
        # fits the requests and output tokens, not the input tokens: nothing is charged
        with pytest.raises(RateLimitWaitExceeded):
            async with limiter.acquire(200, 10, deadline=trio.current_time() + 1):
                pass
        async with limiter.acquire(100, 90, deadline=trio.current_time() + 1):
            pass
        with pytest.raises(RequestTooLargeError):
            async with limiter.acquire(1001, 0):
                pass


async def test_reconcile_refunds_and_charges_on_redis(redis: RedisServer) -> None:
    async with (
        open_state_backend(settings(redis.url, burst=1.0)) as one,
        open_state_backend(settings(redis.url, burst=1.0)) as two,
    ):
        limits = RateLimits(output_tokens=1000, period=60.0)
        a, b = one.limiter("p", "", limits), two.limiter("p", "", limits)
        async with a.acquire(0, 1000) as lease:
            lease.reconcile(Usage(input_tokens=0, output_tokens=100))
        await trio.sleep(0.05)  # the refund is written in the background
        async with b.acquire(0, 900, deadline=trio.current_time() + 0.5) as other:
            other.reconcile(Usage(input_tokens=0, output_tokens=950))  # 50 more than estimated
        await trio.sleep(0.05)
        with pytest.raises(RateLimitWaitExceeded):
            async with a.acquire(0, 1, deadline=trio.current_time() + 0.5):
                pass


async def test_a_servers_pause_holds_every_process(redis: RedisServer) -> None:
    async with (
        open_state_backend(settings(redis.url)) as one,
        open_state_backend(settings(redis.url)) as two,
    ):
        a, b = one.limiter("p", "", RateLimits()), two.limiter("p", "", RateLimits())
        start = trio.current_time()
        a.apply_rate_limit_info(RateLimitInfo(retry_after=0.3), start, rate_limited=True)
        await trio.sleep(0.02)
        async with b.acquire(1, 1):
            waited = trio.current_time() - start
        assert 0.28 <= waited < 0.6


async def test_header_budgets_are_shared(redis: RedisServer) -> None:
    async with (
        open_state_backend(settings(redis.url)) as one,
        open_state_backend(settings(redis.url)) as two,
    ):
        a, b = one.limiter("p", "", RateLimits()), two.limiter("p", "", RateLimits())
        now = trio.current_time()
        a.apply_rate_limit_info(RateLimitInfo(requests_remaining=1, requests_reset=5.0), now)
        await trio.sleep(0.02)
        async with b.acquire():
            pass
        with pytest.raises(RateLimitWaitExceeded) as info:
            async with a.acquire(deadline=trio.current_time() + 1):
                pass
        assert info.value.retry_after == pytest.approx(5.0, abs=0.2)


async def test_a_flushed_script_cache_falls_back_to_eval(redis: RedisServer) -> None:
    async with open_state_backend(settings(redis.url)) as backend:
        limiter = backend.limiter("p", "", RateLimits(requests=100))
        async with limiter.acquire() as first:
            assert first.shared  # type: ignore[attr-defined]
        redis.flush()
        async with limiter.acquire() as second:
            assert second.shared  # type: ignore[attr-defined]


async def test_keys_carry_one_hash_tag_per_provider_and_model(redis: RedisServer) -> None:
    async with open_state_backend(settings(redis.url)) as backend:
        limiter = backend.limiter("openai", "gpt-4o", RateLimits(requests=100))
        assert isinstance(limiter, SharedRateLimiter)
        assert limiter._tat_keys[0] == "{hafs:openai:gpt-4o}:tat:requests"


@pytest.mark.parametrize(
    "url", ["http://localhost:6379", "redis://", "redis://host:notaport", "redis://h/x", ""]
)
def test_a_malformed_url_is_a_config_error_naming_the_key(url: str) -> None:
    with pytest.raises(ConfigError, match="redis_url"):
        StateSettings(redis_url=url)
    with pytest.raises(ConfigError, match="HAFS_REDIS_URL"):
        StateSettings.from_env({"HAFS_REDIS_URL": url or "nope"})


def test_settings_from_the_environment() -> None:
    got = StateSettings.from_env({"HAFS_REDIS_URL": "redis://h:1/2", "HAFS_STATE_SHARE": "4"})
    assert (got.redis_url, got.share) == ("redis://h:1/2", 4)
    assert StateSettings.from_env({"HAFS_REDIS_URL": ""}).redis_url is None
    with pytest.raises(ConfigError, match="HAFS_STATE_SHARE"):
        StateSettings.from_env({"HAFS_STATE_SHARE": "0"})


async def test_an_unreachable_redis_at_start_warns_once_and_runs_locally(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hafs_actors.state")
    url = f"redis://127.0.0.1:{free_port()}/0"
    with trio.fail_after(1):
        async with open_state_backend(settings(url, share=2)) as backend:
            limiter = backend.limiter("p", "", RateLimits(requests=4, period=60.0))
            for _ in range(2):
                async with limiter.acquire() as lease:
                    assert not lease.shared  # type: ignore[attr-defined]
            with pytest.raises(RateLimitWaitExceeded):  # the local share: 4 / 2
                async with limiter.acquire(deadline=trio.current_time() + 1):
                    pass
            await trio.sleep(0.6)  # reconnection attempts do not warn again
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "unreachable at start" in warnings[0].getMessage()
