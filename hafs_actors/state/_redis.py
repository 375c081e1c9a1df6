"""The Redis backend: limiter and breaker state shared by every process that uses one Redis.

Every Redis call runs under ``call_timeout`` (coredis's own retries off) and behind a local
circuit breaker on Redis itself: the first failure opens it, and while it is open every limiter
admits from its local ``1/share`` fallback and every breaker decides alone. A half-open probe
(the next real call, after ``reconnect_after`` doubling to ``reconnect_max``) closes it again;
then each limiter charges Redis with what it admitted locally, so sharing resumes exact.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import coredis
import trio
from coredis.exceptions import NoScriptError
from coredis.retry import NoRetryPolicy

from ..resilience import (
    BreakerConfig,
    BreakerEvent,
    BreakerStatistics,
    CircuitBreaker,
    CircuitState,
    RateLimits,
)
from ._backend import BackendUnavailable
from ._breaker import SharedCircuitBreaker
from ._limiter import SharedRateLimiter
from ._scripts import PING, Script
from ._settings import StateSettings

__all__ = ["BackendStatistics", "RedisBackend"]

log = logging.getLogger("hafs_actors.state")

#: fire-and-forget writes waiting for the writer task; more than this are dropped (and logged)
_OUTBOX = 4096


@attrs.frozen
class BackendStatistics:
    redis: BreakerStatistics
    available: bool
    dropped_writes: int


class RedisBackend:
    """Shared limiters and breakers on one Redis (or Redis Cluster: keys are hash-tagged)."""

    def __init__(
        self,
        settings: StateSettings,
        *,
        rng: random.Random | None = None,
        client: Any = None,
    ) -> None:
        if settings.redis_url is None:
            raise ValueError("RedisBackend needs settings.redis_url")
        self.settings = settings
        self.node_id = settings.node_id or (
            f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        )
        self._client: Any = client
        self._health = CircuitBreaker(
            BreakerConfig(
                consecutive_failures=1,
                minimum_calls=1,
                window_size=1,
                slow_call_duration=None,
                open_duration=settings.reconnect_after,
                max_open_duration=max(settings.reconnect_max, settings.reconnect_after),
            ),
            rng=rng,
            observer=self._health_event,
        )
        self._send, self._receive = trio.open_memory_channel[Callable[[], Awaitable[None]]](_OUTBOX)
        self._limiters: list[SharedRateLimiter] = []
        self._breakers: list[SharedCircuitBreaker] = []
        self._dropped = 0
        self._warned = False

    # --- what the provider cell asks for -------------------------------------------------------

    def limiter(self, provider: str, model: str, limits: RateLimits) -> SharedRateLimiter:
        limiter = SharedRateLimiter(self, provider, model, limits)
        self._limiters.append(limiter)
        return limiter

    def breaker(
        self,
        provider: str,
        config: BreakerConfig,
        *,
        rng: random.Random | None = None,
        observer: Callable[[BreakerEvent], None] | None = None,
    ) -> SharedCircuitBreaker:
        breaker = SharedCircuitBreaker(self, provider, config, rng=rng, observer=observer)
        self._breakers.append(breaker)
        return breaker

    def key(self, provider: str, model: str, name: str) -> str:
        """``{prefix:provider:model}:name``: one hash tag per key, for Redis Cluster."""
        tag = ":".join(x for x in (self.settings.key_prefix, provider, model) if x)
        return f"{{{tag}}}:{name}"

    # --- health --------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether Redis is thought to answer: state is shared (else: local fallback)."""
        return self._health.retry_after(trio.current_time()) == 0.0

    def statistics(self) -> BackendStatistics:
        now = trio.current_time()
        return BackendStatistics(self._health.statistics(now), self.available, self._dropped)

    def _health_event(self, event: BreakerEvent) -> None:
        if event.state is CircuitState.OPEN and event.previous is CircuitState.CLOSED:
            log.warning(
                "redis %s unavailable: limiting locally with a 1/%d share",
                self.settings.redis_url,
                self.settings.share,
            )
        elif event.state is CircuitState.CLOSED:
            log.warning("redis %s answers again: state shared", self.settings.redis_url)
            for limiter in self._limiters:
                limiter.resync()

    # --- calls ---------------------------------------------------------------------------------

    async def call(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` under the call deadline; :class:`BackendUnavailable` on any failure."""
        permit = self._health.try_acquire(trio.current_time())
        if permit is None or self._client is None:
            if permit is not None:
                self._health.on_ignored(permit)
            raise BackendUnavailable("redis is unavailable")
        start = trio.current_time()
        try:
            with trio.fail_after(self.settings.call_timeout):
                result = await self._eval(script, keys, args)
        except trio.Cancelled:
            self._health.on_cancel(permit)
            raise
        except Exception as exc:
            self._health.on_failure(permit, trio.current_time(), 0.0, exc)
            raise BackendUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        self._health.on_success(permit, trio.current_time(), trio.current_time() - start)
        return result

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._client
        try:
            return await client.evalsha(script.sha, list(keys), list(args))
        except NoScriptError:  # a restarted or new server: send the source once
            return await client.eval(script.source, list(keys), list(args))

    def post(self, write: Callable[[], Awaitable[None]]) -> None:
        """Queue a write that nobody waits for (reconcile, headers, breaker news)."""
        try:
            self._send.send_nowait(write)
        except trio.WouldBlock:
            self._dropped += 1

    # --- background ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, then run the writer and the breaker poller until cancelled."""
        url = self.settings.redis_url
        assert url is not None
        client = self._client
        if client is None:
            client = coredis.Redis.from_url(
                url,
                retry_policy=NoRetryPolicy(),
                decode_responses=True,
                stream_timeout=self.settings.call_timeout * 4,
                connect_timeout=self.settings.call_timeout * 4,
            )
        async with client:
            self._client = client
            if not await self._ping():
                log.warning(
                    "redis %s unreachable at start: limiting locally with a 1/%d share until "
                    "it answers",
                    url,
                    self.settings.share,
                )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                nursery.start_soon(self._poller)
                task_status.started()

    async def _ping(self) -> bool:
        permit = self._health.try_acquire(trio.current_time())
        assert permit is not None
        try:
            with trio.fail_after(self.settings.call_timeout):
                await self._client.ping()
        except Exception as exc:
            # the start-up warning replaces the per-outage one
            observer, self._health.observer = self._health.observer, None
            self._health.on_failure(permit, trio.current_time(), 0.0, exc)
            self._health.observer = observer
            return False
        self._health.on_success(permit, trio.current_time(), 0.0)
        return True

    async def _writer(self) -> None:
        async for write in self._receive:
            # a lost correction: Redis was down; the resync covers admissions
            with contextlib.suppress(BackendUnavailable):
                await write()

    async def _poller(self) -> None:
        while True:
            await trio.sleep(self.settings.breaker_poll)
            if not self.available:
                continue
            if self._health.state is not CircuitState.CLOSED and not self._breakers:
                with contextlib.suppress(BackendUnavailable):  # the probe that reconnects
                    await self.call(PING, [self.key("", "", "ping")], [])
                continue
            for breaker in self._breakers:
                try:
                    await breaker.sync()
                except BackendUnavailable:
                    break
