"""Resilience cores used by the provider actors and the router.

* :mod:`.breaker`: the circuit breaker, a pure synchronous state machine (clock passed in);
* :mod:`.limiter`: the rate limiter (requests, tokens, concurrency) on trio's clock;
* :mod:`.retry`: the router's retry policy (full jitter, server delays, retry budget);
* :mod:`._seeding`: one ``random_seed`` turned into a generator per jitter source.

Semantics and defaults, with their sources: ``docs/resilience.md``.
"""

from __future__ import annotations

from ._seeding import Seeds, derive_rng
from .breaker import (
    BreakerConfig,
    BreakerEvent,
    BreakerStatistics,
    CircuitBreaker,
    CircuitState,
    Permit,
    TransitionReason,
    WindowType,
    default_is_failure,
)
from .limiter import (
    DIMENSIONS,
    Lease,
    LimiterStatistics,
    RateLimiter,
    RateLimits,
    RequestTooLargeError,
)
from .retry import RetryBudget, RetryConfig, RetryDecision, RetryPolicy

__all__ = [
    "DIMENSIONS",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerStatistics",
    "CircuitBreaker",
    "CircuitState",
    "Lease",
    "LimiterStatistics",
    "Permit",
    "RateLimiter",
    "RateLimits",
    "RequestTooLargeError",
    "RetryBudget",
    "RetryConfig",
    "RetryDecision",
    "RetryPolicy",
    "Seeds",
    "TransitionReason",
    "WindowType",
    "default_is_failure",
    "derive_rng",
]
