"""The router actor: decides each request's chain and drives it.

The decision is :func:`hafs_actors.routing.plan_route`, a pure function of the request and a
routing snapshot. The chain then runs in a task of the router's own nursery (the receive loop
never waits on a request): each attempt is a call to a provider actor; transient errors are
retried on the same candidate with full-jitter backoff, honouring the server's delay, within a
retry budget (the only retry layer); any other failure moves on to the next candidate. One
overall deadline covers everything; each attempt has its own timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
import trio

from ..actors import Actor, ActorRef, Envelope
from ..errors import (
    ActorStopped,
    AllProvidersFailed,
    CallTimeout,
    ContextLengthError,
    HafsError,
    MailboxFull,
    OrchestratorClosed,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from ..observability import ObserverDispatcher
from ..providers import (
    EmbedCall,
    GenerateCall,
    ProviderCell,
    RacingSink,
    StreamCall,
    StreamItem,
    StreamOutcome,
    StreamSink,
)
from ..resilience import CircuitState, RetryPolicy
from ..types import Attempt, EmbeddingResult, EmbedRequest, GenerateRequest, GenerateResult
from ._planner import (
    Candidate,
    PlanCache,
    ProviderState,
    RoutePlan,
    RouteRequest,
    RoutingSnapshot,
)
from .capabilities import estimate_cost
from .tiers import Route, RouteEntry

__all__ = [
    "RouteEmbed",
    "RouteGenerate",
    "RouteSpec",
    "RouteStream",
    "Router",
    "RouterActor",
    "RouterStatistics",
    "StreamTicket",
]

log = logging.getLogger("hafs_actors.routing")

R = TypeVar("R", GenerateResult, EmbeddingResult)

#: Extra time a provider call may take past its attempt deadline before the caller gives up on
#: the actor itself (the actor enforces the attempt deadline; this is only a backstop).
_CALL_MARGIN = 1.0


@attrs.frozen
class RouteSpec:
    """One request as the router receives it."""

    route: RouteRequest
    request: GenerateRequest | EmbedRequest
    deadline: float  # trio time covering every attempt
    attempt_timeout: float
    ttft_timeout: float | None = None
    idle_timeout: float | None = None
    #: once the first token reached the caller, the stream's only limits are the idle timeout
    #: and this (None: none), never the attempt timeout or the request deadline
    max_stream_duration: float | None = None
    #: extra body fields by provider: each candidate gets only its own provider's
    extra: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    #: start the next candidate too when the first has produced nothing after this long
    hedge_after: float | None = None
    #: the caller says a repeated request is harmless (needed to hedge a request with tools)
    idempotent: bool = False


@attrs.frozen
class RouteGenerate:
    spec: RouteSpec


@attrs.frozen
class RouteEmbed:
    spec: RouteSpec


@attrs.frozen
class RouteStream:
    spec: RouteSpec
    send: trio.MemorySendChannel[StreamItem] = attrs.field(eq=False)
    outcome: StreamOutcome = attrs.field(eq=False)


@attrs.frozen
class StreamTicket:
    """Handed back as soon as a stream's chain task is running: cancelling it stops the chain."""

    scope: trio.CancelScope = attrs.field(eq=False)

    def cancel(self) -> None:
        self.scope.cancel()


RouterMessage = RouteGenerate | RouteEmbed | RouteStream


@attrs.frozen
class RouterStatistics:
    """The router's counters; ``requests - succeeded - failed - in_flight`` were cancelled."""

    requests: int
    succeeded: int
    failed: int
    fallbacks: int
    retries: int
    in_flight: int
    mailbox_depth: int = 0
    mailbox_capacity: int = 0


class Router:
    """The router's long-lived state (survives restarts of the router actor)."""

    #: hook observers while any is registered (set by the orchestrator); None costs nothing
    observers: ObserverDispatcher | None = None

    def __init__(
        self,
        *,
        tier_routes: Mapping[str, Route],
        embed_route: Route,
        rotation: Route = (),
        override: RouteEntry | None = None,
        default_provider: str | None = None,
        default_tier: str = "fast",
        retry_policy: RetryPolicy,
    ) -> None:
        #: every cell by its own name ("openai", or "openai@east" for a deployment)
        self.cells: dict[str, ProviderCell] = {}
        #: the cells that serve each provider name: one, or its deployments
        self.groups: dict[str, tuple[ProviderCell, ...]] = {}
        self.weights: dict[str, float] = {}
        self.states: dict[str, ProviderState] = {}
        self.unconfigured: dict[str, ProviderState] = {}
        self.tier_routes = dict(tier_routes)
        self.embed_route = embed_route
        self.rotation = rotation
        self.override = override
        self.default_provider = default_provider
        self.default_tier = default_tier
        self.retry_policy = retry_policy
        self.ref: ActorRef[RouterMessage, Any] = ActorRef("router", capacity=4096)
        self._snapshot: RoutingSnapshot | None = None
        self._plans = PlanCache()
        self._snapshot_down: tuple[bool, ...] = ()
        self.requests = 0
        self.succeeded = 0
        self.failed = 0
        self.fallbacks = 0
        self.retries = 0
        self.in_flight = 0
        self.idle = trio.Event()
        self.idle.set()
        self._callers: set[trio.CancelScope] = set()
        self._closing = False

    # --- registry -----------------------------------------------------------------------------

    def add_cell(
        self,
        cell: ProviderCell,
        state: ProviderState,
        *,
        provider: str | None = None,
        weight: float = 1.0,
    ) -> None:
        """Register a cell; several cells under one ``provider`` are its deployments."""
        name = provider if provider is not None else cell.name
        self.cells[cell.name] = cell
        self.states[name] = state
        group = [c for c in self.groups.get(name, ()) if c.name != cell.name]
        self.groups[name] = (*group, cell)
        self.weights[cell.name] = weight
        self._snapshot = None

    def add_unconfigured(self, name: str, state: ProviderState) -> None:
        """A provider the configuration names but leaves unusable: routing skips it, saying
        "not configured" rather than "unknown provider"."""
        self.unconfigured[name] = state
        self._snapshot = None

    def set_tier_route(self, tier: str, route: Route) -> None:
        self.tier_routes[tier] = route
        self._snapshot = None

    def snapshot(self) -> RoutingSnapshot:
        """The routing snapshot; rebuilt only when the registry or a provider's health changed."""
        down = tuple(cell.down for cell in self.cells.values())
        if self._snapshot is None or down != self._snapshot_down:
            providers = dict(self.unconfigured)
            providers.update(
                (name, attrs.evolve(self.states[name], down=all(c.down for c in group)))
                for name, group in self.groups.items()
            )
            self._snapshot = RoutingSnapshot(
                providers=providers,
                tier_routes=self.tier_routes,
                embed_route=self.embed_route,
                rotation=self.rotation,
                override=self.override,
                default_provider=self.default_provider,
                default_tier=self.default_tier,
            )
            self._snapshot_down = down
        return self._snapshot

    def statistics(self) -> RouterStatistics:
        mailbox = self.ref.statistics()
        return RouterStatistics(
            requests=self.requests,
            succeeded=self.succeeded,
            failed=self.failed,
            fallbacks=self.fallbacks,
            retries=self.retries,
            in_flight=self.in_flight,
            mailbox_depth=mailbox.mailbox_depth,
            mailbox_capacity=mailbox.mailbox_capacity,
        )

    # --- requests run in their caller's task ----------------------------------------------------

    def plan_for(self, spec: RouteSpec) -> RoutePlan:
        """The candidates of a request: a pure function of it and the routing snapshot."""
        return self._plans.plan(spec.route, self.snapshot())

    async def run_in_caller(self, spec: RouteSpec, plan: RoutePlan) -> Any:
        """A generate or embed request's chain, in the task of the caller who awaits it.

        The request was a message to the router actor, which answered with ``plan``; running
        the chain where its result is awaited saves a task and a hop per request, keeps the
        caller's cancellation direct, and still survives the crash of any provider actor. One
        scope holds the request's deadline; the orchestrator's shutdown cancels it through
        :meth:`close_callers`.
        """
        attempts: list[Attempt] = []
        request = spec.request
        attempt: Callable[[ProviderCell, Candidate, float], Awaitable[Any]]
        if isinstance(request, GenerateRequest):
            attempt = _generate_attempt(request, spec)
        else:
            attempt = _embed_attempt(request)
        with trio.CancelScope(deadline=spec.deadline + _CALL_MARGIN) as scope:
            self._callers.add(scope)
            try:
                return await self.run_chain(spec, attempt, attempts=attempts, plan=plan)
            finally:
                self._callers.discard(scope)
        if self._closing:
            raise OrchestratorClosed("the orchestrator closed before the request finished")
        raise _deadline_error(attempts)

    def close_callers(self) -> None:
        """Shutdown: cancel the chains still running in callers' tasks (they get
        :class:`OrchestratorClosed`)."""
        self._closing = True
        for scope in self._callers:
            scope.cancel()

    # --- the chain ----------------------------------------------------------------------------

    async def run_chain(
        self,
        spec: RouteSpec,
        attempt: Callable[[ProviderCell, Candidate, float], Awaitable[R]],
        *,
        sink: StreamSink | None = None,
        attempts: list[Attempt] | None = None,
        plan: RoutePlan | None = None,
    ) -> R:
        """Run one request's chain; ``attempts`` (the caller's list) collects every attempt."""
        self.requests += 1
        self.in_flight += 1
        self.idle = self.idle if self.in_flight > 1 else trio.Event()
        if plan is None:
            plan = self.plan_for(spec)
        try:
            result = await self._chain(
                spec, plan, attempt, sink, [] if attempts is None else attempts
            )
        except HafsError:
            self.failed += 1
            raise
        else:
            self.succeeded += 1
            if result.fallback_used:
                self.fallbacks += 1
            return result
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    async def _chain(
        self,
        spec: RouteSpec,
        plan: RoutePlan,
        attempt: Callable[[ProviderCell, Candidate, float], Awaitable[R]],
        sink: StreamSink | None,
        attempts: list[Attempt],
    ) -> R:
        """Try each candidate once in order; then the deferred ones, if time is left.

        A candidate that timed out, or whose server announced a pause, is deferred rather than
        retried at once: the next candidate is tried first, and the deferred one only when no
        other is left (after its pause, if that fits the deadline and ``max_server_delay``).
        """
        start = trio.current_time()
        attempts.extend(plan.skipped_attempts)
        larger_than = 0
        deferred: list[tuple[int, Candidate]] = []
        raced: set[int] = set()  # candidates already run as a hedge
        for index, cand in enumerate(plan.candidates):
            if cand.context_window <= larger_than:
                attempts.append(
                    _skipped(
                        cand,
                        f"context window {cand.context_window} not larger than "
                        f"{larger_than}, which was exceeded",
                    )
                )
                continue
            if index in raced:
                continue
            partner = self._hedge_partner(spec, plan.candidates, index, larger_than)
            if partner is not None and spec.hedge_after is not None:
                outcomes = await self._race(
                    spec, (cand, partner[1]), attempt, sink, attempts, spec.hedge_after
                )
                raced.add(partner[0])
                for which, outcome in zip((index, partner[0]), outcomes, strict=True):
                    if outcome is None:
                        continue  # lost the race, or never started
                    if not isinstance(outcome, _Next):
                        return _finished(outcome, attempts, which > 0, start)
                    if outcome is _DEFER:
                        deferred.append((which, plan.candidates[which]))
                    elif outcome is _LARGER:
                        larger_than = max(larger_than, plan.candidates[which].context_window)
                if outcomes[1] is None and partner[0] not in (i for i, _ in deferred):
                    raced.discard(partner[0])  # the hedge never started: try it in turn
                continue
            outcome = await self._candidate(spec, cand, attempt, sink, attempts, final=False)
            if outcome is _DEFER:
                deferred.append((index, cand))
            elif outcome is _LARGER:
                larger_than = max(larger_than, cand.context_window)
            elif not isinstance(outcome, _Next):
                return _finished(outcome, attempts, index > 0, start)
        for index, cand in deferred:
            now = trio.current_time()
            waits = [c.paused_for(cand.model, now) or 0.0 for c in self.groups[cand.provider]]
            wait = min(waits)
            limit = self.retry_policy.config.max_server_delay
            if wait > 0 and (wait > limit or now + wait >= spec.deadline):
                attempts.append(_skipped(cand, f"paused by the server for {wait:.3g}s more"))
                continue
            await trio.sleep(wait)
            outcome = await self._candidate(spec, cand, attempt, sink, attempts, final=True)
            if not isinstance(outcome, _Next):
                return _finished(outcome, attempts, index > 0, start)
        raise AllProvidersFailed(
            _summary(plan.candidates, attempts, spec.route),
            attempts=attempts,
        )

    def _hedge_partner(
        self, spec: RouteSpec, candidates: tuple[Candidate, ...], index: int, larger_than: int
    ) -> tuple[int, Candidate] | None:
        """The candidate to hedge ``candidates[index]`` with, if hedging applies."""
        if spec.hedge_after is None or index + 1 >= len(candidates):
            return None
        request = spec.request
        if isinstance(request, GenerateRequest) and request.tools and not spec.idempotent:
            return None  # a tool call must not run twice unless the caller says it may
        partner = candidates[index + 1]
        if partner.context_window <= larger_than:
            return None
        max_cost = spec.route.max_cost
        if max_cost is not None:
            # both may be billed: hedge only when the two together fit the cost cap
            total = 0.0
            output = spec.route.max_tokens or 0
            for cand in (candidates[index], partner):
                caps = self.states[cand.provider].capabilities.lookup(cand.model)
                cost = estimate_cost(caps, spec.route.estimated_input_tokens, output)
                if cost is None:
                    return None
                total += cost
            if total > max_cost:
                return None
        return index + 1, partner

    async def _race(
        self,
        spec: RouteSpec,
        pair: tuple[Candidate, Candidate],
        attempt: Callable[[ProviderCell, Candidate, float], Awaitable[R]],
        sink: StreamSink | None,
        attempts: list[Attempt],
        hedge_after: float,
    ) -> list[R | _Next | None]:
        """Run the first candidate; when it has produced nothing after ``hedge_after``, start
        the second too. The first to produce content (a stream's first content event, or a
        whole result) wins; the other is cancelled, which closes its connection and releases
        its permits. ``None`` stands for a loser or a hedge that never started."""
        outcomes: list[R | _Next | None] = [None, None]
        scopes: list[trio.CancelScope | None] = [None, None]
        won: list[int] = []
        errors: list[HafsError] = []
        first_over = trio.Event()
        race_scope = trio.CancelScope()

        def win(i: int) -> None:
            if not won:
                won.append(i)
                other = scopes[1 - i]
                if other is not None:
                    other.cancel()

        async def run(i: int) -> None:
            cand = pair[i]
            own = None if sink is None else RacingSink(sink, lambda: win(i))
            with trio.CancelScope() as scope:
                scopes[i] = scope
                if won:
                    return
                try:
                    outcome = await self._candidate(spec, cand, attempt, own, attempts, final=False)
                except HafsError as exc:  # the request is over (deadline, interrupted stream)
                    errors.append(exc)
                    race_scope.cancel()
                    return
            if scope.cancelled_caught:
                attempts.append(_skipped(cand, "lost the hedge race: cancelled"))
                return
            outcomes[i] = outcome
            if not isinstance(outcome, _Next):
                win(i)
            if i == 0:
                first_over.set()

        with race_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, 0)
                with trio.move_on_after(hedge_after):
                    await first_over.wait()
                if not first_over.is_set() and not won and not errors:
                    nursery.start_soon(run, 1)
        if errors:
            raise errors[0]
        return outcomes

    async def _candidate(
        self,
        spec: RouteSpec,
        cand: Candidate,
        attempt: Callable[[ProviderCell, Candidate, float], Awaitable[R]],
        sink: StreamSink | None,
        attempts: list[Attempt],
        *,
        final: bool,
    ) -> R | _Next:
        """One candidate: its deployments in balanced order, failing over within the group."""
        group = self.groups[cand.provider]
        if len(group) == 1:
            return await self._deployment(spec, cand, group[0], attempt, sink, attempts, final)
        deferred = False
        for cell in self._balanced(group, cand.model):
            outcome = await self._deployment(spec, cand, cell, attempt, sink, attempts, final)
            if outcome is _DEFER:
                deferred = True
            elif outcome is _LARGER or not isinstance(outcome, _Next):
                return outcome
        return _DEFER if deferred else _NEXT

    def _balanced(self, group: tuple[ProviderCell, ...], model: str) -> list[ProviderCell]:
        """Healthy deployments first, then the least in flight per unit of weight."""
        now = trio.current_time()

        def key(cell: ProviderCell) -> tuple[bool, float]:
            unhealthy = (
                cell.down
                or cell.breaker.state is CircuitState.OPEN
                or cell.paused_for(model, now) is not None
            )
            return (unhealthy, (cell.in_flight + 1) / self.weights.get(cell.name, 1.0))

        return sorted(group, key=key)

    async def _deployment(
        self,
        spec: RouteSpec,
        cand: Candidate,
        cell: ProviderCell,
        attempt: Callable[[ProviderCell, Candidate, float], Awaitable[R]],
        sink: StreamSink | None,
        attempts: list[Attempt],
        final: bool,
    ) -> R | _Next:
        """One deployment of a candidate: its attempt, and retries of transient errors."""
        start = trio.current_time()
        paused = cell.paused_for(cand.model, start)
        if paused is not None and not final:
            attempts.append(
                _skipped(cand, f"paused by the server for {paused:.3g}s", cell.deployment)
            )
            return _DEFER
        self.retry_policy.record_request(cand.provider, start)
        retry_no = 0
        while True:
            now = trio.current_time()
            remaining = spec.deadline - now
            if remaining <= 0:
                attempts.append(
                    Attempt(
                        provider=cand.provider,
                        model=cand.model,
                        outcome="DeadlineExceeded",
                        latency=0.0,
                        error="request deadline passed",
                    )
                )
                raise AllProvidersFailed(
                    "request deadline passed before any candidate succeeded",
                    attempts=attempts,
                )
            attempt_deadline = now + min(spec.attempt_timeout, remaining)
            if self.observers:
                self.observers.attempt_started(spec, cell, cand, retry_no)
            try:
                result = await attempt(cell, cand, attempt_deadline)
            except (ProviderError, ActorStopped, CallTimeout, MailboxFull) as exc:
                latency = trio.current_time() - now
                attempts.append(
                    _failed(cand, exc, latency, retry_no, cell.deployment, cand.dropped)
                )
                if self.observers:
                    self.observers.attempt_ended(spec, error=exc)
                _log_failure(cand, exc, latency, retry_no)
                if sink is not None:
                    if sink.committed:
                        raise _interrupted(exc, sink, attempts) from exc
                    sink.discard()
                if isinstance(exc, ContextLengthError):
                    return _LARGER
                if not isinstance(exc, ProviderError):
                    return _NEXT
                if not final and (
                    isinstance(exc, ProviderTimeoutError)
                    or cell.paused_for(cand.model, trio.current_time()) is not None
                ):
                    return _DEFER
                now = trio.current_time()
                decision = self.retry_policy.decide(
                    exc, retry_no, now, spec.deadline - now, provider=cand.provider
                )
                if not decision.retry or not _may_retry(cell, now + decision.delay):
                    return _NEXT
                self.retries += 1
                retry_no += 1
                await trio.sleep(decision.delay)
                continue
            if self.observers:
                self.observers.attempt_ended(spec, result=result)
            attempts.append(
                Attempt(
                    provider=cand.provider,
                    model=cand.model,
                    outcome="ok",
                    latency=trio.current_time() - now,
                    retry=retry_no,
                    deployment=cell.deployment,
                    dropped=cand.dropped,
                )
            )
            return result


class _Next:
    """Why a candidate gave no result: what the chain does next."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_NEXT = _Next("next")  # move on to the next candidate
_DEFER = _Next("defer")  # move on; come back only when no other candidate is left
_LARGER = _Next("larger")  # the prompt did not fit: only larger windows may help


def _finished(result: R, attempts: list[Attempt], fallback: bool, start: float) -> R:
    return attrs.evolve(
        result,
        attempts=tuple(attempts),
        fallback_used=fallback,
        latency=trio.current_time() - start,
    )


def _skipped(cand: Candidate, reason: str, deployment: str | None = None) -> Attempt:
    return Attempt(
        provider=cand.provider,
        model=cand.model,
        outcome="skipped",
        latency=0.0,
        error=reason,
        deployment=deployment,
    )


def _summary(
    candidates: tuple[Candidate, ...], attempts: list[Attempt], route: RouteRequest
) -> str:
    if not attempts:
        tier = route.tier if route.tier is not None else "the default tier"
        return f"no route for {tier}: set one with set_tier_route() or [routes] in the config"
    if not candidates:
        return "no provider can serve this request"
    return f"all {len(candidates)} candidate(s) failed"


def _failed(
    cand: Candidate,
    exc: BaseException,
    latency: float,
    retry_no: int,
    deployment: str | None,
    dropped: tuple[str, ...],
) -> Attempt:
    return Attempt(
        provider=cand.provider,
        model=cand.model,
        outcome=type(exc).__name__,
        latency=latency,
        error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        retry=retry_no,
        deployment=deployment,
        dropped=dropped,
    )


def _log_failure(cand: Candidate, exc: BaseException, latency: float, retry_no: int) -> None:
    log.warning(
        "attempt failed provider=%s model=%s outcome=%s retry=%d latency_ms=%.1f error=%r",
        cand.provider,
        cand.model,
        type(exc).__name__,
        retry_no,
        latency * 1000,
        str(exc).splitlines()[0] if str(exc) else "",
    )


def _interrupted(
    exc: BaseException, sink: StreamSink, attempts: list[Attempt]
) -> StreamInterruptedError:
    # The partial text is exactly what reached the reader (the sink's), whatever the adapter
    # decoded but never delivered.
    usage = exc.usage if isinstance(exc, StreamInterruptedError) else None
    pe = exc if isinstance(exc, ProviderError) else None
    if isinstance(exc, StreamInterruptedError):
        message = exc.message
    else:
        message = f"stream interrupted after output: {pe.message if pe else exc}"
    cause = exc.cause if isinstance(exc, StreamInterruptedError) and exc.cause else exc
    return StreamInterruptedError(
        message,
        partial_text=sink.text,
        usage=usage,
        cause=cause,
        attempts=attempts,
        provider=pe.provider if pe else "",
        model=pe.model if pe else "",
        status=pe.status if pe else None,
        request_id=pe.request_id if pe else None,
    )


class RouterActor(Actor[RouterMessage, Any]):
    """One incarnation of the router: plans each request; spawns the chain task of a stream."""

    def __init__(self, router: Router) -> None:
        super().__init__()
        self.router = router

    async def receive(self, envelope: Envelope[RouterMessage, Any]) -> None:
        msg = envelope.message
        if isinstance(msg, RouteGenerate | RouteEmbed):
            # The answer is the request's plan; its chain runs in the caller's task
            # (Router.run_in_caller). Planning is pure and quick: the loop never blocks on it.
            envelope.reply(self.router.plan_for(msg.spec))
        elif isinstance(msg, RouteStream):
            scope = trio.CancelScope(deadline=msg.spec.deadline + _CALL_MARGIN)
            # A caller cancelled before it holds the ticket (or while the reply is on its way)
            # abandons the envelope, which cancels the chain through this binding.
            envelope.bind_scope(scope)
            self.nursery.start_soon(self._stream, msg, scope)
            envelope.reply(StreamTicket(scope))

    async def _stream(self, msg: RouteStream, scope: trio.CancelScope) -> None:
        spec = msg.spec
        request = spec.request
        assert isinstance(request, GenerateRequest)
        sink = StreamSink(msg.send, max_duration=spec.max_stream_duration)

        async def attempt(cell: ProviderCell, cand: Candidate, deadline: float) -> GenerateResult:
            await _ready(cell, deadline)
            call = StreamCall(
                _for_candidate(request, cand, spec),
                deadline,
                sink,
                ttft_timeout=spec.ttft_timeout,
                idle_timeout=spec.idle_timeout,
            )
            result: GenerateResult = await cell.ref.ask(call)
            return result

        attempts: list[Attempt] = []

        def lift(deadline: float) -> None:
            scope.deadline = deadline

        sink.lift_on_commit(lift)
        async with msg.send:
            try:
                with scope:
                    try:
                        msg.outcome.result = await self.router.run_chain(
                            spec, attempt, sink=sink, attempts=attempts
                        )
                    except HafsError as exc:
                        msg.outcome.error = exc
            finally:
                # Cancelled by the reader (who no longer reads) or by the orchestrator's
                # shutdown (who must not leave the reader with a silently truncated stream).
                if msg.outcome.result is None and msg.outcome.error is None:
                    if trio.current_time() >= scope.deadline:
                        msg.outcome.error = _deadline_error(attempts)
                    else:
                        msg.outcome.error = _cancelled_error()


def _generate_attempt(
    request: GenerateRequest, spec: RouteSpec
) -> Callable[[ProviderCell, Candidate, float], Awaitable[GenerateResult]]:
    async def attempt(cell: ProviderCell, cand: Candidate, deadline: float) -> GenerateResult:
        await _ready(cell, deadline)
        call = GenerateCall(_for_candidate(request, cand, spec), deadline)
        result: GenerateResult = await cell.ref.ask(call)
        return result

    return attempt


def _embed_attempt(
    request: EmbedRequest,
) -> Callable[[ProviderCell, Candidate, float], Awaitable[EmbeddingResult]]:
    async def attempt(cell: ProviderCell, cand: Candidate, deadline: float) -> EmbeddingResult:
        await _ready(cell, deadline)
        call = EmbedCall(attrs.evolve(request, model=cand.model), deadline)  # no extra
        result: EmbeddingResult = await cell.ref.ask(call)
        return result

    return attempt


def _for_candidate(request: GenerateRequest, cand: Candidate, spec: RouteSpec) -> GenerateRequest:
    """The request as this candidate gets it: its model, its provider's extra fields only, and
    without the parameters it cannot honour (when the caller allowed dropping them)."""
    shaped = attrs.evolve(request, model=cand.model, extra=spec.extra.get(cand.provider, {}))
    return shaped.without(cand.dropped) if cand.dropped else shaped


def _deadline_error(attempts: list[Attempt]) -> HafsError:
    return AllProvidersFailed("the request deadline passed", attempts=attempts)


def _cancelled_error() -> HafsError:
    return OrchestratorClosed("the stream was cancelled before it finished")


def _may_retry(cell: ProviderCell, at: float) -> bool:
    """Whether the same provider's breaker would admit a retry at trio time ``at``.

    The failure being retried may just have opened the breaker: sleeping a backoff only to be
    rejected would waste the caller's time, so the chain moves on at once instead.
    """
    if cell.breaker.state is CircuitState.CLOSED:
        return True
    wait = cell.breaker.retry_after(trio.current_time())
    return wait is not None and trio.current_time() + wait <= at


async def _ready(cell: ProviderCell, deadline: float) -> None:
    """Wait (within the attempt deadline) for a provider that is still starting."""
    if cell.ready.is_set():
        return
    with trio.move_on_at(deadline):
        await cell.ready.wait()
    if not cell.ready.is_set():
        raise ProviderTimeoutError(
            "provider did not finish starting in time", phase="attempt", provider=cell.name
        )
