"""The state backend interface: where a provider's limiters and breaker keep their state.

The provider cell asks the backend for its breaker and limiters instead of building them, and
gets the same objects either way: :class:`LocalBackend` returns today's in-process
:class:`~hafs_actors.resilience.CircuitBreaker` and :class:`~hafs_actors.resilience.RateLimiter`;
:class:`~hafs_actors.state.RedisBackend` returns subclasses/look-alikes sharing state through
Redis. Callers depend only on the :class:`Limiter` and :class:`LimiterLease` protocols.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol

import trio

from ..resilience import (
    BreakerConfig,
    BreakerEvent,
    CircuitBreaker,
    LimiterStatistics,
    RateLimiter,
    RateLimits,
)
from ..types import RateLimitInfo, Usage
from ._settings import StateSettings

__all__ = [
    "BackendUnavailable",
    "Limiter",
    "LimiterLease",
    "LocalBackend",
    "StateBackend",
    "open_state_backend",
]


class BackendUnavailable(Exception):
    """The shared store did not answer in time (or its local breaker is open): decide locally."""


class LimiterLease(Protocol):
    """What ``async with limiter.acquire(...) as lease`` yields."""

    admitted_at: float | None

    async def __aenter__(self) -> LimiterLease: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def charged(self) -> tuple[int, int, int, int]: ...

    def release(self) -> None: ...

    def reconcile(self, usage: Usage) -> None: ...


class Limiter(Protocol):
    """The rate limiter surface the provider cell uses (``RateLimiter`` has it)."""

    @property
    def limits(self) -> RateLimits: ...

    def acquire(
        self, input_tokens: int = 0, output_tokens: int = 0, *, deadline: float | None = None
    ) -> LimiterLease: ...

    def apply_rate_limit_info(
        self, info: RateLimitInfo, now: float, *, rate_limited: bool = False
    ) -> None: ...

    def pause_until(self, until: float) -> None: ...

    def statistics(self) -> LimiterStatistics: ...


class StateBackend(Protocol):
    """Builds the breaker and limiters of each provider; shared state lives behind it."""

    def limiter(self, provider: str, model: str, limits: RateLimits) -> Limiter:
        """The limiter of one key: ``model`` is "" when the provider meters per provider."""
        ...

    def breaker(
        self,
        provider: str,
        config: BreakerConfig,
        *,
        rng: random.Random | None = None,
        observer: Callable[[BreakerEvent], None] | None = None,
    ) -> CircuitBreaker: ...


class LocalBackend:
    """All state in this process: exactly the cores of :mod:`hafs_actors.resilience`."""

    def limiter(self, provider: str, model: str, limits: RateLimits) -> Limiter:
        return RateLimiter(limits, provider=provider, model=model)

    def breaker(
        self,
        provider: str,
        config: BreakerConfig,
        *,
        rng: random.Random | None = None,
        observer: Callable[[BreakerEvent], None] | None = None,
    ) -> CircuitBreaker:
        return CircuitBreaker(config, rng=rng, observer=observer)


@asynccontextmanager
async def open_state_backend(
    settings: StateSettings | None = None, *, rng: random.Random | None = None
) -> AsyncIterator[StateBackend]:
    """The backend ``settings`` ask for, running for the duration of the block.

    With a ``redis_url`` it connects (an unreachable Redis logs one warning and the block runs
    on local limits until Redis answers; it never waits longer than ``call_timeout``). ``rng``
    jitters the reconnection schedule (``Seeds.rng("state")``).
    """
    settings = settings if settings is not None else StateSettings()
    if settings.redis_url is None:
        yield LocalBackend()
        return
    from ._redis import RedisBackend  # coredis is an optional dependency

    backend = RedisBackend(settings, rng=rng)
    async with trio.open_nursery() as nursery:
        await nursery.start(backend.run)
        try:
            yield backend
        finally:
            nursery.cancel_scope.cancel()
