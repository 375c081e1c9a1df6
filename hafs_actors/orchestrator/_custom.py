"""Custom adapters' lifecycle: a factory gives each actor incarnation a fresh adapter; an
instance is shared by every incarnation and closed once, at the final shutdown.

A provider actor initializes its adapter when it starts and closes it when it stops, and the
health probe of a provider marked down builds and closes adapters of its own. A user's single
instance cannot live through that (an adapter that closes its client in ``aclose()`` would be
reused closed after the first restart), so an instance is wrapped: ``initialize()`` runs until it
once succeeds, ``aclose()`` does nothing, and :meth:`SharedAdapter.close` is the real close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from ..adapters import wrap_custom_adapter
from ..adapters.base import ProviderAdapter
from ..types import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    StreamEvent,
)

__all__ = ["SharedAdapter", "adapter_source", "is_factory"]


def is_factory(adapter: object) -> bool:
    """A class, or a callable that is not itself an adapter (it has no ``generate``)."""
    if isinstance(adapter, type):
        return True
    return callable(adapter) and not callable(getattr(adapter, "generate", None))


class SharedAdapter:
    """One user instance shared by every incarnation of its provider actor."""

    def __init__(self, inner: ProviderAdapter) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.supports_streaming = inner.supports_streaming
        self.supports_embeddings = inner.supports_embeddings
        self.supported_params: frozenset[str] | None = getattr(inner, "supported_params", None)
        self.adapter = getattr(inner, "adapter", inner)  # the user's object, for model defaults
        self._initialized = False

    async def initialize(self) -> None:
        if not self._initialized:
            await self.inner.initialize()
            self._initialized = True

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        return await self.inner.generate(request)

    def stream(
        self, request: GenerateRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        return self.inner.stream(request)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        return await self.inner.embed(request)

    async def health(self) -> HealthStatus:
        return await self.inner.health()

    async def aclose(self) -> None:
        """Not at restarts or probes: the instance outlives every incarnation."""

    async def close(self) -> None:
        """The final shutdown: the one real ``aclose()`` of the user's instance."""
        if self._initialized:
            self._initialized = False
            await self.inner.aclose()


def adapter_source(
    adapter: Any, name: str
) -> tuple[Callable[[], ProviderAdapter], SharedAdapter | None]:
    """The adapter factory of a registered adapter, and the shared instance to close, if any."""
    if is_factory(adapter):
        make: Callable[[], Any] = adapter

        def fresh() -> ProviderAdapter:
            return wrap_custom_adapter(make(), name)

        fresh()  # fail at registration, not at the first request, if it cannot be wrapped
        return fresh, None
    shared = SharedAdapter(wrap_custom_adapter(adapter, name))
    return (lambda: shared), shared
