"""Concurrent fan-out with bounded memory.

``async with orch.fanout(prompts, concurrency=100) as results: async for item in results:``
runs up to ``concurrency`` requests at once and yields each :class:`FanoutItem` as it completes
(or in input order with ``ordered=True``). Inputs are pulled lazily from any iterable or async
iterable, and a new request starts only when a finished one has been handed to the consumer, so
100,000 prompts never mean 100,000 tasks or results in memory: at most ``concurrency`` requests
are in flight and at most ``concurrency`` finished items wait to be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import attrs
import trio

from .._groups import unwrap_single_exception
from ..errors import HafsError

__all__ = ["FanoutItem", "FanoutResults", "open_fanout"]

T = TypeVar("T")
_CLOSE_GRACE = 5.0  # seconds an async input may take to close when the fan-out stops early
R = TypeVar("R")


@attrs.frozen
class FanoutItem(Generic[T, R]):
    """One input's outcome: exactly one of ``result`` and ``error`` is set."""

    index: int
    input: T
    result: R | None = None
    error: HafsError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> R:
        """The result, or raise the typed error."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class FanoutResults(Generic[T, R]):
    """Async iterator of :class:`FanoutItem`; each consumed item frees room for the next input."""

    def __init__(
        self,
        receive: trio.MemoryReceiveChannel[FanoutItem[T, R]],
        slots: trio.Semaphore,
        ordered: bool,
    ) -> None:
        self._receive = receive
        self._slots = slots
        self._ordered = ordered
        self._pending: dict[int, FanoutItem[T, R]] = {}
        self._next = 0
        self.completed = 0
        self.failed = 0

    def __aiter__(self) -> FanoutResults[T, R]:
        return self

    async def __anext__(self) -> FanoutItem[T, R]:
        if self._ordered:
            while self._next not in self._pending:
                self._pending_put(await self._receive_one())
            item = self._pending.pop(self._next)
            self._next += 1
        else:
            item = await self._receive_one()
        self._slots.release()
        self.completed += 1
        if item.error is not None:
            self.failed += 1
        return item

    def _pending_put(self, item: FanoutItem[T, R]) -> None:
        self._pending[item.index] = item

    async def _receive_one(self) -> FanoutItem[T, R]:
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


async def _close_input(iterator: AsyncIterator[object]) -> None:
    """Close an async input we stopped reading early (an async generator's cleanup runs now,
    not whenever it is garbage collected)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with trio.move_on_after(_CLOSE_GRACE) as scope:
            scope.shield = True
            await aclose()


@asynccontextmanager
async def open_fanout(
    submit: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    concurrency: int,
    ordered: bool = False,
) -> AsyncIterator[FanoutResults[T, R]]:
    """Run ``submit`` over ``items`` with at most ``concurrency`` in flight.

    Typed errors (:class:`HafsError`) become the item's ``error``; anything else is a bug and
    propagates. Leaving the block early cancels whatever is still running.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    # Ordered mode may hold finished items back behind a slow head; a window of 2x concurrency
    # keeps the pipeline busy without letting the reorder buffer grow without bound.
    window = concurrency * 2 if ordered else concurrency
    slots = trio.Semaphore(window)
    in_flight = trio.CapacityLimiter(concurrency)
    send, receive = trio.open_memory_channel[FanoutItem[T, R]](window)

    async def run_one(index: int, item: T) -> None:
        try:
            try:
                value = await submit(item)
            except HafsError as exc:
                outcome: FanoutItem[T, R] = FanoutItem(index=index, input=item, error=exc)
            else:
                outcome = FanoutItem(index=index, input=item, result=value)
        finally:
            in_flight.release_on_behalf_of(index)
        send.send_nowait(outcome)

    async def produce() -> None:
        # No async generator of our own between the input and the workers: one suspended in
        # a cancelled nursery would be left for the garbage collector to finalize.
        async with send, trio.open_nursery() as workers:
            index = 0

            async def start(item: T) -> None:
                nonlocal index
                await slots.acquire()
                await in_flight.acquire_on_behalf_of(index)
                workers.start_soon(run_one, index, item)
                index += 1

            if isinstance(items, AsyncIterable):
                iterator = items.__aiter__()
                try:
                    async for item in iterator:
                        await start(item)
                finally:
                    await _close_input(iterator)
            else:
                for item in items:
                    await start(item)

    async with unwrap_single_exception(), trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        try:
            yield FanoutResults(receive, slots, ordered)
        finally:
            nursery.cancel_scope.cancel()
