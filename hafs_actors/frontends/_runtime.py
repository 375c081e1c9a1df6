"""The runtime thread behind the front ends: one ``trio.run`` that owns a UnifiedOrchestrator.

Callers in other threads (an asyncio loop, plain threads) never touch trio objects. They hand
the runtime a :class:`Job` through the trio token's portal (``TrioToken.run_sync_soon``, the
primitive under ``trio.from_thread``); the job runs as a task of the runtime's job nursery, in
a copy of the caller's context, and its ``done`` wakes the caller (resolves an asyncio future,
releases a lock). Streams and fan-outs are long-lived jobs that push items through a
:class:`Feed`, bounded by credits the reader gives back as it reads.

Crossing threads is batched both ways (an inbox of jobs; wake-ups held until the runtime runs
out of work): each crossing is a syscall that hands the GIL to the other thread, and one per
call made the two threads trade the GIL for every request.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import functools
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, cast

import trio

from .. import GenerateResult, StreamEvent, StreamResponse, UnifiedOrchestrator
from .errors import FrontendClosed, FrontendError, FrontendNotStarted, RuntimeThreadError

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "Feed",
    "FeedJob",
    "Job",
    "Runtime",
    "Signal",
    "forwards_to",
    "mirror",
    "serve_fanout",
    "serve_stream",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Items a feed's producer may be ahead of its reader: the bound on what sits between threads.
FEED_WINDOW = 64


def _now(fn: Callable[[], None]) -> None:
    fn()


class State(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    CLOSED = "closed"


class Runtime:
    """One daemon thread running ``trio.run``: the orchestrator's tree plus a nursery of jobs.

    ``start``, ``stop``, ``submit`` and ``cancel`` are thread-safe; the callbacks they take run
    in the runtime thread and must only hand the news to the caller's thread.
    """

    def __init__(self, orchestrator: UnifiedOrchestrator) -> None:
        self.orchestrator = orchestrator
        self.state = State.NEW
        self.failure: BaseException | None = None
        self.ident: int | None = None
        self._lock = threading.Lock()
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._inbox: deque[Job[Any]] = deque()
        self._inbox_scheduled = False
        self._on_ready: Callable[[], None] | None = None
        self._on_exit: list[Callable[[], None]] = []
        # runtime thread only
        self._notifier: _Notifier | None = None
        self._jobs: trio.Nursery | None = None
        self._stop = trio.Event()
        self._scope = trio.CancelScope()

    # --- lifecycle (any thread) -----------------------------------------------------------------

    def start(self, on_ready: Callable[[], None]) -> None:
        """Start the thread; ``on_ready`` runs once the orchestrator serves requests, or once
        the thread ends without having got there (``failure`` then says why)."""
        self.check_thread()
        with self._lock:
            if self.state is not State.NEW:
                raise self._state_error("start")
            self.state = State.STARTING
            self._on_ready = on_ready
        self._thread = threading.Thread(target=self._main, name="hafs-runtime", daemon=True)
        self._thread.start()

    def stop(self, on_exit: Callable[[], None], *, abort: bool = False) -> None:
        """Close: no new jobs; in-flight requests drain within the orchestrator's grace period
        (``abort``: cancelled at once). ``on_exit`` runs as the thread's last act."""
        with self._lock:
            if self.state is State.NEW:
                self.state = State.CLOSED
            finished = self.state is State.CLOSED
            if not finished:
                self._on_exit.append(on_exit)
            self._stopping = True
            token = self._token
        if finished:
            on_exit()
        elif token is not None:
            self._call_soon(token, self._scope.cancel if abort else self._stop.set)

    def configure(self, change: Callable[[], None]) -> bool:
        """Apply ``change`` here and now if the runtime has not started (so the tree is built
        with it); False once it has, when changes must run in the runtime thread."""
        with self._lock:
            if self.state is not State.NEW:
                return False
            change()
            return True

    def join(self) -> None:
        """Wait for the thread to return (it has, or is about to: call after ``on_exit``)."""
        if self._thread is not None:
            self._thread.join()

    @property
    def serving(self) -> bool:
        return self.state is State.RUNNING and not self._stopping

    def check_thread(self) -> None:
        if threading.get_ident() == self.ident:
            raise RuntimeThreadError(
                "a front-end orchestrator was called from its own runtime thread, which would "
                "wait for itself; code running in the runtime (a custom adapter) is trio code "
                "and must not call the front end"
            )

    def check(self) -> None:
        """Raise the typed error for a call that cannot be served now."""
        self.check_thread()
        if not self.serving:
            raise self._state_error("use")

    def _state_error(self, action: str) -> FrontendError:
        if self.state in (State.NEW, State.STARTING) and not self._stopping:
            if action == "start":
                return FrontendError("this orchestrator is already starting; it starts once")
            return FrontendNotStarted(
                "the orchestrator is not running yet: use `with` / `async with` "
                "(or initialize()) first"
            )
        if self.state is State.RUNNING and not self._stopping:
            return FrontendError("this orchestrator is already running; it starts once")
        detail = f": the runtime failed with {self.failure!r}" if self.failure else ""
        return FrontendClosed(f"the orchestrator is closed{detail}")

    # --- jobs (any thread) ----------------------------------------------------------------------

    def submit(
        self, job: Job[Any], *, defer: Callable[[Callable[[], None]], object] = _now
    ) -> None:
        """Run ``job`` in the runtime; its ``done`` fires exactly once.

        Jobs queue in an inbox that the runtime empties in one callback: one wake-up of the
        runtime thread per batch of calls, not per call. An asyncio caller passes
        ``defer=loop.call_soon`` so that every call its loop makes in one iteration shares the
        wake-up (each wake-up is a syscall that hands the GIL to the other thread).
        """
        self.check()
        self._inbox.append(job)
        if not self._inbox_scheduled:
            self._inbox_scheduled = True
            defer(self._kick)

    def _kick(self) -> None:
        token = self._token
        try:
            if token is None:
                raise trio.RunFinishedError
            token.run_sync_soon(self._spawn_inbox)
        except trio.RunFinishedError:  # it ended since submit(): fail what nobody will spawn
            self._inbox_scheduled = False
            while self._inbox:
                self._fail(self._inbox.popleft())

    def cancel(self, job: Job[Any]) -> None:
        """Cancel ``job`` (its ``done`` still fires, when it has unwound)."""
        token = self._token
        if token is not None:
            self._call_soon(token, job.cancel)

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Run a quick synchronous ``fn`` in the runtime thread, if it is still running."""
        token = self._token
        if token is not None:
            self._call_soon(token, fn, *args)

    def later(self, notify: Callable[[], None]) -> None:
        """Run ``notify`` (which wakes a caller's thread) when the runtime next runs out of
        work, at most :data:`NOTIFY_DELAY` from now; at once if the runtime has stopped.

        Every wake-up of another thread is a syscall that lets the woken thread take the GIL,
        and on a busy core the two threads would then trade it for every completion; deferred
        to the idle moment, one wake-up carries everything done since. (Outside the runtime
        thread, which happens only once the runtime is ending, it notifies at once.)
        """
        notifier = self._notifier
        if notifier is None or threading.get_ident() != self.ident:
            notify()
        else:
            notifier.add(notify)

    @staticmethod
    def _call_soon(token: trio.lowlevel.TrioToken, fn: Callable[..., object], *args: Any) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # over: nothing to cancel or wake
            token.run_sync_soon(fn, *args)

    # --- runtime thread -------------------------------------------------------------------------

    def _main(self) -> None:
        self.ident = threading.get_ident()
        notifier = self._notifier = _Notifier()
        try:
            trio.run(self._serve, instruments=[notifier])
        except BaseException as exc:  # the thread's only way to report: stored for the caller
            self.failure = _unwrap(exc)
        finally:
            self._notifier = None
            notifier.flush()
            with self._lock:
                self.state = State.CLOSED
                self._token = None
                on_ready, self._on_ready = self._on_ready, None
                on_exit, self._on_exit = self._on_exit, []
            if on_ready is not None:
                on_ready()
            for callback in on_exit:
                callback()

    async def _serve(self) -> None:
        with self._scope:
            async with self.orchestrator, trio.open_nursery() as jobs:
                self._jobs = jobs
                try:
                    with self._lock:
                        self._token = trio.lowlevel.current_trio_token()
                        self.state = State.RUNNING
                        on_ready, self._on_ready = self._on_ready, None
                        if self._stopping:
                            self._stop.set()
                    assert on_ready is not None
                    on_ready()
                    await self._stop.wait()
                finally:
                    self._jobs = None
                # The trio API's close: drain in-flight requests within the grace period. Then
                # cancel what waits on callers (a stream nobody reads).
                await self.orchestrator.aclose()
                jobs.cancel_scope.cancel()

    def _spawn_inbox(self) -> None:
        self._inbox_scheduled = False  # first: a job queued from now on schedules a new round
        inbox = self._inbox
        while inbox:
            job = inbox.popleft()
            job.context.run(self._spawn, job)

    def _spawn(self, job: Job[Any]) -> None:
        # Runs in the caller's context (``context.run``), which the new task copies.
        jobs = self._jobs
        if jobs is not None:
            try:
                jobs.start_soon(job.run, name="hafs-frontend-job")
                return
            except RuntimeError:  # the nursery closed under a failure of the tree
                pass
        self._fail(job)

    @staticmethod
    def _fail(job: Job[Any]) -> None:
        job.error = FrontendClosed("the orchestrator closed before the call started")
        job.done()


#: The longest a caller's wake-up waits for the runtime to run out of work (seconds).
NOTIFY_DELAY = 0.001


class _Notifier(trio.abc.Instrument):
    """Holds wake-ups for callers' threads until trio is about to wait for I/O with nothing
    left to run, or until the oldest has waited :data:`NOTIFY_DELAY`."""

    def __init__(self) -> None:
        self._pending: list[Callable[[], None]] = []
        self._since = 0.0

    def add(self, notify: Callable[[], None]) -> None:
        if not self._pending:
            self._since = time.perf_counter()
        self._pending.append(notify)

    def before_io_wait(self, timeout: float) -> None:
        if self._pending and (timeout > 0 or time.perf_counter() - self._since >= NOTIFY_DELAY):
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for notify in pending:
            notify()


class Job(Generic[R]):
    """One caller request, ``fn(*args, **kwargs)``, served by a task in the runtime.

    Subclasses implement :meth:`done`, called in the runtime thread when the task ends: then
    ``value`` or ``error`` is set (neither when the caller cancelled it). One object per call
    serves as the job, the caller's waiter and the runtime task's state: each allocation per
    call is paid again in garbage collection.
    """

    __slots__ = ("_cancelled", "_scope", "args", "context", "error", "fn", "kwargs", "value")

    def __init__(
        self, fn: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()
        self.value: R | None = None
        self.error: BaseException | None = None
        self._scope: trio.CancelScope | None = None
        self._cancelled = False

    def done(self) -> None:
        raise NotImplementedError

    def result(self) -> R:
        if self.error is not None:
            raise self.error
        return cast(R, self.value)

    def cancel(self) -> None:  # runtime thread
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        try:
            with trio.CancelScope() as self._scope:
                if self._cancelled:
                    self._scope.cancel()
                self.value = await self.fn(*self.args, **self.kwargs)
        except trio.Cancelled:
            self.error = FrontendClosed("the orchestrator closed before the call completed")
            raise
        except BaseException as exc:  # delivered to the caller, never to the job nursery
            self.error = exc
        finally:
            self.done()


class FeedJob(Job[R]):
    """A job that fills a :class:`Feed`; its end is the feed's end."""

    __slots__ = ("feed",)

    def __init__(self, serve: Callable[[Feed[Any]], Awaitable[R]], feed: Feed[Any]) -> None:
        super().__init__(serve, (feed,), {})
        self.feed = feed

    def done(self) -> None:
        self.feed.finish()


class Signal(enum.Enum):
    """What :meth:`Feed.take` returns instead of an item."""

    EMPTY = "nothing yet: wait for a wake and take again"
    END = "after the last item: the job's value or error says how it ended"


class Feed(Generic[T]):
    """Items a runtime task produces for a reader in another thread: bounded and batched.

    The producer spends a credit per item and waits when it has none; the reader gives credits
    back in batches as it takes items. So at most :data:`FEED_WINDOW` items sit between the two
    threads, and a reader that stops reading stops the producer (and, through the trio channel
    behind a stream, the read from the provider's socket). ``wake`` is called in the runtime
    thread whenever the reader may have something new to look at; it must be cheap.
    """

    def __init__(self, runtime: Runtime, wake: Callable[[], None]) -> None:
        self.opened = False
        self.ended = False
        self._items: deque[T] = deque()
        self._runtime = runtime
        self._wake = wake
        self._credit = FEED_WINDOW  # runtime thread only
        self._space: trio.Event | None = None  # runtime thread only
        self._taken = 0  # reader thread only

    # --- runtime side ---------------------------------------------------------------------------

    def open(self) -> None:
        self.opened = True
        self._wake()

    async def pump(self, source: AsyncIterable[T]) -> None:
        async for item in source:
            while not self._credit:
                self._space = trio.Event()
                await self._space.wait()
            self._credit -= 1
            self._items.append(item)
            self._wake()

    def finish(self) -> None:
        """Every item is in: the reader may see the end."""
        self.ended = True
        self._wake()

    def _give(self, credit: int) -> None:
        self._credit += credit
        if self._space is not None:
            self._space.set()

    # --- reader side ----------------------------------------------------------------------------

    def take(self) -> T | Literal[Signal.EMPTY, Signal.END]:
        """The next item, or a :class:`Signal`."""
        ended = self.ended  # read first: once it is true, every item is already in the deque
        if self._items:
            item = self._items.popleft()
            self._taken += 1
            if self._taken * 2 >= FEED_WINDOW:
                self._runtime.call_soon(self._give, self._taken)
                self._taken = 0
            return item
        return Signal.END if ended else Signal.EMPTY


async def serve_stream(
    opening: AbstractAsyncContextManager[StreamResponse], feed: Feed[StreamEvent]
) -> GenerateResult:
    """A stream job: the trio API's ``async with orch.stream(...)``, its events into ``feed``."""
    async with opening as response:
        feed.open()
        await feed.pump(response.events())
        return response.result


async def serve_fanout(
    opening: AbstractAsyncContextManager[AsyncIterable[T]], feed: Feed[T]
) -> None:
    """A fan-out job: the trio API's ``async with orch.fanout(...)``, its items into ``feed``."""
    async with opening as results:
        feed.open()
        await feed.pump(results)


def forwards_to(
    source: Callable[P, object],
) -> Callable[[Callable[..., None]], Callable[Concatenate[Any, P], None]]:
    """Type a forwarding ``__init__`` with the parameters of ``source`` (the trio class), so a
    front end's constructor follows the trio API's without a copied parameter list."""

    def decorate(init: Callable[..., None]) -> Callable[Concatenate[Any, P], None]:
        return init

    return decorate


def mirror(wrapper: Callable[..., Any], get: Callable[[Any], object], owner: str) -> None:
    """Name ``wrapper`` after the trio method that ``get`` reads (``lambda o: o.generate``);
    ``help()`` and ``inspect.signature`` then show that method's docstring and parameters.

    Front ends take a getter rather than the unbound method so that mypy infers the parameters
    of the bound method: a method with ``**kwargs`` cannot match ``Concatenate[Self, P]``.
    """
    names: list[str] = []

    class Probe:
        def __getattr__(self, name: str) -> None:
            names.append(name)

    get(Probe())
    method = getattr(UnifiedOrchestrator, names[0])
    functools.update_wrapper(wrapper, method, assigned=("__name__", "__doc__"))
    wrapper.__qualname__ = f"{owner}.{method.__name__}"


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
