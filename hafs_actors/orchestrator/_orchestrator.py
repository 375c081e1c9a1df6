"""``UnifiedOrchestrator``: the user-facing API of docs/usage.md, on actors.

Structured form (preferred)::

    async with UnifiedOrchestrator() as orch:
        result = await orch.generate(prompt="...", tier=TaskTier.CODING)

The seed's form works too: ``orch = UnifiedOrchestrator(); await orch.initialize()``. With no
enclosing ``async with``, the supervision tree then runs in a trio system task that never raises;
``await orch.aclose()`` (or the end of ``trio.run``) stops it.
"""

from __future__ import annotations

import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import attrs
import httpx
import trio

import supervisors

from .._groups import unwrap_single_exception
from ..actors import actor_child_spec
from ..adapters.base import ProviderAdapter
from ..config import DeploymentConfig, HafsConfig, load_config
from ..errors import (
    ActorStopped,
    HafsError,
    InvalidRequestError,
    OrchestratorClosed,
    UnknownProviderError,
)
from ..observability import Observer, ObserverDispatcher, TelemetrySettings, telemetry_observer
from ..providers import (
    HealthCall,
    ProviderCell,
    ProviderStatistics,
    StreamItem,
    StreamOutcome,
)
from ..resilience import BreakerEvent, Seeds
from ..routing import (
    RouteEmbed,
    RouteGenerate,
    RoutePlan,
    Router,
    RouterActor,
    RouterStatistics,
    RouteSpec,
    RouteStream,
    StreamTicket,
)
from ..routing.tiers import Provider, Route, TaskTier, name_of
from ..state import LocalBackend, StateBackend, open_state_backend
from ..types import EmbeddingResult, GenerateResult, HealthStatus
from ._custom import SharedAdapter, adapter_source
from ._fanout import FanoutResults, open_fanout
from ._requests import (
    ChainLike,
    ExtraLike,
    MessageLike,
    ResponseFormatLike,
    ToolChoiceLike,
    ToolLike,
    check_route,
    embed_request,
    generate_request,
    route_spec,
)
from ._stream import StreamResponse
from ._tree import adapter_factory, build_router, cell_config, provider_config, provider_state

__all__ = ["OrchestratorStatus", "UnifiedOrchestrator", "open_orchestrator"]

log = logging.getLogger("hafs_actors.orchestrator")

_STREAM_BUFFER = 64


@attrs.frozen
class OrchestratorStatus:
    """A snapshot of the whole runtime: every provider actor and the router."""

    running: bool
    providers: dict[str, ProviderStatistics]
    router: RouterStatistics
    configured: tuple[str, ...]
    down: tuple[str, ...]
    total_cost: float


class UnifiedOrchestrator:
    """Routes LLM requests across providers through a supervised tree of trio actors.

    Args:
        config: a :class:`~hafs_actors.config.HafsConfig`; by default it is loaded from the
            environment and ``~/.config/hafs/config.toml`` when the orchestrator starts.
        config_path: an explicit config file (instead of ``HAFS_CONFIG`` / the default path).
        shutdown_grace: seconds in-flight requests may take to finish when the orchestrator
            closes (default: ``timeouts.shutdown_grace`` of the config).
            telemetry: OpenTelemetry export: True, False or a :class:`TelemetrySettings`; None
                follows ``[telemetry] otel`` and ``HAFS_OTEL`` (see docs/observability.md).
            observers: hook :class:`~hafs_actors.observability.Observer` objects (also
                :meth:`add_observer`).
        transports: an httpx transport per provider name, carrying that provider's HTTP
            instead of the network: ``transports={"openai": httpx.MockTransport(handler)}``.
        random_seed: seeds every jitter (retry backoff, breaker open periods, restart
            backoff), so two identical MockClock runs give identical attempts; default:
            ``[routing] random_seed``, else random.
    """

    def __init__(
        self,
        config: HafsConfig | None = None,
        *,
        config_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        shutdown_grace: float | None = None,
        telemetry: bool | TelemetrySettings | None = None,
        observers: Iterable[Observer] = (),
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        random_seed: int | None = None,
    ) -> None:
        self._transports = {name_of(k): v for k, v in (transports or {}).items()}
        self._random_seed = random_seed
        self._config_arg = config
        self._config_path = config_path
        self._env = env
        self._shutdown_grace = shutdown_grace
        self._config: HafsConfig | None = config
        self._router: Router | None = None
        self._custom: dict[str, Callable[[], ProviderAdapter]] = {}
        self._shared: list[SharedAdapter] = []
        self._seeds = Seeds()
        self._state: StateBackend = LocalBackend()
        self._pending_routes: dict[str, Route] = {}
        self._providers_sup: supervisors.Supervisor | None = None
        self._tree_nursery: trio.Nursery | None = None
        self._stack: AsyncExitStack | None = None
        self._accepting = False
        self._started = False
        self._stop = trio.Event()
        self._stopped = trio.Event()
        self._failure: BaseException | None = None
        self._breaker_events: list[tuple[float, str, BreakerEvent]] = []
        self._supervisor_events: list[tuple[float, str, object]] = []
        self._telemetry = telemetry
        self._observers: ObserverDispatcher | None = None
        for observer in observers:
            self.add_observer(observer)

    def add_observer(self, observer: Observer) -> None:
        """Register a hook observer (docs/observability.md), before or after the start."""
        if self._observers is None:
            self._observers = ObserverDispatcher()
        self._observers.add(observer)
        if self._router is not None:
            self._router.observers = self._observers
            for cell in self._router.cells.values():
                cell.observers = self._observers

    # --- configuration --------------------------------------------------------------------------

    @property
    def config(self) -> HafsConfig:
        if self._config is None:
            self._config = load_config(self._config_path, env=self._env)
        return self._config

    def register_adapter(self, name: str, adapter: object) -> None:
        """Register a custom adapter under ``name`` (seed-style or native; see providers.md).

        ``adapter`` is an instance or a factory (a class, or a function returning an adapter).
        A factory gives every actor incarnation a fresh adapter. An instance is shared by every
        incarnation: it is initialized once and its ``aclose()`` runs once, at the final
        shutdown, never at a restart or a health probe.

        Works before and after start: a running orchestrator starts the provider's actor at
        once, and requests routed to it wait (within their deadline) until it is ready.
        """
        key = name_of(name)
        factory, shared = adapter_source(adapter, key)
        self._custom[key] = factory
        if shared is not None:
            self._shared.append(shared)
        if self._router is not None and self._tree_nursery is not None:
            cell = self._make_cell(key, factory, custom=True)
            # Routable at once (requests wait, within their deadline, until it is ready).
            self._router.add_cell(cell, provider_state(self.config, cell))
            self._tree_nursery.start_soon(self._start_cell, cell)

    def set_tier_route(self, tier: TaskTier | str, route: ChainLike) -> None:
        """Replace the route of a tier: ``(provider, model)`` pairs or ``"provider:model"``.

        Provider names are checked against the configuration and the registered adapters: at
        once when running, else when the orchestrator starts (an unknown name is an
        :class:`UnknownProviderError` with a did-you-mean).
        """
        key = name_of(tier)
        if self._router is not None:
            self._router.set_tier_route(key, check_route(key, route, self._names(self._router)[0]))
        else:
            self._pending_routes[key] = check_route(key, route, _ANY)

    def _names(self, router: Router) -> tuple[Collection[str], Collection[str]]:
        """The provider names and tiers a request may name."""
        snapshot = router.snapshot()
        return snapshot.providers.keys(), snapshot.tier_routes.keys()

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> UnifiedOrchestrator:
        if self._started:
            raise RuntimeError("this orchestrator was already started")
        stack = AsyncExitStack()
        nursery = await stack.enter_async_context(trio.open_nursery())
        try:
            await nursery.start(self._run_tree)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._stop.set()
        stack, self._stack = self._stack, None
        assert stack is not None
        async with unwrap_single_exception():
            return await stack.__aexit__(etype, exc, tb)

    async def initialize(self) -> None:
        """Start the runtime without ``async with`` (the seed's call sequence).

        The tree runs in a trio system task that never raises; call :meth:`aclose` to stop it
        (it also stops when ``trio.run`` ends). Calling it inside ``async with`` is a no-op.
        """
        if self._started:
            return
        started = trio.Event()

        async def system_main() -> None:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._run_tree)
                    started.set()
            except BaseException as exc:  # the system task must never raise
                if not isinstance(exc, trio.Cancelled):
                    self._failure = exc
                    log.error("orchestrator stopped by a failure: %r", exc)
            finally:
                started.set()
                self._stopped.set()

        trio.lowlevel.spawn_system_task(system_main, name="hafs-orchestrator")
        await started.wait()
        if self._failure is not None:
            raise self._failure

    async def aclose(self) -> None:
        """Stop the runtime: drain in-flight requests within the grace period, then cancel.

        Safe from any task and more than once. Inside ``async with`` it stops the tree and
        waits for it; the block's exit (in its own task) then closes the nursery.
        """
        self._stop.set()
        if self._started:
            await self._stopped.wait()

    async def _run_tree(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._started = True
        config = self.config
        unknown = sorted(set(self._transports) - set(config.providers))
        if unknown:
            raise UnknownProviderError(unknown[0], list(config.providers), where="transports")
        seed = self._random_seed if self._random_seed is not None else config.routing.random_seed
        self._seeds = Seeds(seed)
        # In-process by default; on Redis when [state] redis_url is set (docs/scaling.md). An
        # unreachable Redis logs a warning and the tree runs on local limits meanwhile.
        async with open_state_backend(config.state, rng=self._seeds.rng("state")) as state:
            self._state = state
            await self._run_tree_on_state(task_status=task_status)

    async def _run_tree_on_state(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.config
        router = build_router(config, self._pending_routes, self._seeds)
        otel = telemetry_observer(self._telemetry, config, self._env)
        if otel is not None:
            self.add_observer(otel)
        router.observers = self._observers
        # (cell, provider, weight): one cell per provider, or one per deployment
        cells: list[tuple[ProviderCell, str, float]] = []
        for name, p in config.providers.items():
            if not p.configured or p.kind == "custom" or name in self._custom:
                continue
            transport = self._transports.get(name)
            for deployment in p.deployments or (None,):
                factory = adapter_factory(config, p, transport, deployment)
                cell = self._make_cell(name, factory, custom=False, deployment=deployment)
                cells.append((cell, name, 1.0 if deployment is None else deployment.weight))
        self._router = router
        for name, p in config.providers.items():
            if not p.configured and p.kind != "custom":
                router.add_unconfigured(name, config.provider_state(name))
        for cell, name, weight in cells:
            router.add_cell(cell, provider_state(config, cell, name), provider=name, weight=weight)
        try:
            async with trio.open_nursery() as nursery:
                self._tree_nursery = nursery
                async with supervisors.open_supervisor(
                    strategy=supervisors.Strategy.ONE_FOR_ONE,
                    intensity=3,
                    period=5.0,
                    name="root",
                ) as root:
                    providers = await root.start_child(
                        supervisors.supervisor_child_spec(
                            "providers",
                            strategy=supervisors.Strategy.ONE_FOR_ONE,
                            intensity=10,
                            period=5.0,
                        )
                    )
                    self._providers_sup = providers
                    for cell, _, _ in cells:
                        await providers.start_child(cell.child_spec())
                    for name, factory in self._custom.items():
                        await self._start_cell(self._make_cell(name, factory, custom=True))
                    await root.start_child(
                        actor_child_spec(
                            "router",
                            lambda: RouterActor(router),
                            router.ref,
                            # in-flight requests were drained (or given up) just before
                            shutdown=supervisors.Shutdown.BRUTAL_KILL,
                        )
                    )
                    self._check_routes(router)
                    self._accepting = True
                    task_status.started()
                    await self._stop.wait()
                    self._accepting = False
                    await self._drain(router)
                nursery.cancel_scope.cancel()
        finally:
            self._accepting = False
            self._tree_nursery = None
            with trio.CancelScope(shield=True):
                await self._close_shared()
            self._stopped.set()

    async def _close_shared(self) -> None:
        """The one real ``aclose()`` of each registered instance; a failure is only logged."""
        for shared in self._shared:
            with trio.move_on_after(5):
                try:
                    await shared.close()
                except Exception as exc:  # the user's close must not mask the shutdown
                    log.warning("adapter %s: aclose() failed: %r", shared.provider, exc)

    async def _drain(self, router: Router) -> None:
        grace = self._shutdown_grace
        if grace is None:
            grace = self.config.timeouts.shutdown_grace
        with trio.move_on_after(grace):
            await router.idle.wait()
        if router.in_flight:
            log.warning("closing with %d request(s) in flight: cancelling them", router.in_flight)
        router.close_callers()

    def _check_routes(self, router: Router) -> None:
        """Every provider a route names exists (custom adapters registered by now)."""
        known = self._names(router)[0]
        for tier, route in router.tier_routes.items():
            check_route(f"routes.{tier}", route, known)
        check_route("routing.rotation", router.rotation, known)
        if router.override is not None:
            check_route("routing.provider", (router.override,), known)

    def _make_cell(
        self,
        name: str,
        factory: Callable[[], ProviderAdapter],
        *,
        custom: bool,
        deployment: DeploymentConfig | None = None,
    ) -> ProviderCell:
        p = provider_config(self.config, name, custom=custom)
        cell = ProviderCell(
            cell_config(self.config, p, self._seeds, deployment),
            factory,
            on_breaker_event=self._record_breaker_event,
            on_supervisor_event=self._record_supervisor_event,
            state=self._state,
        )
        cell.observers = self._observers
        return cell

    async def _start_cell(self, cell: ProviderCell) -> None:
        assert self._router is not None
        assert self._providers_sup is not None
        self._router.add_cell(cell, provider_state(self.config, cell))
        if any(c.id == cell.name for c in self._providers_sup.which_children()):
            await self._providers_sup.terminate_child(cell.name)
            await self._providers_sup.delete_child(cell.name)
        await self._providers_sup.start_child(cell.child_spec())

    def _record_breaker_event(self, provider: str, event: BreakerEvent) -> None:
        self._breaker_events.append((trio.current_time(), provider, event))
        del self._breaker_events[:-1000]
        if self._observers:
            self._observers.breaker_transition(provider, event)

    def _record_supervisor_event(self, provider: str, event: object) -> None:
        self._supervisor_events.append((trio.current_time(), provider, event))
        del self._supervisor_events[:-1000]
        if self._observers:
            self._observers.supervisor_event(provider, event)

    @property
    def breaker_events(self) -> list[tuple[float, str, BreakerEvent]]:
        """Recent breaker transitions (time, provider, event), newest last."""
        return list(self._breaker_events)

    @property
    def supervisor_events(self) -> list[tuple[float, str, object]]:
        """Recent supervision events of provider actors (time, provider, event), newest last."""
        return list(self._supervisor_events)

    # --- requests -------------------------------------------------------------------------------

    def _require_router(self) -> Router:
        if self._failure is not None:
            raise OrchestratorClosed(f"the orchestrator failed: {self._failure!r}")
        if self._router is None or not self._accepting:
            if not self._started:
                raise OrchestratorClosed(
                    "the orchestrator is not running: use `async with UnifiedOrchestrator()` "
                    "or `await orch.initialize()` first"
                )
            raise OrchestratorClosed("the orchestrator is closed or shutting down")
        return self._router

    async def generate(
        self,
        prompt: str | None = None,
        *,
        tier: TaskTier | str | None = None,
        provider: Provider | str | None = None,
        model: str | None = None,
        fallback_providers: ChainLike | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        system_prompt: str | None = None,
        messages: Sequence[MessageLike] | None = None,
        timeout: float | None = None,
        allow_fallback: bool = True,
        tools: Sequence[ToolLike] = (),
        tool_choice: ToolChoiceLike | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: ResponseFormatLike | None = None,
        invalid_output: Literal["next", "retry", "return"] = "next",
        reasoning_effort: Literal["low", "medium", "high"] | None = None,
        cache_system: bool = False,
        extra: ExtraLike | None = None,
        max_cost: float | None = None,
        drop_unsupported_params: bool | None = None,
        hedge_after: float | None = None,
        idempotent: bool = False,
    ) -> GenerateResult:
        """Generate a completion, routed by tier, explicit provider or fallback chain.

        Returns a :class:`GenerateResult` (``.content``, ``.tokens_used``, ``.attempts``,
        ``.fallback_used``...). Raises :class:`AllProvidersFailed` listing every attempt when no
        candidate succeeds, and :class:`OrchestratorClosed` when not running.
        """
        router, spec = self._generation("generate", locals())
        try:
            # No timeout scope here: the router runs the chain under the request's deadline.
            call = _routed(router, spec, RouteGenerate(spec))
            obs = self._observers
            result: GenerateResult = await (call if obs is None else obs.observe(spec, call))
        except ActorStopped as exc:
            raise OrchestratorClosed(f"the request was not completed: {exc}") from exc
        return result

    def _generation(self, operation: str, arguments: Mapping[str, Any]) -> tuple[Router, RouteSpec]:
        """The validated request and route of ``generate``/``stream``, from their arguments
        (one body for the two signatures, which must stay explicit for users and type checkers;
        ``tests/orchestrator/test_seams.py`` checks that every parameter is read here)."""
        router = self._require_router()
        request = generate_request(**{name: arguments[name] for name in _REQUEST_ARGUMENTS})
        spec = route_spec(
            self.config,
            operation,
            request,
            *self._names(router),
            **{name: arguments[name] for name in _ROUTE_ARGUMENTS},
        )
        return router, spec

    @asynccontextmanager
    async def stream(
        self,
        prompt: str | None = None,
        *,
        tier: TaskTier | str | None = None,
        provider: Provider | str | None = None,
        model: str | None = None,
        fallback_providers: ChainLike | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        system_prompt: str | None = None,
        messages: Sequence[MessageLike] | None = None,
        timeout: float | None = None,
        allow_fallback: bool = True,
        tools: Sequence[ToolLike] = (),
        tool_choice: ToolChoiceLike | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: ResponseFormatLike | None = None,
        invalid_output: Literal["next", "retry", "return"] = "next",
        reasoning_effort: Literal["low", "medium", "high"] | None = None,
        cache_system: bool = False,
        extra: ExtraLike | None = None,
        max_cost: float | None = None,
        drop_unsupported_params: bool | None = None,
        hedge_after: float | None = None,
        idempotent: bool = False,
    ) -> AsyncIterator[StreamResponse]:
        """Stream a completion: ``async with orch.stream(...) as s: async for text in s: ...``.

        Before the first token, failures fall back transparently; after it, the iteration ends
        with :class:`StreamInterruptedError` carrying the partial text. Leaving the block early
        cancels the request and closes the upstream connection.
        """
        router, spec = self._generation("stream", locals())
        send, receive = trio.open_memory_channel[StreamItem](_STREAM_BUFFER)
        outcome = StreamOutcome()
        watch = None if self._observers is None else self._observers.watch_stream(spec)
        call = router.ref.call(
            RouteStream(spec, send, outcome), timeout=self.config.timeouts.actor_call_timeout
        )
        try:
            ticket: StreamTicket = await (call if watch is None else watch.started(call))
        except ActorStopped as exc:
            raise OrchestratorClosed(f"the stream was not started: {exc}") from exc
        response = (
            StreamResponse(receive, outcome, ticket.cancel)
            if watch is None
            else watch.response(receive, outcome, ticket.cancel)
        )
        try:
            yield response
        finally:
            ticket.cancel()
            receive.close()
            if watch is not None:
                watch.close()

    async def embed(
        self,
        text: str | Sequence[str] | None = None,
        *,
        texts: Sequence[str] | None = None,
        tier: TaskTier | str | None = None,
        provider: Provider | str | None = None,
        model: str | None = None,
        fallback_providers: ChainLike | None = None,
        dimensions: int | None = None,
        timeout: float | None = None,
        allow_fallback: bool = True,
    ) -> list[float] | list[list[float]]:
        """Embed ``text`` (``list[float]``, as in docs/usage.md) or ``texts``
        (``list[list[float]]``).

        :meth:`embeddings` returns the full :class:`EmbeddingResult` with attempts and usage.
        """
        single = isinstance(text, str)
        if text is None and texts is None:
            raise InvalidRequestError("text", "embed() needs text= or texts=")
        items: tuple[str, ...] = (text,) if isinstance(text, str) else tuple(texts or text or ())
        result = await self.embeddings(
            items,
            tier=tier,
            provider=provider,
            model=model,
            fallback_providers=fallback_providers,
            dimensions=dimensions,
            timeout=timeout,
            allow_fallback=allow_fallback,
        )
        return result.vectors[0] if single else result.vectors

    async def embeddings(
        self,
        texts: Sequence[str],
        *,
        tier: TaskTier | str | None = None,
        provider: Provider | str | None = None,
        model: str | None = None,
        fallback_providers: ChainLike | None = None,
        dimensions: int | None = None,
        timeout: float | None = None,
        allow_fallback: bool = True,
    ) -> EmbeddingResult:
        """Embed several texts; vectors come back in input order, with attempts and usage."""
        router = self._require_router()
        request = embed_request(texts, dimensions)
        spec = route_spec(
            self.config,
            "embed",
            request,
            *self._names(router),
            tier=tier,
            provider=provider,
            model=model,
            fallback_providers=fallback_providers,
            allow_fallback=allow_fallback,
            timeout=timeout,
        )
        try:
            call = _routed(router, spec, RouteEmbed(spec))
            obs = self._observers
            result: EmbeddingResult = await (call if obs is None else obs.observe(spec, call))
        except ActorStopped as exc:
            raise OrchestratorClosed(f"the request was not completed: {exc}") from exc
        return result

    def fanout(
        self,
        prompts: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 64,
        ordered: bool = False,
        **kwargs: Any,
    ) -> AbstractAsyncContextManager[FanoutResults[Any, GenerateResult]]:
        """Generate for many prompts with at most ``concurrency`` in flight.

        ``async with orch.fanout(prompts, concurrency=100, tier=...) as results:`` then
        ``async for item in results:`` gives a :class:`~hafs_actors.orchestrator.FanoutItem` per
        prompt (its ``result`` or its typed ``error``) as each completes, or in input order
        with ``ordered=True``. Memory stays bounded for any number of prompts. A prompt may
        be a string or a mapping of :meth:`generate` arguments.
        """

        async def submit(item: Any) -> GenerateResult:
            if isinstance(item, Mapping):
                return await self.generate(**{**kwargs, **item})
            return await self.generate(item, **kwargs)

        return open_fanout(submit, prompts, concurrency=concurrency, ordered=ordered)

    async def generate_many(
        self, prompts: Iterable[Any], *, concurrency: int = 64, **kwargs: Any
    ) -> list[GenerateResult | BaseException]:
        """All results in input order (a typed error in place of a failed prompt)."""
        out: list[GenerateResult | BaseException] = []
        results: FanoutResults[Any, GenerateResult]
        async with self.fanout(prompts, concurrency=concurrency, ordered=True, **kwargs) as results:
            async for item in results:
                out.append(item.result if item.error is None else item.error)  # type: ignore[arg-type]
        return out

    # --- observability --------------------------------------------------------------------------

    async def health(self, *, timeout: float | None = None) -> dict[str, HealthStatus]:
        """Ask every provider actor for its provider's health, concurrently."""
        router = self._require_router()
        limit = timeout if timeout is not None else self.config.timeouts.health_check_timeout
        out: dict[str, HealthStatus] = {}

        async def check(name: str, cell: ProviderCell) -> None:
            if cell.down:
                out[name] = HealthStatus(ok=False, detail=f"marked down: {cell.last_error}")
                return
            start = trio.current_time()
            try:
                status: HealthStatus = await cell.ref.call(
                    HealthCall(timeout=limit), timeout=limit + 1.0
                )
            except HafsError as exc:
                status = HealthStatus(ok=False, detail=f"{type(exc).__name__}: {exc}")
            if status.latency is None:
                status = attrs.evolve(status, latency=trio.current_time() - start)
            out[name] = status

        async with trio.open_nursery() as nursery:
            for name, cell in router.cells.items():
                nursery.start_soon(check, name, cell)
        return dict(sorted(out.items()))

    def status(self) -> OrchestratorStatus:
        """A snapshot of every provider actor (mailbox, breaker, limiter, usage, cost)."""
        router = self._router
        if router is None:
            raise OrchestratorClosed("the orchestrator has not been started")
        providers = {name: cell.statistics() for name, cell in router.cells.items()}
        return OrchestratorStatus(
            running=self._accepting,
            providers=providers,
            router=router.statistics(),
            configured=tuple(providers),
            down=tuple(n for n, s in providers.items() if s.down),
            total_cost=sum(s.cost for s in providers.values()),
        )


@asynccontextmanager
async def open_orchestrator(
    config: HafsConfig | None = None, **kwargs: Any
) -> AsyncIterator[UnifiedOrchestrator]:
    """``async with open_orchestrator(...) as orch:``, same as ``UnifiedOrchestrator(...)``."""
    async with UnifiedOrchestrator(config, **kwargs) as orch:
        yield orch


#: the arguments of generate()/stream() that make the request, and those that route it
_REQUEST_ARGUMENTS = (
    "prompt",
    "messages",
    "system_prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "invalid_output",
    "reasoning_effort",
    "cache_system",
)
_ROUTE_ARGUMENTS = (
    "tier",
    "provider",
    "model",
    "fallback_providers",
    "allow_fallback",
    "timeout",
    "max_cost",
    "extra",
    "drop_unsupported_params",
    "hedge_after",
    "idempotent",
)


async def _routed(router: Router, spec: RouteSpec, message: RouteGenerate | RouteEmbed) -> Any:
    """A request: a message to the router actor, answered with its plan; then its chain, run
    right here in the caller's task."""
    plan: RoutePlan = await router.ref.ask(message)
    return await router.run_in_caller(spec, plan)


class _AnyName(Collection[str]):
    """Accepts every name: routes set before the start are checked when it starts."""

    def __contains__(self, item: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_ANY = _AnyName()
