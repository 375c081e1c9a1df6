"""The blocking front end: the trio runtime in its own thread, called from plain threads.

::

    with hafs_actors.sync.Orchestrator(config) as orch:
        print(orch.generate("Write a haiku", tier="fast").content)

Every call starts a task in the runtime thread and blocks on a lock that the task releases. One
orchestrator serves any number of threads at once, and its breaker, limiter and connection
state lives as long as the ``with`` block, not one call. Ctrl-C in a waiting thread cancels its
call in the runtime and re-raises ``KeyboardInterrupt``. See docs/frontends.md.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

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


def _wait(lock: threading.Lock, on_interrupt: Callable[[], None]) -> None:
    """Block until ``lock`` is released by the runtime. Interrupted (Ctrl-C), call
    ``on_interrupt`` (which cancels the work in the runtime), wait for the runtime to finish
    unwinding, then let the interrupt propagate."""
    try:
        lock.acquire()
    except BaseException:
        on_interrupt()
        lock.acquire()
        raise


class _Call(Job[R]):
    """A call from a thread: the runtime job and the lock the thread blocks on."""

    __slots__ = ("lock", "runtime")

    def __init__(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        runtime: Runtime,
    ) -> None:
        super().__init__(fn, args, kwargs)
        self.lock = _locked()
        self.runtime = runtime

    def done(self) -> None:  # runtime thread
        self.runtime.later(self.lock.release)


def _in_runtime(
    get: Callable[[_Trio], Callable[P, Awaitable[R]]],
) -> Callable[Concatenate[Orchestrator, P], R]:
    """The blocking form of a trio-API coroutine method, with the same parameters."""

    def call(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(get(self._runtime.orchestrator), args, kwargs)

    mirror(call, get, "Orchestrator")
    return call


def _sync_in_runtime(
    get: Callable[[_Trio], Callable[P, R]], *, configures: bool = False
) -> Callable[Concatenate[Orchestrator, P], R]:
    """A synchronous trio-API method (status, configuration) reads or changes runtime state, so
    it runs in the runtime thread. A ``configures`` method called before the start applies at
    once, like the trio API's."""

    def call(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> R:
        method = get(self._runtime.orchestrator)
        before_start: list[R] = []
        if configures and self._runtime.configure(
            lambda: before_start.append(method(*args, **kwargs))
        ):
            return before_start[0]
        result: R = self._run(_now, (method, *args), kwargs)
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
            self._runtime, lambda feed: serve_stream(get(orchestrator)(*args, **kwargs), feed)
        )

    mirror(stream, get, "Orchestrator")
    return stream


def _fanning(
    get: Callable[[_Trio], Callable[P, Any]],
) -> Callable[Concatenate[Orchestrator, P], Fanout]:
    def fanout(self: Orchestrator, /, *args: P.args, **kwargs: P.kwargs) -> Fanout:
        orchestrator = self._runtime.orchestrator
        return Fanout(
            self._runtime, lambda feed: serve_fanout(get(orchestrator)(*args, **kwargs), feed)
        )

    mirror(fanout, get, "Orchestrator")
    return fanout


class Orchestrator:
    """:class:`~hafs_actors.UnifiedOrchestrator` for synchronous programs.

    Takes the same arguments. ``with Orchestrator(...) as orch:`` starts the trio runtime in a
    thread of its own and stops it at the end of the block (draining in-flight requests within
    the grace period, as the trio API does). Methods have the trio API's parameters, block the
    calling thread and raise the trio API's error types. Thread-safe: share one orchestrator
    between threads rather than making one per thread.
    """

    @forwards_to(_Trio)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runtime = Runtime(_Trio(*args, **kwargs))

    def __enter__(self) -> Orchestrator:
        self.initialize()
        return self

    def __exit__(self, etype: object, exc: BaseException | None, tb: object) -> None:
        self._close(raise_failure=exc is None)

    def initialize(self) -> None:
        """Start without ``with`` (an interactive session, say); :meth:`close` stops it."""
        ready = _locked()
        self._runtime.start(ready.release)
        try:
            ready.acquire()
        except BaseException:  # Ctrl-C while starting: stop again before it propagates
            self._close(raise_failure=False)
            raise
        if not self._runtime.serving:
            self._close(raise_failure=True)
            self._runtime.check()  # closed before it served: a typed error

    def close(self) -> None:
        """Stop the runtime: drain in-flight requests within the grace period, then cancel.

        Safe more than once, from any thread but the runtime's. Interrupted while draining, it
        cancels what is left and waits.
        """
        self._close(raise_failure=True)

    def _close(self, *, raise_failure: bool) -> None:
        runtime = self._runtime
        runtime.check_thread()
        exited = _locked()
        runtime.stop(exited.release)
        _wait(exited, lambda: runtime.stop(lambda: None, abort=True))
        runtime.join()
        if raise_failure and runtime.failure is not None:
            raise runtime.failure

    def _run(
        self, fn: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        call = _Call(fn, args, kwargs, self._runtime)
        self._runtime.submit(call)
        _wait(call.lock, lambda: self._runtime.cancel(call))
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


def _locked() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


class _Reader(Generic[T]):
    """The calling thread's side of a feed: a runtime job opens something and pumps its items
    here. One reader thread at a time."""

    def __init__(self, runtime: Runtime, serve: Callable[[Feed[T]], Awaitable[Any]]) -> None:
        self._runtime = runtime
        self._serve = serve
        self._feed: Feed[T] | None = None
        self._job: FeedJob[Any] | None = None
        self._woken = threading.Event()

    def _open(self) -> None:
        if self._feed is not None:
            raise FrontendError(f"this {type(self).__name__.lower()} was already entered")
        feed = self._feed = Feed(self._runtime, self._woken.set)
        self._job = FeedJob(self._serve, feed)
        self._runtime.submit(self._job)
        try:
            self._until(lambda: feed.opened or feed.ended)
        except BaseException:
            self.close()
            raise
        if not feed.opened:
            self._job.result()  # it failed to open: its typed error

    def close(self) -> None:
        """Stop: cancels the runtime job (and the upstream request) if it is still running."""
        feed, job = self._feed, self._job
        if feed is not None and job is not None and not feed.ended:
            self._runtime.cancel(job)
            self._until(lambda: feed.ended)

    def _next(self) -> T:
        feed = self._feed
        if feed is None:
            raise FrontendNotStarted(
                f"enter the {type(self).__name__.lower()} first: `with orch.stream(...) as s`"
            )
        while True:
            item = feed.take()
            if item is Signal.EMPTY:
                self._woken.clear()
                item = feed.take()  # look again after clearing: a wake in between is not lost
                if item is Signal.EMPTY:
                    self._woken.wait()
                    continue
            if item is Signal.END:
                assert self._job is not None
                self._job.result()  # raises how it failed
                raise StopIteration
            return item

    def _until(self, ready: Callable[[], bool]) -> None:
        while True:
            self._woken.clear()
            if ready():
                return
            self._woken.wait()


class Stream(_Reader[StreamEvent]):
    """The blocking form of :class:`~hafs_actors.StreamResponse`.

    ``with orch.stream(...) as stream: for text in stream:``, or ``stream.events()`` for every
    event. Leaving the block early cancels the request and closes the upstream connection. At
    most 64 events wait between the runtime and the reader: a slow reader slows the provider
    read.
    """

    def __init__(
        self, runtime: Runtime, serve: Callable[[Feed[StreamEvent]], Awaitable[Any]]
    ) -> None:
        super().__init__(runtime, serve)
        self._parts: list[str] = []

    def __enter__(self) -> Stream:
        self._open()
        return self

    def __exit__(self, etype: object, exc: object, tb: object) -> None:
        self.close()

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        while True:
            event = self._next_event()
            if isinstance(event, TextDelta):
                return event.text

    def _next_event(self) -> StreamEvent:
        event = self._next()
        if isinstance(event, TextDelta):
            self._parts.append(event.text)
        return event

    def events(self) -> Iterator[StreamEvent]:
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

    def collect(self) -> GenerateResult:
        """Read the stream to its end and return the final result."""
        for _ in self:
            pass
        return self.result


class _Events:
    __slots__ = ("_stream",)

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def __iter__(self) -> _Events:
        return self

    def __next__(self) -> StreamEvent:
        return self._stream._next_event()


class Fanout(_Reader[FanoutItem[Any, GenerateResult]]):
    """The blocking form of the trio API's fan-out: ``with orch.fanout(prompts, ...) as
    results: for item in results:``. Prompts are read in the runtime thread: pass a list or a
    generator that does not block."""

    def __init__(
        self,
        runtime: Runtime,
        serve: Callable[[Feed[FanoutItem[Any, GenerateResult]]], Awaitable[Any]],
    ) -> None:
        super().__init__(runtime, serve)
        self.completed = 0
        self.failed = 0

    def __enter__(self) -> Fanout:
        self._open()
        return self

    def __exit__(self, etype: object, exc: object, tb: object) -> None:
        self.close()

    def __iter__(self) -> Fanout:
        return self

    def __next__(self) -> FanoutItem[Any, GenerateResult]:
        item = self._next()
        self.completed += 1
        if item.error is not None:
            self.failed += 1
        return item
