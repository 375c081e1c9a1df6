"""Where rate-limiter and circuit-breaker state lives: this process, or Redis for many.

* :class:`LocalBackend` (the default): the in-process cores of :mod:`hafs_actors.resilience`.
* :class:`RedisBackend` (``pip install 'hafs-actors[redis]'``): N processes on M machines share
  each provider's quota and breaker; a ``1/N`` local share while Redis does not answer.

:func:`open_state_backend` picks one from :class:`StateSettings`. Guarantees and failure policy:
``docs/scaling.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._backend import (
    BackendUnavailable,
    Limiter,
    LimiterLease,
    LocalBackend,
    StateBackend,
    open_state_backend,
)
from ._settings import StateSettings, check_redis_url

if TYPE_CHECKING:
    from ._redis import BackendStatistics, RedisBackend

__all__ = [
    "BackendStatistics",
    "BackendUnavailable",
    "Limiter",
    "LimiterLease",
    "LocalBackend",
    "RedisBackend",
    "StateBackend",
    "StateSettings",
    "check_redis_url",
    "open_state_backend",
]


def __getattr__(name: str) -> Any:
    # coredis is optional: import the Redis backend only when it is asked for.
    if name in ("RedisBackend", "BackendStatistics"):
        from . import _redis

        return getattr(_redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
