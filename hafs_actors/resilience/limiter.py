"""The rate limiter: requests, tokens and concurrency for one provider key, on trio's clock.

One :class:`RateLimiter` meters one key. The provider actor builds one per (provider, model)
where the provider meters per model (OpenAI, Gemini) and one per provider otherwise (design §7);
the limiter itself knows nothing about keys.

Each rate dimension (requests, tokens = input + output, input tokens, output tokens) is a
**sliding log** over ``period`` seconds: an admission is logged with its amounts and leaves the
window exactly ``period`` seconds later, so no interval of length ``period`` ever holds more
than the limit (the "moving window" of ``limits``; stricter than the providers' own token
buckets, so it never provokes a 429 by itself, with the same steady throughput). Amounts are
integers, so the accounting is exact. Memory is one small record per admission in the window.

Waiters are served strictly first in, first out (no barging: a small request never overtakes a
big one waiting at the head). A waiter whose projected admission time is past its deadline gets
:class:`~hafs_actors.errors.RateLimitWaitExceeded` at once instead of waiting in vain. Provider
headers correct the local state (:meth:`RateLimiter.apply_rate_limit_info`).

Usage, one call::

    async with limiter.acquire(input_tokens=900, output_tokens=512, deadline=deadline) as lease:
        result = await adapter.generate(request)
        lease.reconcile(result.usage)
"""

from __future__ import annotations

import math
from collections import deque
from types import TracebackType

import attrs
import trio

from ..errors import ConfigError, RateLimitWaitExceeded
from ..types import RateLimitInfo, Usage

__all__ = [
    "DIMENSIONS",
    "Lease",
    "LimiterStatistics",
    "RateLimiter",
    "RateLimits",
    "RequestTooLargeError",
]

#: The rate dimensions, in the order used by amounts and limits.
DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")
_REQ, _TOK, _IN, _OUT = range(4)
_INF = math.inf


class RequestTooLargeError(RateLimitWaitExceeded):
    """The request needs more than a limit allows in a whole period: it can never be admitted."""


def _limit(key: str, value: int | None) -> float:
    if value is None:
        return _INF
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"must be an integer or None, got {value!r}", source="RateLimits", key=key
        )
    return value if value > 0 else _INF


@attrs.frozen
class RateLimits:
    """Limits of one key, per ``period`` seconds. None, 0 or a negative value: unlimited.

    ``concurrency`` caps the calls in flight; a slot is held until the lease is released (the
    response, or the whole stream, is done), not merely until the request is sent.
    """

    requests: int | None = None
    tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    concurrency: int | None = None
    period: float = 60.0
    #: how long a 429 that announced no delay pauses the limiter
    rate_limited_pause: float = 1.0

    def __attrs_post_init__(self) -> None:
        for key in ("requests", "tokens", "input_tokens", "output_tokens", "concurrency"):
            _limit(key, getattr(self, key))
        for key in ("period", "rate_limited_pause"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"must be a number, got {value!r}", source="RateLimits", key=key)
            if not 0 < value < _INF:
                raise ConfigError(
                    f"must be positive and finite, got {value!r}", source="RateLimits", key=key
                )

    @classmethod
    def per_minute(
        cls,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        input_tpm: int | None = None,
        output_tpm: int | None = None,
        concurrency: int | None = None,
    ) -> RateLimits:
        """Limits in the providers' own units (RPM, TPM, ITPM, OTPM)."""
        return cls(rpm, tpm, input_tpm, output_tpm, concurrency, 60.0)

    @property
    def vector(self) -> tuple[float, float, float, float]:
        """The four rate limits in :data:`DIMENSIONS` order, ``inf`` when unlimited."""
        return (
            _limit("requests", self.requests),
            _limit("tokens", self.tokens),
            _limit("input_tokens", self.input_tokens),
            _limit("output_tokens", self.output_tokens),
        )


@attrs.frozen
class LimiterStatistics:
    """A snapshot of one limiter. ``*_available`` is None for an unlimited dimension.

    Available amounts include server corrections still in force and may be negative after a
    lease was charged more than its estimate.
    """

    requests_available: int | None
    tokens_available: int | None
    input_tokens_available: int | None
    output_tokens_available: int | None
    waiters: int
    in_flight: int
    concurrency_limit: int | None
    paused_until: float | None
    admitted: int
    rejected: int
    cancelled: int


class _Entry:
    """One logged admission (or extra charge): when, and how much of each dimension."""

    __slots__ = ("amounts", "live", "t")

    def __init__(self, t: float, amounts: list[int]) -> None:
        self.t = t
        self.amounts = amounts
        self.live = True


class _Waiter:
    __slots__ = ("error", "gone", "lease", "wake")

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.wake = trio.Event()
        self.error: RateLimitWaitExceeded | None = None
        self.gone = False


class _Projection:
    """A dry run of the queue: when each waiter would be admitted, ignoring concurrency.

    Replays the log's future expiries (and the projected admissions themselves) against the
    limits, the server budgets and the pause. Extended one waiter at a time, so projecting a new
    arrival behind an unchanged queue costs O(1) amortised.
    """

    __slots__ = (
        "budget_left",
        "budget_until",
        "limiter",
        "next_entry",
        "sim",
        "sim_next",
        "t",
        "used",
    )

    def __init__(self, limiter: RateLimiter, now: float) -> None:
        self.limiter = limiter
        self.t = max(now, limiter._paused_until)
        self.next_entry = limiter._log_start
        self.sim: list[_Entry] = []
        self.sim_next = 0
        self.used = list(limiter._used)
        self.budget_left = list(limiter._budget_left)
        self.budget_until = limiter._budget_until

    def snapshot(self) -> tuple[float, int, int, int, list[int], list[float]]:
        return (
            self.t,
            self.next_entry,
            self.sim_next,
            len(self.sim),
            list(self.used),
            list(self.budget_left),
        )

    def restore(self, snap: tuple[float, int, int, int, list[int], list[float]]) -> None:
        self.t, self.next_entry, self.sim_next, n_sim, self.used, self.budget_left = snap
        del self.sim[n_sim:]

    def _expire_to(self, t: float) -> None:
        log = self.limiter._log
        period = self.limiter._limits_cfg.period
        used = self.used
        while self.next_entry < len(log) and log[self.next_entry].t + period <= t:
            amounts = log[self.next_entry].amounts
            for d in range(4):
                used[d] -= amounts[d]
            self.next_entry += 1
        if self.next_entry < len(log):
            return
        sim = self.sim
        while self.sim_next < len(sim) and sim[self.sim_next].t + period <= t:
            amounts = sim[self.sim_next].amounts
            for d in range(4):
                used[d] -= amounts[d]
            self.sim_next += 1

    def admit(self, need: tuple[int, int, int, int]) -> float:
        """Project the admission of ``need`` after everything already projected (inf: never)."""
        limits = self.limiter._limits
        log = self.limiter._log
        period = self.limiter._limits_cfg.period
        used = self.used
        left = self.budget_left
        until = self.budget_until
        t = self.t
        while True:
            self._expire_to(t)
            nxt = _INF
            fits = True
            for d in range(4):
                if used[d] + need[d] > limits[d]:
                    fits = False
                if t < until[d] and need[d] > left[d]:
                    fits = False
                    nxt = min(nxt, until[d])
            if fits:
                break
            if self.next_entry < len(log):
                nxt = min(nxt, log[self.next_entry].t + period)
            elif self.sim_next < len(self.sim):
                nxt = min(nxt, self.sim[self.sim_next].t + period)
            if nxt == _INF:
                return _INF
            t = nxt
        for d in range(4):
            used[d] += need[d]
            if t < until[d]:
                left[d] -= need[d]
        self.sim.append(_Entry(t, list(need)))
        self.t = t
        return t


# Lease states
_PENDING, _WAITING, _ADMITTED, _RELEASED, _FAILED = range(5)


class Lease:
    """One admission: an async context manager from :meth:`RateLimiter.acquire`.

    Entering waits for admission; leaving releases the concurrency slot on every exit path. The
    rate amounts stay charged for ``period`` seconds; :meth:`reconcile` corrects them to the
    actual usage once it is known.
    """

    __slots__ = ("_charged", "_deadline", "_entries", "_limiter", "_need", "_state", "admitted_at")

    def __init__(
        self, limiter: RateLimiter, need: tuple[int, int, int, int], deadline: float
    ) -> None:
        self._limiter = limiter
        self._need = need
        self._deadline = deadline
        self._state = _PENDING
        self._entries: list[_Entry] = []
        self._charged = list(need)
        #: trio time of admission; None until admitted
        self.admitted_at: float | None = None

    async def __aenter__(self) -> Lease:
        if self._state != _PENDING:
            raise RuntimeError("a Lease can be entered only once")
        await self._limiter._admit(self)
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
        """What this lease counts for now, in :data:`DIMENSIONS` order."""
        return (self._charged[0], self._charged[1], self._charged[2], self._charged[3])

    def release(self) -> None:
        """Give the concurrency slot back (idempotent; ``__aexit__`` calls it)."""
        if self._state == _ADMITTED:
            self._state = _RELEASED
            self._limiter._release_slot()

    def reconcile(self, usage: Usage) -> None:
        """Correct the charge to the actual ``usage``: refund or charge the difference.

        Unknown counts (None) keep the estimate. ``total_tokens`` drives the combined tokens
        dimension when given, else input + output. A refund returns capacity at once (only
        while the admission is still in the window); an extra charge is logged now. May be
        called more than once (e.g. as a stream's cumulative usage grows), also after release.
        """
        if self._state not in (_ADMITTED, _RELEASED):
            raise RuntimeError("reconcile() on a lease that was never admitted")
        inp = usage.input_tokens if usage.input_tokens is not None else self._charged[_IN]
        out = usage.output_tokens if usage.output_tokens is not None else self._charged[_OUT]
        tok = usage.total_tokens if usage.total_tokens is not None else inp + out
        self._limiter._reconcile(self, (0, tok, inp, out))


class RateLimiter:
    """Admission control for one key: sliding-log rate limits, a concurrency cap, FIFO waiters.

    ``provider`` and ``model`` only label the errors it raises.
    """

    def __init__(
        self, limits: RateLimits | None = None, *, provider: str = "", model: str = ""
    ) -> None:
        self._limits_cfg = cfg = limits if limits is not None else RateLimits()
        self.provider = provider
        self.model = model
        self._limits = cfg.vector
        self._logging = any(lim != _INF for lim in self._limits)
        self._concurrency = _limit("concurrency", cfg.concurrency)
        self._used = [0, 0, 0, 0]
        self._log: list[_Entry] = []
        self._log_start = 0
        self._budget_left: list[float] = [_INF] * 4
        self._budget_until: list[float] = [-_INF] * 4
        self._budget_expiry = -_INF  # latest budget expiry: none in force after it
        self._paused_until = -_INF
        self._queue: deque[_Waiter] = deque()
        self._waiting = 0
        self._in_flight = 0
        self._tail: _Projection | None = None
        self._admitted = self._rejected = self._cancelled = 0

    @property
    def limits(self) -> RateLimits:
        return self._limits_cfg

    def acquire(
        self, input_tokens: int = 0, output_tokens: int = 0, *, deadline: float | None = None
    ) -> Lease:
        """A lease for one request of the estimated size; use it as ``async with``.

        ``deadline`` is a trio time: when the projected admission is later, entering raises
        :class:`~hafs_actors.errors.RateLimitWaitExceeded` at once; when the wait reaches it
        (e.g. every concurrency slot stayed busy), entering raises it then. A request larger
        than a limit raises :class:`RequestTooLargeError`.
        """
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} estimate must be a non-negative integer, got {value!r}")
        if deadline is None:
            deadline = _INF
        elif math.isnan(deadline):
            raise ValueError("deadline must be a trio time or None, got nan")
        return Lease(self, (1, input_tokens + output_tokens, input_tokens, output_tokens), deadline)

    def charge(self, input_tokens: int = 0, output_tokens: int = 0) -> Lease:
        """Count one request admitted elsewhere, at once, without a concurrency slot.

        The shared backend mirrors its admissions here, so a process that falls back to this
        limiter already counts what it spent while the shared store answered. The returned
        lease is released; :meth:`Lease.reconcile` corrects it like any other.
        """
        lease = self.acquire(input_tokens, output_tokens)
        now = trio.current_time()
        self._expire(now)
        self._take(lease, now)
        lease.release()
        self._reproject(now)
        return lease

    # --- server corrections ------------------------------------------------------------------

    def apply_rate_limit_info(
        self, info: RateLimitInfo, now: float, *, rate_limited: bool = False
    ) -> None:
        """Apply a response's rate-limit headers, received at trio time ``now``.

        * ``retry_after`` pauses the whole limiter until ``now + retry_after``. With
          ``rate_limited`` (the response was a 429) and no ``retry_after``, the pause lasts
          until the latest reset of an exhausted dimension (remaining 0), else the latest reset
          announced, else ``rate_limited_pause``.
        * ``*_remaining`` with ``*_reset`` becomes a server budget: until the reset, at most
          ``remaining`` more of that dimension is admitted (newest headers win; a missing reset
          counts as one period). Budgets apply even to dimensions without a local limit.

        ``*_limit`` headers are not used to reconfigure the limiter. Negative values (some
        gateways send -1) are treated as absent.
        """
        triples = (
            (info.requests_remaining, info.requests_reset),
            (info.tokens_remaining, info.tokens_reset),
            (info.input_tokens_remaining, info.input_tokens_reset),
            (info.output_tokens_remaining, info.output_tokens_reset),
        )
        changed = False
        for d, (remaining, reset) in enumerate(triples):
            if remaining is None or remaining < 0:
                continue
            horizon = reset if reset is not None and reset >= 0 else self._limits_cfg.period
            self._budget_left[d] = remaining
            self._budget_until[d] = now + horizon
            changed = True
        self._budget_expiry = max(self._budget_until)
        pause = info.retry_after
        if pause is None and rate_limited:
            exhausted = [r for rem, r in triples if rem == 0 and r is not None and r > 0]
            resets = [r for _, r in triples if r is not None and r > 0]
            if exhausted:
                pause = max(exhausted)
            elif resets:
                pause = max(resets)
            else:
                pause = self._limits_cfg.rate_limited_pause
        if pause is not None and pause > 0 and now + pause > self._paused_until:
            self._paused_until = now + pause
            changed = True
        if changed:
            self._reproject(trio.current_time())

    def pause_until(self, until: float) -> None:
        """Admit nothing before trio time ``until`` (never shortens an existing pause)."""
        if until > self._paused_until:
            self._paused_until = until
            self._reproject(trio.current_time())

    # --- reading -----------------------------------------------------------------------------

    def statistics(self) -> LimiterStatistics:
        """A snapshot at the current trio time."""
        now = trio.current_time()
        self._expire(now)
        avail: list[int | None] = []
        for d in range(4):
            value: float = self._limits[d] - self._used[d]
            if now < self._budget_until[d]:
                value = min(value, self._budget_left[d])
            avail.append(None if value == _INF else int(value))
        return LimiterStatistics(
            requests_available=avail[_REQ],
            tokens_available=avail[_TOK],
            input_tokens_available=avail[_IN],
            output_tokens_available=avail[_OUT],
            waiters=self._waiting,
            in_flight=self._in_flight,
            concurrency_limit=None if self._concurrency == _INF else int(self._concurrency),
            paused_until=self._paused_until if self._paused_until > now else None,
            admitted=self._admitted,
            rejected=self._rejected,
            cancelled=self._cancelled,
        )

    # --- internals ---------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        log = self._log
        start = self._log_start
        end = len(log)
        if start < end and log[start].t + self._limits_cfg.period <= now:
            period = self._limits_cfg.period
            used = self._used
            while start < end and log[start].t + period <= now:
                entry = log[start]
                entry.live = False
                a = entry.amounts
                used[0] -= a[0]
                used[1] -= a[1]
                used[2] -= a[2]
                used[3] -= a[3]
                start += 1
            if start > 64 and start * 2 > end and self._tail is None:
                del log[:start]
                start = 0
            self._log_start = start

    def _fits(self, need: tuple[int, int, int, int], now: float) -> bool:
        used = self._used
        limits = self._limits
        if (
            used[0] + need[0] > limits[0]
            or used[1] + need[1] > limits[1]
            or used[2] + need[2] > limits[2]
            or used[3] + need[3] > limits[3]
        ):
            return False
        if now < self._budget_expiry:
            left = self._budget_left
            until = self._budget_until
            for d in range(4):
                if now < until[d] and need[d] > left[d]:
                    return False
        return True

    def _too_large(self, lease: Lease) -> None:
        need = lease._need
        for d in range(4):
            if need[d] > self._limits[d]:
                self._rejected += 1
                lease._state = _FAILED
                raise RequestTooLargeError(
                    f"request needs {need[d]} {DIMENSIONS[d]} but the limit is "
                    f"{int(self._limits[d])} per {self._limits_cfg.period:g}s: it can never fit",
                    provider=self.provider,
                    model=self.model,
                )

    async def _admit(self, lease: Lease) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._too_large(lease)
        now = trio.current_time()
        if not self._waiting and now >= self._paused_until and self._in_flight < self._concurrency:
            self._expire(now)
            if self._fits(lease._need, now):
                self._take(lease, now)
                return
        if lease._deadline != _INF:
            projected = max(now, self._project_tail().admit(lease._need))
            if projected >= lease._deadline:
                self._tail = None
                self._rejected += 1
                lease._state = _FAILED
                raise self._wait_exceeded(projected - now, lease._deadline - now)
        elif self._tail is not None:
            self._tail.admit(lease._need)
        waiter = _Waiter(lease)
        lease._state = _WAITING
        self._queue.append(waiter)
        self._waiting += 1
        try:
            await self._wait(waiter)
        except BaseException as exc:
            if not waiter.gone:
                self._leave(waiter)
            if isinstance(exc, RateLimitWaitExceeded):
                self._rejected += 1
            else:
                self._cancelled += 1
            lease._state = _FAILED
            raise

    async def _wait(self, waiter: _Waiter) -> None:
        """Wait at the queue until admitted; raise at the deadline or when news refuses us.

        The head does not refuse itself when its own projection passes the deadline (e.g. after
        a slot freed later than the arrival projection assumed): refusals happen only on
        arrival, on news (:meth:`_reproject`) or when the deadline is reached, as documented.
        """
        lease = waiter.lease
        deadline = lease._deadline
        at = _INF
        with trio.move_on_at(deadline):
            while True:
                wake = waiter.wake = trio.Event()
                if waiter.error is not None:
                    raise waiter.error
                if self._head() is waiter and self._in_flight < self._concurrency:
                    now = trio.current_time()
                    if now >= deadline:
                        break
                    self._expire(now)
                    at = _Projection(self, now).admit(lease._need)
                    if at <= now:
                        self._queue.popleft()
                        self._waiting -= 1
                        waiter.gone = True
                        self._take(lease, now)
                        self._wake_head()
                        return
                    # past the deadline: the enclosing scope ends the wait at the deadline
                    with trio.move_on_at(at):
                        await wake.wait()
                else:
                    at = _INF
                    await wake.wait()
        raise self._wait_exceeded(at - trio.current_time(), 0.0, at_deadline=True)

    def _wait_exceeded(
        self, wait: float, budget: float, *, at_deadline: bool = False
    ) -> RateLimitWaitExceeded:
        """The refusal; ``wait`` is the projected wait from now (inf: unknown or never)."""
        if at_deadline:
            message = "deadline reached while waiting for the rate limiter"
        elif wait == _INF:
            message = "the rate limiter cannot admit this request before its deadline"
        else:
            message = (
                f"rate limiter would admit this request in {wait:.3f}s, "
                f"after its deadline ({max(budget, 0.0):.3f}s left)"
            )
        return RateLimitWaitExceeded(
            message,
            provider=self.provider,
            model=self.model,
            retry_after=None if wait == _INF else wait,
        )

    def _take(self, lease: Lease, now: float) -> None:
        need = lease._need
        if self._logging or now < self._budget_expiry:
            entry = _Entry(now, list(need))
            self._log.append(entry)
            lease._entries.append(entry)
            used = self._used
            used[0] += need[0]
            used[1] += need[1]
            used[2] += need[2]
            used[3] += need[3]
            if now < self._budget_expiry:
                for d in range(4):
                    if now < self._budget_until[d]:
                        self._budget_left[d] -= need[d]
        self._in_flight += 1
        self._admitted += 1
        self._tail = None
        lease._state = _ADMITTED
        lease.admitted_at = now

    def _release_slot(self) -> None:
        self._in_flight -= 1
        if self._waiting and self._in_flight + 1 == self._concurrency:
            self._wake_head()

    def _reconcile(self, lease: Lease, actual: tuple[int, int, int, int]) -> None:
        now = trio.current_time()
        self._expire(now)
        charged = lease._charged
        extra = [0, 0, 0, 0]
        refunded = False
        for d in (_TOK, _IN, _OUT):
            delta = actual[d] - charged[d]
            charged[d] = actual[d]
            if delta > 0:
                extra[d] = delta
            elif delta < 0:
                refund = -delta
                for entry in reversed(lease._entries):
                    if not entry.live or refund == 0:
                        continue
                    take = min(refund, entry.amounts[d])
                    entry.amounts[d] -= take
                    self._used[d] -= take
                    refund -= take
                    refunded = True
        if any(extra) and (self._logging or now < self._budget_expiry):
            entry = _Entry(now, extra)
            self._log.append(entry)
            lease._entries.append(entry)
            for d in range(4):
                self._used[d] += extra[d]
                if now < self._budget_until[d]:
                    self._budget_left[d] -= extra[d]
            self._reproject(now)
        elif refunded:
            self._tail = None
            self._wake_head()

    def _head(self) -> _Waiter | None:
        queue = self._queue
        while queue and queue[0].gone:
            queue.popleft()
        return queue[0] if queue else None

    def _wake_head(self) -> None:
        head = self._head()
        if head is not None:
            head.wake.set()

    def _leave(self, waiter: _Waiter) -> None:
        waiter.gone = True
        self._waiting -= 1
        self._tail = None
        was_head = bool(self._queue) and self._queue[0] is waiter
        if was_head:
            self._wake_head()

    def _project_tail(self) -> _Projection:
        """The projection of the whole current queue (cached until something changes)."""
        if self._tail is None:
            now = trio.current_time()
            self._expire(now)
            tail = _Projection(self, now)
            for waiter in self._queue:
                if not waiter.gone:
                    tail.admit(waiter.lease._need)
            self._tail = tail
        return self._tail

    def _reproject(self, now: float) -> None:
        """After news that can delay admissions: fail waiters that can no longer make it."""
        self._expire(now)
        self._tail = None
        if not self._waiting:
            return
        tail = _Projection(self, now)
        for waiter in list(self._queue):
            if waiter.gone:
                continue
            lease = waiter.lease
            if lease._deadline == _INF:
                tail.admit(lease._need)
                continue
            saved = tail.snapshot()
            at = tail.admit(lease._need)
            if at >= lease._deadline:
                tail.restore(saved)
                waiter.error = self._wait_exceeded(at - now, lease._deadline - now)
                self._leave(waiter)
                waiter.wake.set()
        self._tail = tail
        self._wake_head()
