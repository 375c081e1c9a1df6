"""Admission: the breaker permit and the limiter lease around one attempt, as one context manager.

Every exit path settles both exactly once: success, failure, timeout, a reader who left, and a
caller's cancellation (which is not the provider's fault).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..errors import (
    HafsError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    StreamAbandoned,
)
from ..types import RateLimitInfo, Usage

if TYPE_CHECKING:
    from ._cell import ProviderCell


class Admission:
    """Breaker permit + limiter lease for one attempt, settled exactly once on every path."""

    __slots__ = ("_cell", "_info", "_latency", "_lease", "_permit", "_start", "_usage", "ok")

    def __init__(self, cell: ProviderCell, permit: Any, lease: Any, start: float) -> None:
        self._cell = cell
        self._permit = permit
        self._lease = lease
        self._start = start
        self.ok = False
        self._usage: Usage | None = None
        self._info: RateLimitInfo | None = None
        self._latency: float | None = None

    def succeeded(
        self, usage: Usage | None, info: RateLimitInfo | None, *, latency: float | None
    ) -> None:
        self.ok = True
        self._usage = usage
        self._info = info
        self._latency = latency


class AdmissionContext:
    __slots__ = ("_adm", "_cell", "_estimate", "_lease_cm", "_model", "deadline")

    def __init__(
        self, cell: ProviderCell, model: str, deadline: float, estimate: tuple[int, int]
    ) -> None:
        self._cell = cell
        self._model = model
        #: the attempt deadline; a committed stream lifts it
        self.deadline = deadline
        self._estimate = estimate
        self._adm: Admission | None = None
        self._lease_cm: Any = None

    async def __aenter__(self) -> Admission:
        cell = self._cell
        now = trio.current_time()
        permit = cell.breaker.acquire(now, provider=cell.name, model=self._model)
        try:
            limiter = cell.limiter_for(self._model)
            self._lease_cm = limiter.acquire(
                self._estimate[0], self._estimate[1], deadline=self.deadline
            )
            lease = await self._lease_cm.__aenter__()
        except BaseException as exc:
            cell.breaker.on_failure(permit, trio.current_time(), 0.0, exc)
            raise
        if cell.observers:
            cell.observers.limiter_waited(cell.name, self._model, trio.current_time() - now)
        self._adm = Admission(cell, permit, lease, now)
        cell.requests += 1
        return self._adm

    async def __aexit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        cell = self._cell
        adm = self._adm
        assert adm is not None
        now = trio.current_time()
        elapsed = now - adm._start
        outcome = exc
        if isinstance(exc, trio.Cancelled) and now >= self.deadline:
            # The attempt deadline (the spawned task's scope) fired: a timeout, which counts
            # against the breaker, unlike a caller's cancellation.
            outcome = ProviderTimeoutError(
                f"attempt timed out after {elapsed:.3g}s",
                phase="attempt",
                provider=cell.name,
                model=self._model,
            )
        exc = outcome
        try:
            if exc is None and adm.ok:
                cell.breaker.on_success(
                    adm._permit, now, adm._latency if adm._latency is not None else elapsed
                )
                cell.record_success(self._model, adm._usage)
                cell.latency.record(elapsed, adm._latency)
                if adm._usage is not None:
                    adm._lease.reconcile(adm._usage)
                if adm._info is not None and not adm._info.empty:
                    cell.limiter_for(self._model).apply_rate_limit_info(adm._info, now)
            elif isinstance(exc, StreamAbandoned):
                cell.breaker.on_cancel(adm._permit)  # the reader left: not a provider failure
            elif exc is not None:
                cell.breaker.on_failure(adm._permit, now, elapsed, exc)
                if isinstance(exc, ProviderError):
                    cell.pause_if_announced(self._model, exc, now)
                if isinstance(exc, HafsError):
                    cell.record_failure(exc)
                if isinstance(exc, RateLimitError):
                    info = exc.rate_limit or RateLimitInfo()
                    if info.retry_after is None and exc.retry_after is not None:
                        info = attrs.evolve(info, retry_after=exc.retry_after)  # body's delay
                    limiter = cell.limiter_for(self._model)
                    limiter.apply_rate_limit_info(info, now, rate_limited=True)
            else:
                cell.breaker.on_cancel(adm._permit)
        finally:
            await self._lease_cm.__aexit__(etype, exc, tb)
        return False
