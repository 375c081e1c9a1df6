"""Provider actors and their containment cells.

A :class:`ProviderActor` is one incarnation: it owns a fresh adapter (and so a fresh httpx
client), takes attempts from its bounded mailbox and runs each in a task of its own nursery after
the circuit breaker and the rate limiter admit it. An unexpected exception (a bug in an adapter, a
broken client) crashes the incarnation; every attempt it held fails at once with
:class:`~hafs_actors.errors.ActorCrashed` and its supervisor starts a new one.

A :class:`ProviderCell` is the long-lived part: the stable :class:`ActorRef`, the breaker and
limiters (whose state must survive restarts), counters, and the containment policy: when the
provider's own supervisor gives up (restart intensity exceeded), the cell marks the provider
*down* and probes its health until it recovers, so a broken provider never takes the
orchestrator down.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

import supervisors

from .actors import Actor, ActorRef, Envelope, Overflow, actor_child_spec
from .adapters.base import ProviderAdapter
from .adapters.http import HttpAdapter
from .capabilities import CapabilityTable, estimate_tokens, usage_cost
from .errors import (
    HafsError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    StreamAbandoned,
    StreamInterruptedError,
    UnsupportedError,
)
from .resilience import (
    BreakerConfig,
    BreakerEvent,
    BreakerStatistics,
    CircuitBreaker,
    LimiterStatistics,
    RateLimiter,
    RateLimits,
)
from .streaming import StreamSink
from .transport import TransportStatistics, transport_statistics
from .types import (
    EmbeddingResult,
    EmbedRequest,
    FinishEvent,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    RateLimitInfo,
    StreamStart,
    TextDelta,
    ThoughtDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
)

__all__ = [
    "EmbedCall",
    "GenerateCall",
    "HealthCall",
    "ProviderActor",
    "ProviderCell",
    "ProviderCellConfig",
    "ProviderStatistics",
    "StreamCall",
]

log = logging.getLogger("hafs_actors.provider")

#: Providers that meter rate limits per model (design section 7); others per provider.
PER_MODEL_LIMITS = frozenset({"openai", "gemini"})


# --- messages ---------------------------------------------------------------------------------


@attrs.frozen
class GenerateCall:
    request: GenerateRequest
    deadline: float  # trio time by which this attempt must be over


@attrs.frozen
class StreamCall:
    request: GenerateRequest
    deadline: float
    sink: StreamSink = attrs.field(eq=False)
    ttft_timeout: float | None = None
    idle_timeout: float | None = None


@attrs.frozen
class EmbedCall:
    request: EmbedRequest
    deadline: float


@attrs.frozen
class HealthCall:
    timeout: float = 10.0


ProviderMessage = GenerateCall | StreamCall | EmbedCall | HealthCall


# --- configuration and statistics ---------------------------------------------------------------


@attrs.frozen
class ProviderCellConfig:
    """Everything a cell needs besides its adapter factory."""

    name: str
    kind: str = ""  # the built-in adapter family ("openai", ...), for per-model limit keys
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
    #: model metadata with prices (per million tokens), for the cost of each result
    capabilities: CapabilityTable | None = attrs.field(default=None, eq=False)


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


# --- the actor ----------------------------------------------------------------------------------


class ProviderActor(Actor[ProviderMessage, Any]):
    """One incarnation of a provider: a fresh adapter, the cell's breaker and limiters."""

    def __init__(self, cell: ProviderCell) -> None:
        super().__init__()
        self.cell = cell
        self.adapter: ProviderAdapter = cell.adapter_factory()
        self._slots = trio.CapacityLimiter(cell.config.max_in_flight)

    async def on_start(self) -> None:
        await self.adapter.initialize()
        self.cell.adapter = self.adapter

    async def on_stop(self) -> None:
        if self.cell.adapter is self.adapter:
            self.cell.adapter = None
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self.adapter.aclose()

    async def receive(self, envelope: Envelope[ProviderMessage, Any]) -> None:
        msg = envelope.message
        handler: Callable[[Any], Awaitable[Any]]
        if isinstance(msg, GenerateCall):
            handler = self._generate
        elif isinstance(msg, StreamCall):
            handler = self._stream
        elif isinstance(msg, EmbedCall):
            handler = self._embed
        else:
            handler = self._health
        # At most max_in_flight attempts run; the rest wait in the bounded mailbox (backpressure),
        # where a crash or a stop fails them at once.
        try:
            # Fast path without a checkpoint: the receive loop already yielded for this message.
            self._slots.acquire_on_behalf_of_nowait(envelope)
        except trio.WouldBlock:
            await self._slots.acquire_on_behalf_of(envelope)
        try:
            self.nursery.start_soon(self._run_in_slot, envelope, handler, msg)
        except BaseException:
            self._slots.release_on_behalf_of(envelope)
            raise

    async def _run_in_slot(
        self,
        envelope: Envelope[ProviderMessage, Any],
        handler: Callable[[Any], Awaitable[Any]],
        msg: ProviderMessage,
    ) -> None:
        # The attempt deadline is the deadline of the spawned task's own scope: one scope per
        # attempt, and the caller gets a typed attempt timeout when it passes.
        deadline = math.inf if isinstance(msg, HealthCall) else msg.deadline
        try:
            await self._run_spawned(
                envelope, handler, (msg,), deadline, lambda: self._timed_out(msg)
            )
        finally:
            self._slots.release_on_behalf_of(envelope)

    def _timed_out(self, msg: ProviderMessage) -> ProviderTimeoutError:
        model = "" if isinstance(msg, HealthCall) else msg.request.model
        return ProviderTimeoutError(
            "attempt timed out", phase="attempt", provider=self.cell.name, model=model
        )

    # --- one attempt, the three shapes ----------------------------------------------------------

    async def _generate(self, call: GenerateCall) -> GenerateResult:
        cell = self.cell
        request = call.request
        async with cell.admit(request.model, call.deadline, request) as admission:
            result = await self.adapter.generate(request)
            admission.succeeded(result.usage, result.rate_limit, latency=None)
        cost = cell.cost_of(request.model, result.usage)
        return attrs.evolve(result, cost=cost) if cost is not None else result

    async def _embed(self, call: EmbedCall) -> EmbeddingResult:
        cell = self.cell
        request = call.request
        if not self.adapter.supports_embeddings:
            raise UnsupportedError(
                "this provider has no embeddings", provider=cell.name, model=request.model
            )
        async with cell.admit(request.model, call.deadline, None, texts=request.texts) as adm:
            result = await self.adapter.embed(request)
            adm.succeeded(result.usage, None, latency=None)
        return result

    async def _health(self, call: HealthCall) -> HealthStatus:
        with trio.move_on_after(call.timeout) as scope:
            return await self.adapter.health()
        assert scope.cancelled_caught
        return HealthStatus(ok=False, detail=f"health check timed out after {call.timeout:g}s")

    async def _stream(self, call: StreamCall) -> GenerateResult:
        cell = self.cell
        request = call.request
        if not self.adapter.supports_streaming:
            raise UnsupportedError(
                "this provider cannot stream", provider=cell.name, model=request.model
            )
        sink = call.sink
        start = trio.current_time()
        async with cell.admit(request.model, call.deadline, request) as admission:
            state = _StreamState()
            try:
                async with self.adapter.stream(request) as events:
                    await _pump(events, sink, state, call, start, cell.name)
            except ProviderError as exc:
                if state.first_token_at is not None and not isinstance(
                    exc, (StreamInterruptedError, StreamAbandoned)
                ):
                    raise StreamInterruptedError(
                        f"stream failed after output: {exc.message}",
                        partial_text=sink.text,
                        usage=state.usage,
                        cause=exc,
                        provider=exc.provider or cell.name,
                        model=exc.model or request.model,
                        status=exc.status,
                        request_id=exc.request_id or state.request_id,
                    ) from exc
                raise
            ttft = None if state.first_token_at is None else state.first_token_at - start
            admission.succeeded(state.usage, state.rate_limit, latency=ttft)
        await sink.flush()
        usage = state.usage or Usage()
        return GenerateResult(
            content=sink.text,
            provider=cell.name,
            model=state.model or request.model,
            finish_reason=state.finish,
            raw_finish_reason=state.raw_finish,
            usage=usage,
            thought_content="".join(state.thoughts) or None,
            tool_calls=tuple(state.tool_calls),
            latency=trio.current_time() - start,
            ttft=ttft,
            request_id=state.request_id,
            rate_limit=state.rate_limit,
            cost=cell.cost_of(request.model, usage),
        )


class _StreamState:
    __slots__ = (
        "finish",
        "first_token_at",
        "model",
        "rate_limit",
        "raw_finish",
        "request_id",
        "thoughts",
        "tool_calls",
        "usage",
    )

    def __init__(self) -> None:
        self.first_token_at: float | None = None
        self.usage: Usage | None = None
        self.finish = FinishReason.STOP
        self.raw_finish: str | None = None
        self.request_id: str | None = None
        self.model: str | None = None
        self.rate_limit: RateLimitInfo | None = None
        self.thoughts: list[str] = []
        self.tool_calls: list[ToolCall] = []


async def _pump(
    events: Any,
    sink: StreamSink,
    state: _StreamState,
    call: StreamCall,
    start: float,
    provider: str,
) -> None:
    """Forward adapter events to the sink, enforcing the TTFT and idle-gap timeouts.

    One cancel scope for the whole stream whose deadline moves with each event: a scope per
    event would cost more than parsing the event.
    """
    ttft = call.ttft_timeout if call.ttft_timeout is not None else math.inf
    idle = call.idle_timeout if call.idle_timeout is not None else math.inf
    with trio.CancelScope(deadline=start + ttft) as scope:
        async for event in events:
            if isinstance(event, (TextDelta, ThoughtDelta, ToolCallEvent)):
                if state.first_token_at is None:
                    state.first_token_at = trio.current_time()
                if isinstance(event, ThoughtDelta):
                    state.thoughts.append(event.text)
                elif isinstance(event, ToolCallEvent):
                    state.tool_calls.append(event.tool_call)
            elif isinstance(event, UsageEvent):
                state.usage = event.usage
            elif isinstance(event, FinishEvent):
                state.finish = event.finish_reason
                state.raw_finish = event.raw_finish_reason
            elif isinstance(event, StreamStart):
                state.request_id = event.request_id
                state.model = event.model
                state.rate_limit = event.rate_limit
            # Time blocked on a slow reader (backpressure) is not the provider going quiet.
            deadline, scope.deadline = scope.deadline, math.inf
            await sink.send(event)
            scope.deadline = (
                deadline if state.first_token_at is None else trio.current_time() + idle
            )
    if scope.cancelled_caught:
        waiting_first = state.first_token_at is None
        span = ttft if waiting_first else idle
        raise ProviderTimeoutError(
            f"no {'first token' if waiting_first else 'chunk'} within {span:g}s",
            phase="ttft" if waiting_first else "idle",
            provider=provider,
            model=call.request.model,
            retryable=True,
        )


# --- admission: breaker + limiter around one attempt ---------------------------------------------


class _Admission:
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


class _AdmissionContext:
    __slots__ = ("_adm", "_cell", "_deadline", "_estimate", "_lease_cm", "_model")

    def __init__(
        self, cell: ProviderCell, model: str, deadline: float, estimate: tuple[int, int]
    ) -> None:
        self._cell = cell
        self._model = model
        self._deadline = deadline
        self._estimate = estimate
        self._adm: _Admission | None = None
        self._lease_cm: Any = None

    async def __aenter__(self) -> _Admission:
        cell = self._cell
        now = trio.current_time()
        permit = cell.breaker.acquire(now, provider=cell.name, model=self._model)
        try:
            limiter = cell.limiter_for(self._model)
            self._lease_cm = limiter.acquire(
                self._estimate[0], self._estimate[1], deadline=self._deadline
            )
            lease = await self._lease_cm.__aenter__()
        except BaseException as exc:
            cell.breaker.on_failure(permit, trio.current_time(), 0.0, exc)
            raise
        self._adm = _Admission(cell, permit, lease, now)
        cell.requests += 1
        return self._adm

    async def __aexit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        cell = self._cell
        adm = self._adm
        assert adm is not None
        now = trio.current_time()
        elapsed = now - adm._start
        outcome = exc
        if isinstance(exc, trio.Cancelled) and now >= self._deadline:
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
                if adm._usage is not None:
                    adm._lease.reconcile(adm._usage)
                if adm._info is not None and not adm._info.empty:
                    cell.limiter_for(self._model).apply_rate_limit_info(adm._info, now)
            elif isinstance(exc, StreamAbandoned):
                cell.breaker.on_cancel(adm._permit)  # the reader left: not a provider failure
            elif exc is not None:
                cell.breaker.on_failure(adm._permit, now, elapsed, exc)
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


# --- the cell ----------------------------------------------------------------------------------


class ProviderCell:
    """The long-lived home of one provider: ref, breaker, limiters, counters, containment."""

    def __init__(
        self,
        config: ProviderCellConfig,
        adapter_factory: Callable[[], ProviderAdapter],
        *,
        on_breaker_event: Callable[[str, BreakerEvent], None] | None = None,
        on_supervisor_event: Callable[[str, object], None] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.adapter_factory = adapter_factory
        self.ref: ActorRef[ProviderMessage, Any] = ActorRef(
            config.name, capacity=config.mailbox_size, overflow=config.overflow
        )
        self._on_breaker_event = on_breaker_event
        self._on_supervisor_event = on_supervisor_event
        self.breaker = CircuitBreaker(config.breaker, observer=self._breaker_event)
        self._limiters: dict[str, RateLimiter] = {}
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

    # --- limits, usage, cost -------------------------------------------------------------------

    def limiter_for(self, model: str) -> RateLimiter:
        key = model if self.config.kind in PER_MODEL_LIMITS else ""
        limiter = self._limiters.get(key)
        if limiter is None:
            limits = self.config.model_limits.get(model, self.config.limits)
            limiter = self._limiters[key] = RateLimiter(limits)
        return limiter

    def cost_of(self, model: str, usage: Usage | None) -> float | None:
        """The cost of a call from its usage and the model's configured prices, if known."""
        table = self.config.capabilities
        if table is None or usage is None:
            return None
        return usage_cost(table.lookup(model), usage)

    def record_success(self, model: str, usage: Usage | None) -> None:
        self.successes += 1
        if usage is not None:
            self.input_tokens += usage.input_tokens or 0
            self.output_tokens += usage.output_tokens or 0
            self.cost += self.cost_of(model, usage) or 0.0

    def record_failure(self, exc: HafsError) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    def admit(
        self,
        model: str,
        deadline: float,
        request: GenerateRequest | None,
        *,
        texts: tuple[str, ...] = (),
    ) -> _AdmissionContext:
        if request is not None:
            est_in = (
                estimate_tokens(request.flattened_prompt())
                if request.prompt or request.messages
                else 0
            )
            est_out = request.max_tokens or 256
        else:
            est_in = sum(estimate_tokens(t) for t in texts)
            est_out = 0
        return _AdmissionContext(self, model, deadline, (est_in, est_out))

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
        )

    def _connections(self) -> TransportStatistics | None:
        adapter = self.adapter
        if not isinstance(adapter, HttpAdapter):
            return None
        return transport_statistics(adapter.client)

    # --- lifecycle and containment ---------------------------------------------------------------

    def child_spec(self) -> supervisors.ChildSpec:
        """The spec under the providers supervisor: the cell never crashes for provider faults."""
        return supervisors.ChildSpec(
            id=self.name, start=self.run, restart=supervisors.Restart.PERMANENT
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
