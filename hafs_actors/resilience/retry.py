"""The retry policy of the router's chain: pure decisions, clock and randomness passed in.

Retries happen at one layer only (design §6): the router asks :meth:`RetryPolicy.decide` after
each failed attempt whether to try the *same* candidate again, and how long to sleep first.

* Only errors with ``retryable=True`` are retried, at most ``max_retries`` times.
* The sleep is AWS "Full Jitter": ``uniform(0, min(max_delay, base_delay * 2**attempt))``.
* A server delay (``Retry-After``, ``retry-after-ms``, Gemini ``RetryInfo``, carried by the
  error as ``retry_after``) is honoured as given; when it is longer than
  ``max_server_delay`` or than the time left before the deadline, the answer is "don't retry,
  move on" to the next candidate.
* A retry budget per provider (Finagle ``RetryBudget``, gRPC retry throttling) caps retries to
  a share of requests, so retries cannot multiply the load on a struggling provider.
"""

from __future__ import annotations

import math
import random

import attrs

from ..errors import ConfigError, ProviderError, RateLimitError

__all__ = ["RetryBudget", "RetryConfig", "RetryDecision", "RetryPolicy"]

_SCALE = 1000  # fixed point for budget arithmetic: exact at every boundary


def _check(key: str, ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message, source="RetryConfig", key=key)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@attrs.frozen
class RetryConfig:
    """Retry settings. ``docs/resilience.md`` gives the source of every default."""

    #: retries of one candidate after its first attempt (so 3 attempts in all)
    max_retries: int = 2
    base_delay: float = 0.5
    #: cap of the backoff ceiling
    max_delay: float = 8.0
    #: longest server-announced delay that is waited out; longer ones move on
    max_server_delay: float = 30.0
    #: share of requests that may be retried, per provider
    budget_ratio: float = 0.2
    #: reserve so that rarely used providers may still retry
    budget_min_retries_per_second: float = 3.0
    #: how long a request (deposit) or a retry (withdrawal) counts in the budget
    budget_ttl: float = 10.0

    def __attrs_post_init__(self) -> None:
        _check(
            "max_retries",
            isinstance(self.max_retries, int)
            and not isinstance(self.max_retries, bool)
            and self.max_retries >= 0,
            f"must be an integer >= 0, got {self.max_retries!r}",
        )
        for key in ("base_delay", "max_delay", "max_server_delay", "budget_ttl"):
            value = getattr(self, key)
            _check(key, _number(value) and value > 0, f"must be positive and finite, got {value!r}")
        _check(
            "budget_ratio",
            _number(self.budget_ratio) and self.budget_ratio >= 0,
            f"must be a number >= 0, got {self.budget_ratio!r}",
        )
        _check(
            "budget_min_retries_per_second",
            _number(self.budget_min_retries_per_second) and self.budget_min_retries_per_second >= 0,
            f"must be a number >= 0, got {self.budget_min_retries_per_second!r}",
        )


@attrs.frozen
class RetryDecision:
    """Whether to retry the same candidate, after how many seconds, and why (for the log)."""

    retry: bool
    delay: float
    reason: str


class RetryBudget:
    """Finagle's token-ratio retry budget over a sliding ``ttl``.

    Each request deposits ``ratio`` of a token, each retry withdraws one; a reserve of
    ``min_retries_per_second * ttl`` tokens lets a quiet client retry at all. Deposits and
    withdrawals leave the balance ``ttl`` seconds later (in ten steps), so the budget refills by
    itself. Arithmetic is fixed-point, so "20 % of 5 requests" is exactly one retry.
    """

    _BUCKETS = 10

    def __init__(self, ratio: float, min_retries_per_second: float, ttl: float) -> None:
        self._ratio = round(ratio * _SCALE)
        self._reserve = round(min_retries_per_second * ttl * _SCALE)
        self._width = ttl / self._BUCKETS
        self._deposits = [0] * self._BUCKETS
        self._withdrawals = [0] * self._BUCKETS
        self._head: int | None = None
        self._deposit_total = 0
        self._withdrawal_total = 0

    def _advance(self, now: float) -> int:
        index = math.floor(now / self._width)
        head = self._head
        n = self._BUCKETS
        if head is None or index - head >= n:
            self._deposits = [0] * n
            self._withdrawals = [0] * n
            self._deposit_total = self._withdrawal_total = 0
            self._head = index
        elif index > head:
            for i in range(head + 1, index + 1):
                slot = i % n
                self._deposit_total -= self._deposits[slot]
                self._withdrawal_total -= self._withdrawals[slot]
                self._deposits[slot] = self._withdrawals[slot] = 0
            self._head = index
        assert self._head is not None
        return self._head % n

    def deposit(self, now: float) -> None:
        """Count one request (first attempts only)."""
        slot = self._advance(now)
        self._deposits[slot] += 1
        self._deposit_total += 1

    def balance(self, now: float) -> float:
        """Retries available now (may be fractional)."""
        self._advance(now)
        milli = self._reserve + self._ratio * self._deposit_total - _SCALE * self._withdrawal_total
        return milli / _SCALE

    def try_withdraw(self, now: float) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is exhausted."""
        slot = self._advance(now)
        milli = self._reserve + self._ratio * self._deposit_total - _SCALE * self._withdrawal_total
        if milli < _SCALE:
            return False
        self._withdrawals[slot] += 1
        self._withdrawal_total += 1
        return True


class RetryPolicy:
    """Decides retries for the router; keeps one :class:`RetryBudget` per provider.

    Pure apart from the budgets and the seedable ``rng``: the caller passes the clock.
    """

    def __init__(self, config: RetryConfig | None = None, *, rng: random.Random | None = None):
        self.config = config if config is not None else RetryConfig()
        self._rng = rng if rng is not None else random.Random()
        self._budgets: dict[str, RetryBudget] = {}

    def budget(self, provider: str) -> RetryBudget:
        """The budget of ``provider`` (created on first use)."""
        budget = self._budgets.get(provider)
        if budget is None:
            cfg = self.config
            budget = RetryBudget(
                cfg.budget_ratio, cfg.budget_min_retries_per_second, cfg.budget_ttl
            )
            self._budgets[provider] = budget
        return budget

    def record_request(self, provider: str, now: float) -> None:
        """Count a first attempt at ``provider``: every request earns its share of retries."""
        self.budget(provider).deposit(now)

    def backoff_ceiling(self, attempt_no: int) -> float:
        """``min(max_delay, base_delay * 2**attempt_no)``: the Full Jitter upper bound."""
        cfg = self.config
        return min(cfg.max_delay, cfg.base_delay * 2.0 ** min(attempt_no, 1023))

    def decide(
        self,
        error: BaseException,
        attempt_no: int,
        now: float,
        deadline_remaining: float | None,
        *,
        provider: str | None = None,
    ) -> RetryDecision:
        """Whether to retry after ``error`` ended attempt ``attempt_no`` (0 = the first try).

        ``deadline_remaining`` is the time left of the request's overall deadline (None: no
        deadline); a retry whose sleep would use it all up is refused. ``provider`` selects the
        budget (default: the error's provider). A yes takes one retry from the budget.
        """
        if isinstance(attempt_no, bool) or not isinstance(attempt_no, int) or attempt_no < 0:
            raise ValueError(f"attempt_no must be an integer >= 0, got {attempt_no!r}")
        cfg = self.config
        if not isinstance(error, ProviderError) or not error.retryable:
            return RetryDecision(False, 0.0, f"{type(error).__name__} is not retryable")
        if attempt_no >= cfg.max_retries:
            return RetryDecision(False, 0.0, f"max retries ({cfg.max_retries}) reached")
        server_delay = error.retry_after
        if server_delay is None and isinstance(error, RateLimitError) and error.rate_limit:
            server_delay = error.rate_limit.retry_after
        if server_delay is not None and server_delay > 0:
            if server_delay > cfg.max_server_delay:
                return RetryDecision(
                    False,
                    server_delay,
                    f"server asked to wait {server_delay:g}s, more than "
                    f"max_server_delay {cfg.max_server_delay:g}s: move on",
                )
            delay = float(server_delay)
            source = "server delay"
        else:
            delay = self._rng.uniform(0.0, self.backoff_ceiling(attempt_no))
            source = "full jitter backoff"
        if deadline_remaining is not None and delay >= deadline_remaining:
            return RetryDecision(
                False,
                delay,
                f"{source} {delay:.3f}s would use up the deadline "
                f"({max(deadline_remaining, 0.0):.3f}s left): move on",
            )
        name = provider if provider is not None else error.provider
        if not self.budget(name).try_withdraw(now):
            return RetryDecision(False, 0.0, f"retry budget of {name or 'provider'} exhausted")
        return RetryDecision(True, delay, f"retry {attempt_no + 1} after {source} {delay:.3f}s")
