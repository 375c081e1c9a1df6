"""The provider cell: the long-lived home of one provider, and its containment policy.

The cell holds what must survive the actor's restarts (the stable :class:`ActorRef`, the breaker
and limiters, counters). When the provider's own supervisor gives up (restart intensity exceeded),
the cell marks the provider *down* and probes its health until it recovers, so a broken provider
never takes the orchestrator down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

import supervisors

from ..actors import ActorRef, Overflow, actor_child_spec
from ..adapters.base import ProviderAdapter
from ..adapters.http import HttpAdapter
from ..errors import HafsError, OverloadedError, ProviderError, RateLimitError, ServerError
from ..observability import ObserverDispatcher, ProviderLatency, ProviderLatencyHistograms
from ..resilience import (
    BreakerConfig,
    BreakerEvent,
    BreakerStatistics,
    LimiterStatistics,
    RateLimits,
    Seeds,
)
from ..state import Limiter, LocalBackend, StateBackend
from ..tokens import embed_batch_tokens, request_tokens
from ..transport import TransportStatistics
from ..types import EmbedRequest, GenerateRequest, Usage
from ._actor import ProviderActor
from ._admission import AdmissionContext
from ._messages import ProviderMessage

__all__ = ["ProviderCell", "ProviderCellConfig", "ProviderStatistics"]

log = logging.getLogger("hafs_actors.provider")

#: Providers that meter rate limits per model; others per provider.
PER_MODEL_LIMITS = frozenset({"openai", "gemini"})

#: the answers whose announced delay pauses the provider for everyone (429, 503, 529)
_PAUSING = (RateLimitError, OverloadedError, ServerError)


@attrs.frozen
class ProviderCellConfig:
    """Everything a cell needs besides its adapter factory."""

    name: str
    kind: str = ""  # the built-in adapter family ("openai", ...), for per-model limit keys
    #: the deployment's name when the provider has several (the cell is then "provider@name")
    deployment: str | None = None
    mailbox_size: int = 1024
    overflow: Overflow = Overflow.BLOCK
    max_in_flight: int = 512
    limits: RateLimits = attrs.field(factory=RateLimits)
    model_limits: dict[str, RateLimits] = attrs.field(factory=dict)
    breaker: BreakerConfig = attrs.field(factory=BreakerConfig)
    intensity: int = 3
    period: float = 30.0
    backoff_min: float = 0.1
    backoff_max: float = 5.0
    backoff_random_factor: float = 0.2
    health_probe_interval: float = 5.0
    health_probe_max_interval: float = 60.0
    health_check_timeout: float = 10.0
    #: the source of every jitter of this provider (breaker, restart backoff)
    seeds: Seeds = attrs.field(factory=Seeds, eq=False)
    #: the cost in USD of a call to a model with that usage, when prices are known
    pricing: Callable[[str, Usage], float | None] | None = attrs.field(default=None, eq=False)


@attrs.frozen
class ProviderStatistics:
    """A frozen snapshot of one provider: cheap enough to read on every request."""

    name: str
    down: bool
    ready: bool
    mailbox_depth: int
    mailbox_capacity: int
    in_flight: int
    restarts: int
    crashes: int
    breaker: BreakerStatistics
    limiters: dict[str, LimiterStatistics]
    requests: int
    successes: int
    failures: int
    input_tokens: int
    output_tokens: int
    cost: float
    last_error: str | None
    #: the live adapter's connection pool (None while not running, or on httpx's transport)
    connections: TransportStatistics | None = None
    #: latency histograms of successful attempts (end to end; first token of streams)
    latency: ProviderLatency | None = None


class ProviderCell:
    """The long-lived home of one provider: ref, breaker, limiters, counters, containment."""

    #: hook observers while any is registered (set by the orchestrator); None costs nothing
    observers: ObserverDispatcher | None = None

    def __init__(
        self,
        config: ProviderCellConfig,
        adapter_factory: Callable[[], ProviderAdapter],
        *,
        on_breaker_event: Callable[[str, BreakerEvent], None] | None = None,
        on_supervisor_event: Callable[[str, object], None] | None = None,
        state: StateBackend | None = None,
    ) -> None:
        self.config = config
        #: where the breaker and limiter state lives (in-process, or shared on Redis)
        self._state: StateBackend = state if state is not None else LocalBackend()
        self.name = config.name
        self.adapter_factory = adapter_factory
        self.ref: ActorRef[ProviderMessage, Any] = ActorRef(
            config.name, capacity=config.mailbox_size, overflow=config.overflow
        )
        self._on_breaker_event = on_breaker_event
        self._on_supervisor_event = on_supervisor_event
        self.breaker = self._state.breaker(
            config.name,
            config.breaker,
            observer=self._breaker_event,
            rng=config.seeds.rng("breaker", self.name),
        )
        self._limiters: dict[str, Limiter] = {}
        self.down = False
        self.ready = trio.Event()
        self.crashes = 0
        self.requests = 0
        self.successes = 0
        self.failures = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.last_error: str | None = None
        #: the running incarnation's adapter (None between incarnations and while down)
        self.adapter: ProviderAdapter | None = None
        self.latency = ProviderLatencyHistograms()
        #: server-announced pauses: the whole provider, and model buckets (per-model metering)
        self._paused_until = 0.0
        self._model_paused_until: dict[str, float] = {}

    # --- limits, usage, cost -------------------------------------------------------------------

    @property
    def deployment(self) -> str | None:
        return self.config.deployment

    @property
    def in_flight(self) -> int:
        """Attempts queued or running: what the router balances deployments on."""
        stats = self.ref.statistics()
        return stats.in_flight + stats.mailbox_depth

    def limiter_for(self, model: str) -> Limiter:
        key = model if self.config.kind in PER_MODEL_LIMITS else ""
        limiter = self._limiters.get(key)
        if limiter is None:
            limits = self.config.model_limits.get(model, self.config.limits)
            limiter = self._limiters[key] = self._state.limiter(self.name, key, limits)
        return limiter

    def cost_of(self, model: str, usage: Usage | None) -> float | None:
        """The cost of a call from its usage and the model's configured prices, if known."""
        pricing = self.config.pricing
        if pricing is None or usage is None:
            return None
        return pricing(model, usage)

    def record_success(self, model: str, usage: Usage | None) -> None:
        self.successes += 1
        if usage is not None:
            self.input_tokens += usage.input_tokens or 0
            self.output_tokens += usage.output_tokens or 0
            self.cost += self.cost_of(model, usage) or 0.0

    def pause_if_announced(self, model: str, error: ProviderError, now: float) -> None:
        """Pause the provider (or the model's bucket) for a server-announced delay.

        A 429, 503 or 529 with ``Retry-After`` (or a delay in the body) is the server saying
        "not now" to every caller, not only this one: every request then moves on at once, and
        the breaker stays open until the pause ends.
        """
        delay = error.retry_after
        if delay is None and isinstance(error, RateLimitError) and error.rate_limit is not None:
            delay = error.rate_limit.retry_after
        if delay is None or delay <= 0 or not isinstance(error, _PAUSING):
            return
        until = now + delay
        if isinstance(error, RateLimitError) and self.config.kind in PER_MODEL_LIMITS:
            self.limiter_for(model).pause_until(until)
            previous = self._model_paused_until.get(model, 0.0)
            self._model_paused_until[model] = max(previous, until)
        else:
            self._paused_until = max(self._paused_until, until)
            self.breaker.force_open_until(self._paused_until, now)

    def paused_for(self, model: str, now: float) -> float | None:
        """Seconds left of a server-announced pause that applies to ``model``, or None."""
        until = max(self._paused_until, self._model_paused_until.get(model, 0.0))
        return until - now if until > now else None

    def record_failure(self, exc: HafsError) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    def admit(
        self,
        model: str,
        deadline: float,
        request: GenerateRequest | EmbedRequest,
    ) -> AdmissionContext:
        if isinstance(request, GenerateRequest):
            est_in = request_tokens(request)
            est_out = request.max_tokens or 256
        else:
            est_in = embed_batch_tokens(request)
            est_out = 0
        return AdmissionContext(self, model, deadline, (est_in, est_out))

    def _breaker_event(self, event: BreakerEvent) -> None:
        log.info(
            "breaker provider=%s %s -> %s reason=%s",
            self.name,
            event.previous.value,
            event.state.value,
            event.reason.value,
        )
        if self._on_breaker_event is not None:
            self._on_breaker_event(self.name, event)

    # --- statistics ------------------------------------------------------------------------------

    def statistics(self) -> ProviderStatistics:
        ref_stats = self.ref.statistics()
        now = trio.current_time()
        return ProviderStatistics(
            name=self.name,
            down=self.down,
            ready=self.ready.is_set() and not self.down,
            mailbox_depth=ref_stats.mailbox_depth,
            mailbox_capacity=ref_stats.mailbox_capacity,
            in_flight=ref_stats.in_flight,
            restarts=ref_stats.restarts,
            crashes=self.crashes,
            breaker=self.breaker.statistics(now),
            limiters={k or "*": v.statistics() for k, v in self._limiters.items()},
            requests=self.requests,
            successes=self.successes,
            failures=self.failures,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost=self.cost,
            last_error=self.last_error,
            connections=self._connections(),
            latency=self.latency.snapshot(),
        )

    def _connections(self) -> TransportStatistics | None:
        adapter = self.adapter
        if not isinstance(adapter, HttpAdapter):
            return None
        return adapter.transport_statistics()

    # --- lifecycle and containment ---------------------------------------------------------------

    def child_spec(self) -> supervisors.ChildSpec:
        """The spec under the providers supervisor: the cell never crashes for provider faults."""
        return supervisors.ChildSpec(
            id=self.name, start=self.run, restart=supervisors.Restart.PERMANENT, trap_exit=True
        )

    async def run(
        self, *, task_status: trio.TaskStatus[ProviderCell] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Supervise the actor; on give-up mark the provider down and probe until healthy.

        Returns when the providers supervisor asks this child to stop: the actor then stops
        gracefully (in-flight attempts may finish within its shutdown grace).
        """
        context = supervisors.current_child()
        stop_requested = context.wait_stop_requested if context is not None else trio.sleep_forever
        reported = False
        interval = self.config.health_probe_interval
        while True:
            try:
                async with supervisors.open_supervisor(
                    strategy=supervisors.Strategy.ONE_FOR_ONE,
                    intensity=self.config.intensity,
                    period=self.config.period,
                    backoff=supervisors.Backoff(
                        min=self.config.backoff_min,
                        max=self.config.backoff_max,
                        random_factor=self.config.backoff_random_factor,
                        rng=self.config.seeds.rng("supervisor", self.name),
                    ),
                    observer=self._supervisor_event,
                    name=f"provider:{self.name}",
                ) as sup:
                    await sup.start_child(
                        actor_child_spec(
                            f"{self.name}-actor",
                            lambda: ProviderActor(self),
                            self.ref,
                            restart=supervisors.Restart.PERMANENT,
                        )
                    )
                    self.down = False
                    self.ready.set()
                    if not reported:
                        task_status.started(self)
                        reported = True
                    interval = self.config.health_probe_interval
                    await stop_requested()
                return
            except (supervisors.RestartIntensityExceeded, Exception) as exc:
                self.down = True
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("provider=%s marked down: %s", self.name, self.last_error)
                if not reported:
                    task_status.started(self)
                    reported = True
            async with trio.open_nursery() as nursery:

                async def cancel_on_stop() -> None:
                    await stop_requested()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(cancel_on_stop)
                await self._probe_until_healthy(interval)
                nursery.cancel_scope.cancel()
            if context is not None and context.stop_requested:
                return
            interval = min(interval * 2, self.config.health_probe_max_interval)

    async def _probe_until_healthy(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            adapter = self.adapter_factory()
            ok = False
            try:
                with trio.move_on_after(self.config.health_check_timeout):
                    await adapter.initialize()
                    ok = (await adapter.health()).ok
            except Exception as exc:  # a probe failing is the expected case while down
                self.last_error = f"health probe: {type(exc).__name__}: {exc}"
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await adapter.aclose()
            if ok:
                log.info("provider=%s health probe ok: restarting", self.name)
                return
            interval = min(interval * 2, self.config.health_probe_max_interval)

    def _supervisor_event(self, event: object) -> None:
        if isinstance(event, supervisors.ChildExited) and event.error is not None:
            self.crashes += 1
        if self._on_supervisor_event is not None:
            self._on_supervisor_event(self.name, event)
