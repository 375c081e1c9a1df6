"""The adapter contract: the only layer that speaks HTTP to providers.

An adapter turns normalized requests (:mod:`hafs_actors.types`) into one provider's wire format
and the answers back, raising the typed errors of :mod:`hafs_actors.errors`. Adapters never
retry and never sleep: retrying and falling back belong to the router (one layer only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, runtime_checkable

import attrs

from ..types import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    StreamEvent,
)

__all__ = ["AdapterSettings", "ProviderAdapter", "TransportKind"]

TransportKind = Literal["hafs", "httpx"]


@attrs.frozen
class AdapterSettings:
    """How an adapter reaches its provider. Built from configuration by the orchestrator.

    ``api_key`` is excluded from ``repr`` and must never be logged.
    """

    base_url: str
    api_key: str | None = attrs.field(default=None, repr=False)
    default_model: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # also the idle gap between stream chunks
    write_timeout: float = 30.0
    pool_timeout: float = 30.0
    stream_ttft_timeout: float | None = 60.0  # time to first token of a stream
    max_connections: int = 256
    max_keepalive_connections: int = 256
    transport: TransportKind = "hafs"
    http2: bool = False
    proxy: str | None = attrs.field(default=None, repr=False)  # may carry credentials
    verify: bool | str = True  # True, False, or a CA bundle path
    extra_headers: Mapping[str, str] = attrs.field(factory=dict)
    embed_batch_size: int | None = None  # None: the provider's documented limit
    #: Bounded reads (docs/transport.md): a body, decoded, at most this long (streams too) ...
    max_response_bytes: int = attrs.field(default=64 << 20, validator=attrs.validators.ge(1))
    #: ... one SSE event or NDJSON line at most this long (what a decoder holds until its end) ...
    max_event_bytes: int = attrs.field(default=8 << 20, validator=attrs.validators.ge(1))
    #: ... and of an error body only this much is read (its message is cut to 4 KiB).
    max_error_bytes: int = attrs.field(default=64 << 10, validator=attrs.validators.ge(1))


@runtime_checkable
class ProviderAdapter(Protocol):
    """What a provider actor needs from an adapter.

    ``stream()`` returns an async context manager yielding an async iterator of
    :data:`~hafs_actors.types.StreamEvent` (first a ``StreamStart``); leaving the context closes
    the HTTP response, so cancellation never leaks a connection.
    """

    provider: str
    supports_streaming: bool
    supports_embeddings: bool

    async def initialize(self) -> None: ...

    async def generate(self, request: GenerateRequest) -> GenerateResult: ...

    def stream(
        self, request: GenerateRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]: ...

    async def embed(self, request: EmbedRequest) -> EmbeddingResult: ...

    async def health(self) -> HealthStatus: ...

    async def aclose(self) -> None: ...
