"""What a benchmark sends requests to: the :class:`BenchTarget` protocol and its two forms.

:class:`AdapterTarget` streams straight through a provider adapter (the provider's latency plus
the adapter's parsing); :class:`OrchestratorTarget` streams through the production
:class:`~hafs_actors.UnifiedOrchestrator` (router, provider actor, limiter, breaker), by
provider/model or by tier. Running both side by side shows the orchestrator's own overhead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import trio

from ..adapters import create_adapter
from ..adapters.base import AdapterSettings, ProviderAdapter
from ..types import (
    GenerateRequest,
    GenerateResult,
    StreamStart,
    TextDelta,
    ThoughtDelta,
    UsageEvent,
)
from .errors import BenchSpecError
from .samples import RequestTrace

if TYPE_CHECKING:
    from ..config.model import HafsConfig

__all__ = [
    "AdapterFactory",
    "AdapterTarget",
    "BenchTarget",
    "OrchestratorStream",
    "OrchestratorTarget",
    "StreamingOrchestrator",
]

_CLOSE_GRACE = 5.0  # seconds allowed for closing a client while the run is being cancelled


@runtime_checkable
class BenchTarget(Protocol):
    """One thing to measure.

    ``session()`` holds whatever the target needs open for the run (a client, an orchestrator).
    ``send()`` performs one streamed request and records into ``trace`` the
    ``trio.current_time()`` of each non-empty output chunk and, when known, the token counts;
    it raises on failure (the harness records the error's type and message).
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> Mapping[str, str]: ...

    def session(self) -> AbstractAsyncContextManager[object]: ...

    async def send(self, prompt: str, max_tokens: int, trace: RequestTrace) -> None: ...


AdapterFactory = Callable[[str, AdapterSettings], ProviderAdapter]


async def _close_shielded(close: Callable[[], Any]) -> None:
    with trio.move_on_after(_CLOSE_GRACE) as scope:
        scope.shield = True
        await close()


class AdapterTarget:
    """Stream directly through one provider adapter."""

    def __init__(
        self,
        provider: str,
        model: str,
        settings: AdapterSettings,
        *,
        name: str | None = None,
        adapter_factory: AdapterFactory | None = None,
    ) -> None:
        if not provider or not model:
            raise BenchSpecError("an adapter target needs a provider and a model")
        self.provider = provider
        self.model = model
        self.name = name or f"{provider}:{model}"
        self._settings = settings
        self._factory = adapter_factory
        self._adapter: ProviderAdapter | None = None

    @property
    def description(self) -> Mapping[str, str]:
        return {"via": "adapter", "provider": self.provider, "model": self.model}

    def __repr__(self) -> str:
        return f"AdapterTarget({self.name!r}, base_url={self._settings.base_url!r})"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[object]:
        factory = self._factory or create_adapter
        adapter = factory(self.provider, self._settings)
        try:
            await adapter.initialize()
            self._adapter = adapter
            yield adapter
        finally:
            self._adapter = None
            await _close_shielded(adapter.aclose)

    async def send(self, prompt: str, max_tokens: int, trace: RequestTrace) -> None:
        adapter = self._adapter
        if adapter is None:
            raise RuntimeError(f"target {self.name!r} used outside its session()")
        request = GenerateRequest(model=self.model, prompt=prompt, max_tokens=max_tokens)
        now = trio.current_time
        mark = trace.chunk_times.append
        trace.provider = self.provider
        trace.model = self.model
        async with adapter.stream(request) as events:
            async for event in events:
                if isinstance(event, (TextDelta, ThoughtDelta)):
                    if event.text:
                        mark(now())
                elif isinstance(event, UsageEvent):
                    trace.output_tokens = event.usage.output_tokens
                    trace.input_tokens = event.usage.input_tokens
                elif isinstance(event, StreamStart) and event.model:
                    trace.model = event.model


@runtime_checkable
class OrchestratorStream(Protocol):
    """What ``orch.stream(...)`` yields: text deltas, then the complete result."""

    def __aiter__(self) -> AsyncIterator[str]: ...

    @property
    def result(self) -> GenerateResult: ...


class StreamingOrchestrator(Protocol):
    """The part of :class:`~hafs_actors.UnifiedOrchestrator` the harness uses."""

    def stream(self, *args: Any, **kwargs: Any) -> AbstractAsyncContextManager[Any]: ...


OrchestratorOpener = Callable[[], AbstractAsyncContextManager[StreamingOrchestrator]]


def _default_opener(config: HafsConfig | None) -> OrchestratorOpener:
    def open_orchestrator() -> AbstractAsyncContextManager[StreamingOrchestrator]:
        from ..orchestrator import UnifiedOrchestrator  # the whole runtime: load it on use

        return UnifiedOrchestrator(config)

    return open_orchestrator


class OrchestratorTarget:
    """Stream through the orchestrator, by ``provider`` (and ``model``) or by ``tier``.

    By default each session opens its own orchestrator from ``config`` (so targets do not share
    breakers or limiters); pass ``orchestrator`` to measure one that is already open, or
    ``open_orchestrator`` to build it differently.
    """

    def __init__(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        tier: str | None = None,
        config: HafsConfig | None = None,
        orchestrator: StreamingOrchestrator | None = None,
        open_orchestrator: OrchestratorOpener | None = None,
        name: str | None = None,
        request_options: Mapping[str, Any] | None = None,
    ) -> None:
        if provider is None and tier is None:
            raise BenchSpecError("an orchestrator target needs a provider or a tier")
        if model is not None and provider is None:
            raise BenchSpecError("an orchestrator target with a model also needs its provider")
        self.provider = provider
        self.model = model
        self.tier = tier
        if name is None:
            name = f"tier:{tier}" if provider is None else f"{provider}:{model or 'default'}"
        self.name = name
        self._given = orchestrator
        self._opener = open_orchestrator or _default_opener(config)
        self._orchestrator: StreamingOrchestrator | None = None
        self._options: dict[str, Any] = dict(request_options or {})
        for key, value in (("provider", provider), ("model", model), ("tier", tier)):
            if value is not None:
                self._options[key] = value

    @property
    def description(self) -> Mapping[str, str]:
        info = {"via": "orchestrator"}
        for key in ("provider", "model", "tier"):
            value = getattr(self, key)
            if value is not None:
                info[key] = value
        return info

    def __repr__(self) -> str:
        return f"OrchestratorTarget({self.name!r})"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[object]:
        if self._given is not None:
            self._orchestrator = self._given
            try:
                yield self._given
            finally:
                self._orchestrator = None
            return
        async with self._opener() as orchestrator:
            self._orchestrator = orchestrator
            try:
                yield orchestrator
            finally:
                self._orchestrator = None

    async def send(self, prompt: str, max_tokens: int, trace: RequestTrace) -> None:
        orchestrator = self._orchestrator
        if orchestrator is None:
            raise RuntimeError(f"target {self.name!r} used outside its session()")
        now = trio.current_time
        mark = trace.chunk_times.append
        async with orchestrator.stream(
            prompt=prompt, max_tokens=max_tokens, **self._options
        ) as stream:
            async for text in stream:
                if text:
                    mark(now())
            result: GenerateResult = stream.result
        trace.output_tokens = result.usage.output_tokens
        trace.input_tokens = result.usage.input_tokens
        trace.provider = result.provider
        trace.model = result.model
        trace.fallback_used = result.fallback_used
