"""Test doubles for users' own tests: adapters that need no key, no network and no emulator.

- :class:`ScriptedAdapter` plays a list of outcomes, one per call: a reply text, a full
  :class:`~hafs_actors.types.GenerateResult`, an exception to raise (a typed provider error
  to exercise fallback, or any other exception to crash the provider actor), or a
  :class:`Delay` before the next outcome. It records every request it was sent.
- :class:`FunctionAdapter` calls a function of the request, for replies that depend on it;
  a stream function makes it stream.

Both speak the native adapter protocol (:class:`~hafs_actors.adapters.NativeAdapter`), so
``orch.register_adapter("fake", ScriptedAdapter(["hi"]))`` routes to them like any provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TypeAlias

import attrs
import trio

from ..adapters.custom import NativeAdapter
from ..errors import ProviderError
from ..types import (
    EmbeddingResult,
    EmbedRequest,
    FinishEvent,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    StreamEvent,
    StreamStart,
    TextDelta,
)

__all__ = ["Delay", "FunctionAdapter", "Outcome", "ScriptedAdapter"]


@attrs.frozen
class Delay:
    """Wait this many seconds (trio's clock, so MockClock-friendly) before the next outcome."""

    seconds: float


Outcome: TypeAlias = str | GenerateResult | BaseException | Delay


class ScriptedAdapter(NativeAdapter):
    """Answers each call with the next scripted outcome; the last one repeats.

    ``outcomes`` may mix reply texts, results, exceptions and :class:`Delay`. A stream splits a
    text reply into words. ``requests`` holds every request received, in order.
    """

    supports_streaming = True
    supports_embeddings = True

    def __init__(self, outcomes: Iterable[Outcome], *, provider: str = "scripted") -> None:
        self._outcomes = list(outcomes)
        if not any(not isinstance(o, Delay) for o in self._outcomes):
            raise ValueError("ScriptedAdapter needs at least one outcome besides delays")
        self._next = 0
        self.provider = provider
        self.requests: list[GenerateRequest | EmbedRequest] = []

    async def _outcome(self) -> str | GenerateResult:
        while True:
            index = min(self._next, len(self._outcomes) - 1)
            self._next += 1
            outcome = self._outcomes[index]
            if isinstance(outcome, Delay):
                await trio.sleep(outcome.seconds)
                if index == len(self._outcomes) - 1:
                    raise ValueError("a ScriptedAdapter script cannot end with a Delay")
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

    def _result(self, outcome: str | GenerateResult, request: GenerateRequest) -> GenerateResult:
        if isinstance(outcome, GenerateResult):
            return outcome
        return GenerateResult(content=outcome, provider=self.provider, model=request.model)

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        self.requests.append(request)
        return self._result(await self._outcome(), request)

    @asynccontextmanager
    async def stream(self, request: GenerateRequest) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        self.requests.append(request)
        result = self._result(await self._outcome(), request)
        yield _events(result)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        self.requests.append(request)
        await self._outcome()
        return EmbeddingResult(
            vectors=[[float(len(t)), 1.0] for t in request.texts],
            provider=self.provider,
            model=request.model,
        )


async def _events(result: GenerateResult) -> AsyncIterator[StreamEvent]:
    yield StreamStart(model=result.model)
    words = result.content.split(" ")
    for i, word in enumerate(words):
        yield TextDelta(text=word if i == len(words) - 1 else word + " ")
    yield FinishEvent(finish_reason=result.finish_reason)


GenerateFunction: TypeAlias = Callable[[GenerateRequest], Awaitable[GenerateResult | str]]
StreamFunction: TypeAlias = Callable[[GenerateRequest], AsyncIterator[StreamEvent | str]]


class FunctionAdapter(NativeAdapter):
    """Answers with ``generate(request)``; streams with ``stream(request)`` when given.

    ``generate`` may return a text or a result and may raise (a :class:`ProviderError`
    subclass to exercise fallback). ``stream`` is an async generator of events or texts.
    """

    supports_embeddings = False

    def __init__(
        self,
        generate: GenerateFunction,
        *,
        stream: StreamFunction | None = None,
        provider: str = "function",
    ) -> None:
        self._generate = generate
        self._stream = stream
        self.provider = provider
        self.supports_streaming = stream is not None

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        reply = await self._generate(request)
        if isinstance(reply, str):
            return GenerateResult(content=reply, provider=self.provider, model=request.model)
        return reply

    @asynccontextmanager
    async def stream(self, request: GenerateRequest) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        if self._stream is None:
            raise ProviderError(
                "this FunctionAdapter has no stream function",
                provider=self.provider,
                model=request.model,
            )
        yield _texts_to_events(self._stream(request), request.model)


async def _texts_to_events(
    items: AsyncIterator[StreamEvent | str], model: str
) -> AsyncIterator[StreamEvent]:
    started = False
    finished = False
    async for item in items:
        if not started and not isinstance(item, StreamStart):
            yield StreamStart(model=model)
        started = True
        if isinstance(item, FinishEvent):
            finished = True
        yield TextDelta(text=item) if isinstance(item, str) else item
    if not started:
        yield StreamStart(model=model)
    if not finished:
        yield FinishEvent(finish_reason=FinishReason.STOP)
