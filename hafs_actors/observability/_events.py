"""The observer API: what the runtime tells hooks, as frozen events, and the :class:`Observer`
base class whose methods a hook overrides.

Hooks are synchronous and must not block: they run inside the request's own task (the caller's
for request events, the router's chain task for attempts). An exception from a hook is logged
and swallowed, so a broken hook never breaks a request.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from ..resilience import BreakerEvent
from ..types import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    StreamEvent,
)

__all__ = [
    "AttemptEnded",
    "AttemptStarted",
    "BreakerTransition",
    "LimiterWait",
    "Observer",
    "Operation",
    "RequestFailed",
    "RequestInfo",
    "RequestKind",
    "RequestSucceeded",
    "StreamEventInfo",
    "SupervisorEventInfo",
]

#: ``gen_ai.operation.name`` of a request.
Operation: TypeAlias = Literal["chat", "embeddings"]
#: Which orchestrator call made the request.
RequestKind: TypeAlias = Literal["generate", "stream", "embed"]


@attrs.frozen
class RequestInfo:
    """One request as the caller made it; ``id`` is unique within the orchestrator."""

    id: int
    kind: RequestKind
    operation: Operation
    #: the normalized request: prompts included, so exporters record it only on opt-in
    request: GenerateRequest | EmbedRequest = attrs.field(repr=False)
    provider: str | None  # as requested (None: routed by tier)
    model: str | None
    tier: str | None
    started: float  # trio time


@attrs.frozen
class AttemptStarted:
    """The chain sends the request to one (provider, model); ``number`` counts from 0."""

    request: RequestInfo
    provider: str
    provider_kind: str  # the adapter family ("openai", "gemini"...; "custom")
    model: str
    retry: int  # 0 for the first try of this candidate
    number: int
    started: float
    #: the provider of the previous attempt when this one moves on to another candidate
    fallback_from: str | None = None


@attrs.frozen
class AttemptEnded:
    """The attempt's outcome: ``result`` or ``error`` (never both)."""

    attempt: AttemptStarted
    duration: float
    result: GenerateResult | EmbeddingResult | None = None
    error: BaseException | None = None

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else type(self.error).__name__


@attrs.frozen
class StreamEventInfo:
    """An event of a stream as the caller receives it.

    ``chunk`` numbers output chunks (text, thoughts, tool calls) from 0 and is None for
    metadata; ``gap`` is the time since the previous chunk (None for the first).
    """

    request: RequestInfo
    event: StreamEvent = attrs.field(repr=False)
    at: float
    chunk: int | None
    gap: float | None


@attrs.frozen
class RequestSucceeded:
    request: RequestInfo
    result: GenerateResult | EmbeddingResult = attrs.field(repr=False)
    duration: float
    provider: str | None  # the attempt that served it
    provider_kind: str | None
    #: streams: seconds from the request to the first output chunk the caller received
    ttft: float | None = None
    #: streams: seconds from the first to the last output chunk, and how many chunks
    generation: float | None = None
    chunks: int = 0


@attrs.frozen
class RequestFailed:
    """The request ended without a result; ``cancelled`` when the caller gave up on it."""

    request: RequestInfo
    error: BaseException
    duration: float
    cancelled: bool = False
    provider: str | None = None  # of the last attempt, if any
    provider_kind: str | None = None
    ttft: float | None = None

    @property
    def error_type(self) -> str:
        return "cancelled" if self.cancelled else type(self.error).__name__


@attrs.frozen
class BreakerTransition:
    provider: str
    event: BreakerEvent


@attrs.frozen
class SupervisorEventInfo:
    """A supervision event of a provider actor (started, restarted, exited, gave up)."""

    provider: str
    event: object


@attrs.frozen
class LimiterWait:
    """An attempt waited ``seconds`` (possibly 0) for the rate limiter to admit it."""

    provider: str
    model: str
    seconds: float


class Observer:
    """Base class of hooks: override the methods you need; the others do nothing.

    Register with ``UnifiedOrchestrator(observers=[...])`` or ``orch.add_observer(...)``.
    """

    def on_request(self, request: RequestInfo) -> None:
        """A request was accepted (in the caller's task: its contextvars are current)."""

    def on_attempt(self, event: AttemptStarted | AttemptEnded) -> None:
        """An attempt started or ended."""

    def on_result(self, event: RequestSucceeded) -> None:
        """The request succeeded (for a stream: the caller read it to its end)."""

    def on_error(self, event: RequestFailed) -> None:
        """The request failed or was cancelled."""

    def on_stream_event(self, event: StreamEventInfo) -> None:
        """The caller received a stream event."""

    def on_breaker_transition(self, event: BreakerTransition) -> None:
        """A provider's circuit breaker changed state."""

    def on_supervisor_event(self, event: SupervisorEventInfo) -> None:
        """A provider actor was started, restarted, exited, or its supervisor gave up."""

    def on_limiter_wait(self, event: LimiterWait) -> None:
        """The rate limiter admitted an attempt (after a wait, possibly none)."""
