"""The provider actor: one incarnation of a provider.

It owns a fresh adapter (and so a fresh HTTP client), takes attempts from its bounded mailbox and
runs each in a task of its own nursery after the circuit breaker and the rate limiter admit it.
An unexpected exception (a bug in an adapter, a broken client) crashes the incarnation; every
attempt it held fails at once with :class:`~hafs_actors.errors.ActorCrashed` and its supervisor
starts a new one.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..actors import Actor, Envelope
from ..adapters.base import ProviderAdapter
from ..adapters.features import check_structured_output
from ..errors import (
    ProviderError,
    ProviderTimeoutError,
    StreamAbandoned,
    StreamInterruptedError,
    UnsupportedError,
)
from ..types import EmbeddingResult, GenerateResult, HealthStatus, Usage
from ._messages import EmbedCall, GenerateCall, HealthCall, ProviderMessage, StreamCall
from ._pump import StreamState, pump

if TYPE_CHECKING:
    from ._cell import ProviderCell

__all__ = ["ProviderActor"]


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
        # A stream keeps its own attempt scope, whose deadline is lifted once it commits.
        deadline = math.inf if isinstance(msg, (HealthCall, StreamCall)) else msg.deadline
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
        async with cell.admit(request.model, call.deadline, request) as adm:
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
        admission_ctx = cell.admit(request.model, call.deadline, request)
        state = StreamState()
        with trio.CancelScope(deadline=call.deadline) as attempt_scope:

            def lift(deadline: float) -> None:
                attempt_scope.deadline = deadline
                admission_ctx.deadline = deadline

            sink.lift_on_commit(lift)
            async with admission_ctx as admission:
                try:
                    async with self.adapter.stream(request) as events:
                        await pump(events, sink, state, call, start, cell.name)
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
        if attempt_scope.cancelled_caught:
            if sink.committed:
                raise StreamInterruptedError(
                    "stream passed its maximum duration",
                    partial_text=sink.text,
                    usage=state.usage,
                    provider=cell.name,
                    model=request.model,
                )
            raise self._timed_out(call)
        await sink.flush()
        usage = state.usage or Usage()
        result = GenerateResult(
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
            native=state.native,
        )
        # the stream was delivered already: a reply that does not validate fails this attempt
        return check_structured_output(request, result, provider=cell.name, model=request.model)
