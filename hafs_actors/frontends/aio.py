"""The asyncio front end: the trio runtime in its own thread, awaited from any asyncio loop.

::

    async with hafs_actors.aio.Orchestrator(config) as orch:
        result = await orch.generate("Write a haiku", tier="fast")

Every call starts a task in the runtime thread and awaits a future that the task resolves
through ``loop.call_soon_threadsafe``: the loop never blocks on the runtime, and cancelling the
awaiting asyncio task cancels the runtime task (and so the upstream request). See
docs/frontends.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import trio

from .. import FanoutItem, GenerateResult, StreamEvent, StreamResponse, TextDelta
from .. import UnifiedOrchestrator as _Trio
from ._runtime import (
    Feed,
    FeedJob,
    Job,
    Runtime,
    Signal,
    forwards_to,
    mirror,
    serve_fanout,
    serve_stream,
)
from .errors import FrontendError, FrontendNotStarted

__all__ = ["Fanout", "Orchestrator", "Stream"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Post:
    """Callbacks from the runtime thread to one asyncio loop, run in one loop callback per
    runtime batch: one wake-up of the loop (a self-pipe write, which also hands the GIL over)
    per batch of completions, not per call."""

    __slots__ = ("_queue", "_runtime", "_scheduled", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, runtime: Runtime) -> None:
        self.loop = loop
        self._runtime = runtime
        self._queue: deque[Callable[[], None]] = deque()
        self._scheduled = False

    def __call__(self, fn: Callable[[], None]) -> None:  # runtime thread
        self._queue.append(fn)
        if not self._scheduled:
            self._scheduled = True
            self._runtime.later(self._notify)

    def _notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self.loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        self._scheduled = False  # first: a callback posted from now on schedules a new round
        queue = self._queue
        while queue:
            queue.popleft()()


class _Wakeup:
    """Wakes an asyncio waiter from any thread; stays set once set."""

    __slots__ = ("_future", "_post", "is_set", "loop")

    def __init__(self, post: _Post) -> None:
        self._post = post
        self.loop = post.loop
        self._future: asyncio.Future[None] = self.loop.create_future()
        self.is_set = False

    def set(self, *_: object) -> None:
        self._post(self._set)

    def _set(self) -> None:
        self.is_set = True
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        if self.is_set:
            return
        if self._future.done():  # an earlier wait was cancelled
            self._future = self.loop.create_future()
        await self._future


class _Call(Job[R]):
    """A call from an asyncio task: the runtime job and the future the task awaits."""

    __slots__ = ("finished", "future", "post")

    def __init__(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        post: _Post,
    ) -> None:
        super().__init__(fn, args, kwargs)
        self.post = post
        self.future: asyncio.Future[None] = post.loop.create_future()
        self.finished = False

    def done(self) -> None:  # runtime thread
        self.post(self._resolve)

    def _resolve(self) -> None:
        self.finished = True
        if not self.future.done():
            self.future.set_result(None)


def _in_runtime(
    get: Callable[[_Trio], Callable[P, Awaitable[R]]],
) -> Callable[Concatenate[Orchestrator, P], Coroutine[Any, Any, R]]:
    """The asyncio form of a trio-API coroutine method, with the same parameters."""

    async def call(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(get(self._runtime.orchestrator), args, kwargs)

    mirror(call, get, "Orchestrator")
    return call


def _sync_in_runtime(
    get: Callable[[_Trio], Callable[P, R]], *, configures: bool = False
) -> Callable[Concatenate[Orchestrator, P], Coroutine[Any, Any, R]]:
    """A synchronous trio-API method (status, configuration) reads or changes runtime state, so
    it runs in the runtime thread, awaited so that the loop never blocks on the crossing. A
    ``configures`` method called before the start applies at once, like the trio API's."""

    async def call(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> R:
        method = get(self._runtime.orchestrator)
        before_start: list[R] = []
        if configures and self._runtime.configure(
            lambda: before_start.append(method(*args, **kwargs))
        ):
            return before_start[0]
        result: R = await self._run(_now, (method, *args), kwargs)
        return result

    mirror(call, get, "Orchestrator")
    return call


async def _now(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return fn(*args, **kwargs)


def _streaming(
    get: Callable[[_Trio], Callable[P, AbstractAsyncContextManager[StreamResponse]]],
) -> Callable[Concatenate[Orchestrator, P], Stream]:
    def stream(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> Stream:
        orchestrator = self._runtime.orchestrator
        return Stream(
            self._runtime,
            self._post_here,
            lambda feed: serve_stream(get(orchestrator)(*args, **kwargs), feed),
        )

    mirror(stream, get, "Orchestrator")
    return stream


def _fanning(
    get: Callable[[_Trio], Callable[P, Any]],
) -> Callable[Concatenate[Orchestrator, P], Fanout]:
    def fanout(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> Fanout:
        orchestrator = self._runtime.orchestrator

        def opening(loop: asyncio.AbstractEventLoop) -> Any:
            # asyncio inputs are read on the caller's loop, whatever their parameter's name
            call: Callable[..., Any] = get(orchestrator)
            return call(
                *(_LoopInput.wrap(a, loop) for a in args),
                **{k: _LoopInput.wrap(v, loop) for k, v in kwargs.items()},
            )

        return Fanout(self._runtime, self._post_here, opening)

    mirror(fanout, get, "Orchestrator")
    return fanout


class Orchestrator:
    """:class:`~hafs_actors.UnifiedOrchestrator` for asyncio programs.

    Takes the same arguments. ``async with Orchestrator(...) as orch:`` starts the trio runtime
    in a thread of its own and stops it at the end of the block (draining in-flight requests
    within the grace period, as the trio API does). Methods have the trio API's parameters and
    raise its error types; the synchronous ones (``status``, ``register_adapter``,
    ``set_tier_route``, ``add_observer``) are awaited here, because they run in the runtime
    thread.
    """

    @forwards_to(_Trio)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runtime = Runtime(_Trio(*args, **kwargs))
        self._post: _Post | None = None

    def _post_here(self) -> _Post:
        """The running loop's post (kept for the loop used last)."""
        loop = asyncio.get_running_loop()
        post = self._post
        if post is None or post.loop is not loop:
            post = self._post = _Post(loop, self._runtime)
        return post

    def _wakeup(self) -> _Wakeup:
        return _Wakeup(self._post_here())

    async def __aenter__(self) -> Orchestrator:
        await self.initialize()
        return self

    async def __aexit__(self, etype: object, exc: BaseException | None, tb: object) -> None:
        await self._close(raise_failure=exc is None)

    async def initialize(self) -> None:
        """Start without ``async with`` (a notebook cell, say); :meth:`aclose` stops it."""
        ready = self._wakeup()
        self._runtime.start(ready.set)
        try:
            await ready.wait()
        except asyncio.CancelledError:
            await self._close(raise_failure=False)
            raise
        if not self._runtime.serving:
            await self._close(raise_failure=True)
            self._runtime.check()  # closed before it served: a typed error

    async def aclose(self) -> None:
        """Stop the runtime: drain in-flight requests within the grace period, then cancel.

        Safe more than once. Cancelled while draining, it cancels what is left and waits.
        """
        await self._close(raise_failure=True)

    async def _close(self, *, raise_failure: bool) -> None:
        runtime = self._runtime
        runtime.check_thread()
        exited = self._wakeup()
        runtime.stop(exited.set)
        try:
            await exited.wait()
        except asyncio.CancelledError:
            runtime.stop(exited.set, abort=True)
            await exited.wait()
            raise
        runtime.join()
        if raise_failure and runtime.failure is not None:
            raise runtime.failure

    async def _run(
        self, fn: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        call = _Call(fn, args, kwargs, self._post_here())
        loop = call.post.loop
        self._runtime.submit(call, defer=loop.call_soon)
        try:
            await call.future
        except asyncio.CancelledError:
            if not call.finished:
                call.future = loop.create_future()
                self._runtime.cancel(call)
                await call.future  # the runtime task has unwound: the upstream request is closed
            raise
        return call.result()

    generate = _in_runtime(lambda o: o.generate)
    embed = _in_runtime(lambda o: o.embed)
    embeddings = _in_runtime(lambda o: o.embeddings)
    generate_many = _in_runtime(lambda o: o.generate_many)
    health = _in_runtime(lambda o: o.health)
    stream = _streaming(lambda o: o.stream)
    fanout = _fanning(lambda o: o.fanout)
    status = _sync_in_runtime(lambda o: o.status)
    register_adapter = _sync_in_runtime(lambda o: o.register_adapter, configures=True)
    set_tier_route = _sync_in_runtime(lambda o: o.set_tier_route, configures=True)
    add_observer = _sync_in_runtime(lambda o: o.add_observer, configures=True)


class _Reader(Generic[T]):
    """The loop's side of a feed: a runtime job opens something and pumps its items here."""

    def __init__(self, runtime: Runtime, post_here: Callable[[], _Post]) -> None:
        self._runtime = runtime
        self._post_here = post_here
        self._post: _Post | None = None
        self._feed: Feed[T] | None = None
        self._job: FeedJob[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._wake_pending = False

    async def _open(self, serve: Callable[[Feed[T]], Awaitable[Any]]) -> None:
        if self._feed is not None:
            raise FrontendError(f"this {type(self).__name__.lower()} was already entered")
        post = self._post = self._post_here()
        feed = self._feed = Feed(self._runtime, self._wake)
        self._job = FeedJob(serve, feed)
        self._runtime.submit(self._job, defer=post.loop.call_soon)
        try:
            await self._until(lambda: feed.opened or feed.ended)
        except asyncio.CancelledError:
            await self.aclose()
            raise
        if not feed.opened:
            self._job.result()  # it failed to open: its typed error

    async def aclose(self) -> None:
        """Stop: cancels the runtime job (and the upstream request) if it is still running."""
        feed, job = self._feed, self._job
        if feed is not None and job is not None and not feed.ended:
            self._runtime.cancel(job)
            await self._until(lambda: feed.ended)

    async def _next(self) -> T:
        feed = self._feed
        if feed is None:
            raise FrontendNotStarted(
                f"enter the {type(self).__name__.lower()} first: `async with orch.stream(...) as s`"
            )
        while True:
            item = feed.take()
            if item is Signal.EMPTY:
                await self._sleep()
            elif item is Signal.END:
                assert self._job is not None
                self._job.result()  # raises how it failed
                raise StopAsyncIteration
            else:
                return item

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._sleep()

    async def _sleep(self) -> None:
        assert self._post is not None
        self._waiter = self._post.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:  # runtime thread
        if not self._wake_pending:
            self._wake_pending = True
            assert self._post is not None
            self._post(self._woken)

    def _woken(self) -> None:
        self._wake_pending = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Stream(_Reader[StreamEvent]):
    """The asyncio form of :class:`~hafs_actors.StreamResponse`.

    ``async with orch.stream(...) as stream: async for text in stream:``, or
    ``stream.events()`` for every event. Reads are cancel-safe (a cancelled read loses
    nothing); leaving the block early, or cancelling the task in it, cancels the request and
    closes the upstream connection. At most 64 events wait between the runtime and the reader:
    a slow reader slows the provider read.
    """

    def __init__(
        self,
        runtime: Runtime,
        post_here: Callable[[], _Post],
        serve: Callable[[Feed[StreamEvent]], Awaitable[Any]],
    ) -> None:
        super().__init__(runtime, post_here)
        self._serve = serve
        self._parts: list[str] = []

    async def __aenter__(self) -> Stream:
        await self._open(self._serve)
        return self

    async def __aexit__(self, etype: object, exc: object, tb: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> str:
        while True:
            event = await self._next_event()
            if isinstance(event, TextDelta):
                return event.text

    async def _next_event(self) -> StreamEvent:
        event = await self._next()
        if isinstance(event, TextDelta):
            self._parts.append(event.text)
        return event

    def events(self) -> AsyncIterator[StreamEvent]:
        """Every event (text, thoughts, tool calls, usage, finish) as it arrives."""
        return _Events(self)

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._parts)

    @property
    def result(self) -> GenerateResult:
        """The final result; only available once the stream has ended successfully."""
        job = self._job
        if job is not None and self._feed is not None and self._feed.ended:
            result: GenerateResult | None = job.result()
            if result is not None:
                return result
        raise RuntimeError("the stream has not finished; iterate it to the end first")

    async def collect(self) -> GenerateResult:
        """Read the stream to its end and return the final result."""
        async for _ in self:
            pass
        return self.result


class _Events:
    __slots__ = ("_stream",)

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._stream._next_event()


class Fanout(_Reader[FanoutItem[Any, GenerateResult]]):
    """The asyncio form of the trio API's fan-out: ``async with orch.fanout(prompts, ...) as
    results: async for item in results:``.

    Prompts may be a plain iterable (read in the runtime thread: keep it non-blocking) or an
    async iterable, which is read on the caller's loop, in the caller's context.
    """

    def __init__(
        self,
        runtime: Runtime,
        post_here: Callable[[], _Post],
        opening: Callable[[asyncio.AbstractEventLoop], Any],
    ) -> None:
        super().__init__(runtime, post_here)
        self._opening = opening
        self.completed = 0
        self.failed = 0

    async def __aenter__(self) -> Fanout:
        opening = self._opening(asyncio.get_running_loop())
        await self._open(lambda feed: serve_fanout(opening, feed))
        return self

    async def __aexit__(self, etype: object, exc: object, tb: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Fanout:
        return self

    async def __anext__(self) -> FanoutItem[Any, GenerateResult]:
        item = await self._next()
        self.completed += 1
        if item.error is not None:
            self.failed += 1
        return item


class _LoopInput:
    """An asyncio async iterable as the runtime reads it: each step runs as a task on the
    caller's loop, in the caller's context, and is cancelled if the runtime side is."""

    def __init__(self, source: AsyncIterable[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._iterator = source.__aiter__()
        self._loop = loop
        self._context = contextvars.copy_context()

    @classmethod
    def wrap(cls, value: object, loop: asyncio.AbstractEventLoop) -> object:
        return cls(value, loop) if isinstance(value, AsyncIterable) else value

    def __aiter__(self) -> _LoopInput:
        return self

    async def __anext__(self) -> Any:
        return await self._step(self._iterator.__anext__)

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await self._step(aclose)

    async def _step(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        tasks: list[asyncio.Task[Any]] = []

        def done(_: object) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finished.set)

        async def step() -> Any:
            return await fn()

        def start() -> None:
            task = self._context.run(self._loop.create_task, step())
            task.add_done_callback(done)
            tasks.append(task)

        self._loop.call_soon_threadsafe(start)
        try:
            await finished.wait()
        except trio.Cancelled:
            self._loop.call_soon_threadsafe(lambda: tasks[0].cancel())
            raise
        return tasks[0].result()
