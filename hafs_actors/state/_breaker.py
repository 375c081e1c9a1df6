"""The shared circuit breaker: one process trips it, every process sees it open.

Each process runs the ordinary :class:`~hafs_actors.resilience.CircuitBreaker` on its own calls
and publishes its own trips and closes to Redis (``open`` with the open period as TTL; ``closed``
after a successful probe). A poller adopts the others' decisions every ``breaker_poll`` seconds.
When the shared open period ends, exactly one process wins the probe lease (``SET NX`` with a
TTL, renewed while it waits for traffic) and goes HALF_OPEN; the others stay OPEN until its probe
decides. While Redis does not answer, every process decides alone, as the local breaker does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from ..resilience import BreakerConfig, BreakerEvent, CircuitBreaker, CircuitState
from ..resilience.breaker import TransitionReason
from ._scripts import BREAKER_PUBLISH, BREAKER_SYNC

if TYPE_CHECKING:
    from ._redis import RedisBackend

__all__ = ["SharedCircuitBreaker"]

_LOCAL_ONLY = (CircuitState.FORCED_OPEN, CircuitState.FORCED_CLOSED)


class SharedCircuitBreaker(CircuitBreaker):
    """A :class:`CircuitBreaker` whose trips, closes and half-open probe are shared."""

    def __init__(
        self,
        backend: RedisBackend,
        provider: str,
        config: BreakerConfig | None = None,
        *,
        rng: random.Random | None = None,
        observer: Callable[[BreakerEvent], None] | None = None,
    ) -> None:
        super().__init__(config, rng=rng, observer=observer)
        self._backend = backend
        self._keys = [backend.key(provider, "", "breaker"), backend.key(provider, "", "probe")]
        #: this process holds the probe lease
        self._lease = False
        #: own news not yet on Redis: the remote state is older than ours
        self._unpublished = 0

    def _lazy_half_open(self, now: float) -> bool:
        if self._state is CircuitState.OPEN and not self._lease and self._backend.available:
            return False  # another process may be probing: wait for the lease (see sync)
        return super()._lazy_half_open(now)

    def _emit(
        self, previous: CircuitState, state: CircuitState, now: float, reason: TransitionReason
    ) -> None:
        super()._emit(previous, state, now, reason)
        if reason is TransitionReason.SHARED or state is CircuitState.HALF_OPEN:
            return
        if state is CircuitState.OPEN:
            assert self._open_until is not None
            ms = max(1, math.ceil((self._open_until - now) * 1000))
            self._publish(["open", ms, repr(self._next_open), self._backend.node_id])
        elif state is CircuitState.CLOSED:
            self._publish(["closed", 0, "", self._backend.node_id])
        self._lease = False

    def _publish(self, args: list[object]) -> None:
        self._unpublished += 1

        async def write() -> None:
            try:
                await self._backend.call(BREAKER_PUBLISH, self._keys, args)
            finally:
                self._unpublished -= 1

        self._backend.post(write)

    async def sync(self) -> None:
        """Adopt the other processes' decisions; take or renew the probe lease when due."""
        state = self._state
        if state in _LOCAL_ONLY:
            return
        now = trio.current_time()
        if state is CircuitState.OPEN and not self._lease:
            assert self._open_until is not None
            want = 1 if now + self._backend.settings.breaker_poll >= self._open_until else 0
        else:
            want = 2 if self._lease else 0
        lease_ms = math.ceil(self._backend.settings.probe_lease * 1000)
        value, pttl, held, lease_pttl = await self._backend.call(
            BREAKER_SYNC, self._keys, [want, self._backend.node_id, lease_ms]
        )
        if self._unpublished or self._state is not state:
            return  # our own news is newer than what we read
        now = trio.current_time()
        if value.startswith("open:") and pttl > 0:
            self._adopt_open(now, now + pttl / 1000, float(value[5:]))
        elif value == "closed":
            if state is CircuitState.OPEN or (state is CircuitState.HALF_OPEN and not self._lease):
                self._consecutive_trips = 0
                self._next_open = self.config.open_duration
                self._transition(CircuitState.CLOSED, now, TransitionReason.SHARED, None)
        elif want == 1:
            assert self._open_until is not None
            if held:
                self._lease = True
                self._open_until = min(self._open_until, now)
            else:  # someone else probes: stay open until its lease runs out at the latest
                self._open_until = max(self._open_until, now + max(lease_pttl, 0) / 1000)
        elif want == 2 and not held:
            self._lease = False

    def _adopt_open(self, now: float, until: float, next_open: float) -> None:
        self._next_open = max(self._next_open, next_open)
        if self._state is CircuitState.OPEN:
            assert self._open_until is not None
            if until > self._open_until and not self._lease:
                self._open_until = until
            return
        self._lease = False
        self._trips += 1
        self._current_open = until - now
        self._transition(CircuitState.OPEN, now, TransitionReason.SHARED, until)
