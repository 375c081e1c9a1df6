"""The caller's stream, observed: a :class:`StreamResponse` that reports each event it hands
out and its end, so stream metrics measure what the caller actually received."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import trio

from ..orchestrator import StreamResponse
from ..providers import StreamItem, StreamOutcome

if TYPE_CHECKING:
    from ._dispatch import StreamWatch


class _ObservedStreamResponse(StreamResponse):
    def __init__(
        self,
        watch: StreamWatch,
        receive: trio.MemoryReceiveChannel[StreamItem],
        outcome: StreamOutcome,
        cancel: Callable[[], None],
    ) -> None:
        super().__init__(receive, outcome, cancel)
        self._watch = watch

    async def _next_event(self) -> StreamItem:
        event = await super()._next_event()
        self._watch.event(event)
        return event

    def _finish(self) -> NoReturn:
        self._watch.close()
        super()._finish()


def observed_stream_response(
    watch: StreamWatch,
    receive: trio.MemoryReceiveChannel[StreamItem],
    outcome: StreamOutcome,
    cancel: Callable[[], None],
) -> StreamResponse:
    return _ObservedStreamResponse(watch, receive, outcome, cancel)
