"""The provider side of a stream: the sink an attempt writes events into.

The provider actor's attempt task pushes events into a bounded memory channel (backpressure to
the provider read); when the chain ends, the router records the outcome (a result or a typed
error) in a :class:`StreamOutcome` and closes the channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeAlias

import trio

from ..errors import HafsError, StreamAbandoned
from ..types import (
    GenerateResult,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ToolCallDelta,
    ToolCallEvent,
)

__all__ = ["RacingSink", "StreamItem", "StreamOutcome", "StreamSink"]

StreamItem: TypeAlias = StreamEvent

#: the events that commit a stream: content the caller may act on (a tool-call delta too)
CONTENT_EVENTS = (TextDelta, ThoughtDelta, ToolCallDelta, ToolCallEvent)


class StreamOutcome:
    """Where the chain task leaves the end state of a stream before closing its channel."""

    __slots__ = ("error", "result")

    def __init__(self) -> None:
        self.result: GenerateResult | None = None
        self.error: HafsError | None = None


class StreamSink:
    """The chain's gate between provider attempts and the caller's channel.

    Metadata events (start, usage, turn, finish) are held back until the first content event
    (text, thought, tool-call delta or call), the moment the stream is *committed*: before it, a
    failed attempt is discarded without a trace and the next candidate starts clean; after it,
    fallback would change an answer already being read (or a tool call already begun), so a
    failure ends the stream with :class:`StreamInterruptedError`.

    Committing also lifts the deadlines of the request and of the attempt (registered with
    :meth:`lift_on_commit`): from then on a healthy stream is bounded only by its idle timeout
    and ``max_duration``.
    """

    __slots__ = ("_held", "_lift", "_send", "committed", "max_duration", "parts")

    def __init__(
        self, send: trio.MemorySendChannel[StreamItem], *, max_duration: float | None = None
    ) -> None:
        self._send = send
        self._held: list[StreamItem] = []
        self._lift: list[Callable[[float], None]] = []
        self.committed = False
        self.max_duration = max_duration
        self.parts: list[str] = []

    def lift_on_commit(self, set_deadline: Callable[[float], None]) -> None:
        """Call ``set_deadline(new)`` when the stream commits (at once if it already has)."""
        if self.committed:
            set_deadline(self._lifted_deadline())
        else:
            self._lift.append(set_deadline)

    def _lifted_deadline(self) -> float:
        if self.max_duration is None:
            return math.inf
        return trio.current_time() + self.max_duration

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def send(self, event: StreamItem) -> None:
        if isinstance(event, TextDelta):
            self.parts.append(event.text)
        elif not self.committed and not isinstance(event, CONTENT_EVENTS):
            self._held.append(event)
            return
        if not self.committed:
            self.committed = True
            deadline = self._lifted_deadline()
            for set_deadline in self._lift:
                set_deadline(deadline)
            self._lift.clear()
            held, self._held = self._held, []
            for item in held:
                await self._put(item)
        await self._put(event)

    def send_nowait(self, event: StreamItem) -> bool:
        """Deliver ``event`` at once if the stream is committed and the channel has room: the
        common case, which needs no pause of the idle timeout. False: use :meth:`send`."""
        if not self.committed or type(self) is not StreamSink:
            return False
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise StreamAbandoned("the caller stopped reading the stream") from None
        if isinstance(event, TextDelta):
            self.parts.append(event.text)
        return True

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


class RacingSink(StreamSink):
    """One contender of a hedged stream: it writes to the shared sink's channel only if it is
    the first to produce content.

    Until its first content event it holds everything, like any sink; at that event it claims
    the race (``on_win`` cancels the other contender) and commits the shared sink, whose
    deadline lifts then apply. A contender that finds the race already won gives up with
    :class:`StreamAbandoned` (never a provider failure).
    """

    __slots__ = ("_on_win", "_shared")

    def __init__(self, shared: StreamSink, on_win: Callable[[], None]) -> None:
        super().__init__(shared._send, max_duration=shared.max_duration)
        self._shared = shared
        self._on_win = on_win

    async def send(self, event: StreamItem) -> None:
        if not self.committed and isinstance(event, CONTENT_EVENTS):
            if self._shared.committed:
                raise StreamAbandoned("another contender of the hedge produced content first")
            self._on_win()
            # the shared sink is committed by this contender: its lifts run now
            self._shared.committed = True
            self._lift.extend(self._shared._lift)
            self._shared._lift.clear()
        await super().send(event)
        if isinstance(event, TextDelta):
            self._shared.parts.append(event.text)
