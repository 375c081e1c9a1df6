"""The caller's side of a stream: :class:`StreamResponse`.

Iteration always ends in one of three states: complete, interrupted after some output
(:class:`StreamInterruptedError` with the partial text), or failed before any output
(:class:`AllProvidersFailed`). Never a silent truncation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import NoReturn

import trio

from ..providers import StreamItem, StreamOutcome
from ..types import GenerateResult, TextDelta

__all__ = ["StreamResponse"]


class StreamResponse:
    """Iterate for text deltas (``async for text in stream``), or ``events()`` for every event.

    After the iteration ends, :attr:`result` holds the complete :class:`GenerateResult` (content,
    usage, attempts, time to first token). Leaving the ``async with`` early cancels the request,
    which closes the upstream HTTP stream.
    """

    def __init__(
        self,
        receive: trio.MemoryReceiveChannel[StreamItem],
        outcome: StreamOutcome,
        cancel: Callable[[], None],
    ) -> None:
        self._receive = receive
        self._outcome = outcome
        self._cancel = cancel
        self._parts: list[str] = []
        self._done = False

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._parts)

    @property
    def result(self) -> GenerateResult:
        """The final result; only available once the stream has ended successfully."""
        if self._outcome.result is None:
            if self._outcome.error is not None:
                raise self._outcome.error
            raise RuntimeError("the stream has not finished yet; iterate it to the end first")
        return self._outcome.result

    async def _next_event(self) -> StreamItem:
        # Events already buffered are taken without a checkpoint each: one scheduling round per
        # batch the provider pushed, not per event.
        try:
            event = self._receive.receive_nowait()
        except trio.WouldBlock:
            event = await self._receive_blocking()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self._finish()
        if isinstance(event, TextDelta):
            self._parts.append(event.text)
        return event

    async def _receive_blocking(self) -> StreamItem:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self._finish()

    def _finish(self) -> NoReturn:
        self._done = True
        if self._outcome.error is not None:
            raise self._outcome.error from None
        raise StopAsyncIteration from None

    def __aiter__(self) -> StreamResponse:
        return self

    async def __anext__(self) -> str:
        while True:
            event = await self._next_event()
            if isinstance(event, TextDelta):
                return event.text

    def events(self) -> AsyncIterator[StreamItem]:
        """Every event (text, thoughts, tool calls, usage, finish) as it arrives."""
        return _EventIterator(self)

    async def collect(self) -> GenerateResult:
        """Read the stream to its end and return the final result."""
        async for _ in self:
            pass
        return self.result

    async def aclose(self) -> None:
        """Stop reading: cancels the request if it is still running."""
        self._cancel()
        await self._receive.aclose()


class _EventIterator:
    __slots__ = ("_stream",)

    def __init__(self, stream: StreamResponse) -> None:
        self._stream = stream

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> StreamItem:
        return await self._stream._next_event()
