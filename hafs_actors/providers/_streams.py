"""The provider side of a stream: the sink an attempt writes events into.

The provider actor's attempt task pushes events into a bounded memory channel (backpressure to
the provider read); when the chain ends, the router records the outcome (a result or a typed
error) in a :class:`StreamOutcome` and closes the channel.
"""

from __future__ import annotations

from typing import TypeAlias

import trio

from ..errors import HafsError, StreamAbandoned
from ..types import GenerateResult, StreamEvent, TextDelta, ThoughtDelta, ToolCallEvent

__all__ = ["StreamItem", "StreamOutcome", "StreamSink"]

StreamItem: TypeAlias = StreamEvent


class StreamOutcome:
    """Where the chain task leaves the end state of a stream before closing its channel."""

    __slots__ = ("error", "result")

    def __init__(self) -> None:
        self.result: GenerateResult | None = None
        self.error: HafsError | None = None


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
