"""The shared rate limiter: one GCRA on Redis per key, a local 1/N share when Redis fails.

Same surface as :class:`~hafs_actors.resilience.RateLimiter`. Concurrency stays per process
(slots are held by this process's calls); the four rate dimensions are shared. Within a process,
waiters are served first in, first out; across processes, whoever asks Redis first after the
schedule allows wins.
"""

from __future__ import annotations

import math
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING

import attrs
import trio

from ..errors import RateLimitWaitExceeded
from ..resilience import DIMENSIONS, Lease, LimiterStatistics, RateLimiter, RateLimits
from ..resilience.limiter import RequestTooLargeError
from ..types import RateLimitInfo, Usage
from ._backend import BackendUnavailable
from ._scripts import ADJUST, GCRA, HEADERS

if TYPE_CHECKING:
    from ._redis import RedisBackend

__all__ = ["SharedLease", "SharedRateLimiter", "share_of"]


def share_of(limits: RateLimits, n: int) -> RateLimits:
    """Each rate limit divided by ``n`` (rounded down, at least 1); concurrency unchanged."""

    def part(value: int | None) -> int | None:
        return None if value is None or value <= 0 else max(1, value // n)

    return attrs.evolve(
        limits,
        requests=part(limits.requests),
        tokens=part(limits.tokens),
        input_tokens=part(limits.input_tokens),
        output_tokens=part(limits.output_tokens),
        concurrency=None,
    )


class SharedLease:
    """One admission; ``shared`` tells whether Redis admitted it (else the local share did)."""

    __slots__ = (
        "_charged",
        "_deadline",
        "_limiter",
        "_mirror",
        "_slot",
        "admitted_at",
        "server_time",
        "shared",
    )

    def __init__(
        self, limiter: SharedRateLimiter, need: tuple[int, int, int, int], deadline: float
    ) -> None:
        self._limiter = limiter
        self._charged = need
        self._deadline = deadline
        self._slot = limiter._slots.acquire(deadline=None if deadline == math.inf else deadline)
        #: this admission in the local share's log (so a fallback counts it)
        self._mirror: Lease | None = None
        self.admitted_at: float | None = None
        #: when Redis admitted it, in seconds of the Redis server's clock (None: admitted locally)
        self.server_time: float | None = None
        self.shared = False

    async def __aenter__(self) -> SharedLease:
        await self._slot.__aenter__()
        try:
            await self._limiter._admit(self)
        except BaseException:
            self._slot.release()
            raise
        self.admitted_at = trio.current_time()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def charged(self) -> tuple[int, int, int, int]:
        return self._charged

    def release(self) -> None:
        self._slot.release()

    def reconcile(self, usage: Usage) -> None:
        """Correct the charge to ``usage``, here and (in the background) on Redis."""
        if self._mirror is None:
            raise RuntimeError("reconcile() on a lease that was never admitted")
        self._mirror.reconcile(usage)
        new = self._mirror.charged
        delta = tuple(a - b for a, b in zip(new, self._charged, strict=True))
        self._charged = new
        if self.shared and any(delta):
            self._limiter._post_adjust(delta)


class SharedRateLimiter:
    """A rate limiter whose four rate dimensions live on Redis (see the module docstring)."""

    def __init__(
        self, backend: RedisBackend, provider: str, model: str, limits: RateLimits
    ) -> None:
        self.provider = provider
        self.model = model
        self._backend = backend
        self._limits = limits
        self._vector = limits.vector
        self._slots = RateLimiter(
            RateLimits(concurrency=limits.concurrency), provider=provider, model=model
        )
        self._local = RateLimiter(
            share_of(limits, backend.settings.share), provider=provider, model=model
        )
        self._fifo = trio.Lock()
        key = backend.key
        self._tat_keys = [key(provider, model, f"tat:{d}") for d in DIMENSIONS]
        self._budget_keys = [key(provider, model, f"budget:{d}") for d in DIMENSIONS]
        self._pause_key = key(provider, model, "pause")
        period_us = limits.period * 1e6
        self._interval = [0.0 if lim == math.inf else period_us / lim for lim in self._vector]
        self._tolerance = [backend.settings.burst * period_us] * 4
        #: local admissions while Redis was away, charged to Redis when it answers again
        self._outage: deque[tuple[float, Lease]] = deque()
        self.shared_admitted = 0
        self.local_admitted = 0
        self._waiting = 0
        self._rejected = 0
        self._cancelled = 0

    @property
    def limits(self) -> RateLimits:
        return self._limits

    def acquire(
        self, input_tokens: int = 0, output_tokens: int = 0, *, deadline: float | None = None
    ) -> SharedLease:
        """Like :meth:`RateLimiter.acquire`; the rate amounts are charged on Redis."""
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} estimate must be a non-negative integer, got {value!r}")
        if deadline is None:
            deadline = math.inf
        elif math.isnan(deadline):
            raise ValueError("deadline must be a trio time or None, got nan")
        need = (1, input_tokens + output_tokens, input_tokens, output_tokens)
        return SharedLease(self, need, deadline)

    # --- admission -----------------------------------------------------------------------------

    async def _admit(self, lease: SharedLease) -> None:
        need = lease._charged
        for d in range(4):
            if need[d] > self._vector[d]:
                self._rejected += 1
                raise RequestTooLargeError(
                    f"request needs {need[d]} {DIMENSIONS[d]} but the limit is "
                    f"{int(self._vector[d])} per {self._limits.period:g}s: it can never fit",
                    provider=self.provider,
                    model=self.model,
                )
        self._waiting += 1
        try:
            with trio.move_on_at(lease._deadline):
                async with self._fifo:
                    await self._admit_in_turn(lease)
                    return
            self._rejected += 1
            raise self._exceeded("deadline reached while waiting for the rate limiter", None)
        except trio.Cancelled:
            self._cancelled += 1
            raise
        finally:
            self._waiting -= 1

    async def _admit_in_turn(self, lease: SharedLease) -> None:
        need = lease._charged
        args = [*self._interval, *self._tolerance, *need, ""]
        keys = [*self._tat_keys, self._pause_key, *self._budget_keys]
        backend = self._backend
        while True:
            if not backend.available:
                await self._admit_locally(lease)
                return
            try:
                admitted, wait_us, server_us = await backend.call(GCRA, keys, args)
            except trio.Cancelled:
                self._local.charge(need[2], need[3])  # Redis may have admitted it: count it
                raise
            except BackendUnavailable:  # Redis may have admitted it: count it
                self._local.charge(need[2], need[3])
                continue
            if admitted:
                lease._mirror = self._local.charge(need[2], need[3])
                lease.shared = True
                lease.server_time = int(server_us) / 1e6
                self.shared_admitted += 1
                return
            wait = int(wait_us) / 1e6
            if trio.current_time() + wait >= lease._deadline:
                self._rejected += 1
                raise self._exceeded(
                    f"rate limiter would admit this request in {wait:.3f}s, after its deadline",
                    wait,
                )
            await trio.sleep(min(wait, backend.settings.recheck))

    async def _admit_locally(self, lease: SharedLease) -> None:
        need = lease._charged
        deadline = None if lease._deadline == math.inf else lease._deadline
        local = self._local.acquire(need[2], need[3], deadline=deadline)
        await local.__aenter__()
        local.release()
        lease._mirror = local
        self._outage.append((trio.current_time(), local))
        self.local_admitted += 1

    def _exceeded(self, message: str, wait: float | None) -> RateLimitWaitExceeded:
        return RateLimitWaitExceeded(
            message, provider=self.provider, model=self.model, retry_after=wait
        )

    # --- corrections ---------------------------------------------------------------------------

    def _post_adjust(self, delta: tuple[int, ...]) -> None:
        keys = [*self._tat_keys, *self._budget_keys]
        args = [*self._interval, *delta, ""]

        async def write() -> None:
            await self._backend.call(ADJUST, keys, args)

        self._backend.post(write)

    def resync(self) -> None:
        """Redis answers again: charge it with what this process admitted locally meanwhile."""
        horizon = trio.current_time() - self._limits.period
        total = [0, 0, 0, 0]
        while self._outage:
            at, lease = self._outage.popleft()
            if at > horizon:
                total = [a + b for a, b in zip(total, lease.charged, strict=True)]
        if any(total):
            self._post_adjust(tuple(total))

    def apply_rate_limit_info(
        self, info: RateLimitInfo, now: float, *, rate_limited: bool = False
    ) -> None:
        """Apply the headers here and publish their budgets and pause to every process."""
        local = self._local
        local.apply_rate_limit_info(info, now, rate_limited=rate_limited)
        period = self._limits.period
        remaining: list[int] = []
        resets: list[int] = []
        for value, reset in (
            (info.requests_remaining, info.requests_reset),
            (info.tokens_remaining, info.tokens_reset),
            (info.input_tokens_remaining, info.input_tokens_reset),
            (info.output_tokens_remaining, info.output_tokens_reset),
        ):
            remaining.append(-1 if value is None or value < 0 else int(value))
            horizon = reset if reset is not None and reset >= 0 else period
            resets.append(math.ceil(horizon * 1000))
        self._post_headers(local.statistics().paused_until, remaining, resets)

    def pause_until(self, until: float) -> None:
        """Admit nothing, in any process, before trio time ``until``."""
        self._local.pause_until(until)
        self._post_headers(until, [-1] * 4, [0] * 4)

    def _post_headers(self, until: float | None, remaining: list[int], resets: list[int]) -> None:
        pause_ms = 0 if until is None else max(0, math.ceil((until - trio.current_time()) * 1000))
        if not pause_ms and all(r < 0 for r in remaining):
            return
        keys = [self._pause_key, *self._budget_keys]
        args = [pause_ms, *remaining, *resets]

        async def write() -> None:
            await self._backend.call(HEADERS, keys, args)

        self._backend.post(write)

    # --- reading -------------------------------------------------------------------------------

    def statistics(self) -> LimiterStatistics:
        """The local share's view of availability; waiters, slots and counts of this limiter."""
        slots = self._slots.statistics()
        return attrs.evolve(
            self._local.statistics(),
            waiters=slots.waiters + self._waiting,
            in_flight=slots.in_flight,
            concurrency_limit=slots.concurrency_limit,
            admitted=self.shared_admitted + self.local_admitted,
            rejected=self._rejected + slots.rejected,
            cancelled=self._cancelled + slots.cancelled,
        )
