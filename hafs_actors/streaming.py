"""The caller's side of a stream: :class:`StreamResponse`.

The provider actor's attempt task pushes events into a bounded memory channel; the caller reads
them here. When the chain ends, the router records the outcome (a :class:`GenerateResult` or a
typed error) and closes the channel, so iteration always ends in one of three states: complete,
interrupted after some output (:class:`StreamInterruptedError` with the partial text), or failed
before any output (:class:`AllProvidersFailed`). Never a silent truncation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import NoReturn, TypeAlias

import trio

from .errors import HafsError, StreamAbandoned
from .types import GenerateResult, StreamEvent, TextDelta, ThoughtDelta, ToolCallEvent

__all__ = ["StreamOutcome", "StreamResponse", "StreamSink"]

StreamItem: TypeAlias = StreamEvent


class StreamOutcome:
    """Where the chain task leaves the end state of a stream before closing its channel."""

    __slots__ = ("error", "result")

    def __init__(self) -> None:
        self.result: GenerateResult | None = None
        self.error: HafsError | None = None


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


class StreamSink:
    """The chain's gate between provider attempts and the caller's channel.

    Metadata events (start, usage, finish) are held back until the first content event, the
    moment the stream is *committed*: before it, a failed attempt is discarded without a trace
    and the next candidate starts clean; after it, fallback would change an answer already being
    read, so a failure ends the stream with :class:`StreamInterruptedError`.
    """

    __slots__ = ("_held", "_send", "committed", "parts")

    def __init__(self, send: trio.MemorySendChannel[StreamItem]) -> None:
        self._send = send
        self._held: list[StreamItem] = []
        self.committed = False
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def send(self, event: StreamItem) -> None:
        if isinstance(event, TextDelta):
            self.parts.append(event.text)
        elif not self.committed and not isinstance(event, (ThoughtDelta, ToolCallEvent)):
            self._held.append(event)
            return
        if not self.committed:
            self.committed = True
            held, self._held = self._held, []
            for item in held:
                await self._put(item)
        await self._put(event)

    async def _put(self, event: StreamItem) -> None:
        try:
            try:
                self._send.send_nowait(event)
            except trio.WouldBlock:
                await self._send.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise StreamAbandoned("the caller stopped reading the stream") from None

    async def flush(self) -> None:
        """End of a successful attempt: deliver whatever metadata is still held."""
        held, self._held = self._held, []
        for item in held:
            await self._put(item)

    def discard(self) -> None:
        """A failed attempt before commit: forget its held events."""
        self._held.clear()
