"""The supervisor: starts children in order, restarts them by OTP's rules, stops them in reverse.

One manager task per supervisor handles child exits one at a time (like OTP's supervisor process
handling ``'EXIT'`` messages), so restart decisions never interleave. The public operations take
the same lock, so a ``terminate_child`` never races a restart. Every child runs in its own cancel
scope inside the supervisor's nursery: no child can outlive the supervisor.
"""

from __future__ import annotations

import enum
import itertools
import logging
import math
import random
import sys
from collections import deque
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Any, final

import attrs
import trio

from ._backoff import Backoff
from ._context import ChildContext, _current, wait_stop_requested
from ._errors import (
    ChildNotFoundError,
    ChildRunningError,
    DuplicateChildError,
    InvalidSpecError,
    RestartIntensityExceeded,
    StartChildError,
    SupervisorClosedError,
)
from ._events import (
    ChildExited,
    ChildRestarted,
    ChildStarted,
    ExitReason,
    GaveUp,
    Observer,
    SupervisorEvent,
)
from ._groups import raise_sole_or_group, sole_exception
from ._intensity import RestartWindow
from ._spec import ChildSpec, ChildType, Restart, Shutdown, Strategy

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "ChildInfo",
    "ChildState",
    "Supervisor",
    "SupervisorStatistics",
    "open_supervisor",
    "supervisor_child_spec",
]

logger = logging.getLogger("supervisors")

_names = itertools.count(1)


class ChildState(enum.Enum):
    """Where a child is in its life, as :meth:`Supervisor.which_children` reports it."""

    #: Started and not yet exited.
    RUNNING = "running"
    #: Exited (or stopped for a sibling) and waiting for its restart, e.g. during a backoff.
    RESTARTING = "restarting"
    #: Not running; its spec is kept (a transient child that exited normally, or terminated
    #: with ``terminate_child``) until ``restart_child`` or ``delete_child``.
    TERMINATED = "terminated"


@attrs.frozen
class ChildInfo:
    """One row of :meth:`Supervisor.which_children` (OTP ``{Id, Child, Type, Modules}``)."""

    id: Hashable
    #: The value the child passed to ``task_status.started``; None unless running.
    handle: Any
    state: ChildState
    restart: Restart
    type: ChildType
    shutdown: Shutdown


@attrs.frozen
class SupervisorStatistics:
    """A snapshot of a supervisor's state."""

    name: str
    strategy: Strategy
    intensity: int
    period: float
    #: Child specs held (OTP ``specs``).
    children: int
    running: int
    restarting: int
    terminated: int
    #: Restarts the supervisor performed since it opened.
    restarts_total: int
    #: Restarts counted in the current intensity window (``t >= now - period``).
    restarts_in_window: int
    closed: bool


def _check_intensity(_: object, __: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidSpecError(f"intensity must be an integer >= 0, not {value!r}")


def _check_period(_: object, __: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpecError(f"period must be a number of seconds, not {value!r}")
    if math.isnan(value) or value <= 0:
        raise InvalidSpecError(f"period must be > 0 seconds, not {value!r}")


def _check_strategy(_: object, __: attrs.Attribute[Strategy], value: Strategy) -> None:
    if not isinstance(value, Strategy):
        raise InvalidSpecError(
            "strategy must be Strategy.ONE_FOR_ONE, Strategy.ONE_FOR_ALL or "
            f"Strategy.REST_FOR_ONE, not {value!r}"
        )


def _check_backoff(_: object, __: attrs.Attribute[Backoff | None], value: Backoff | None) -> None:
    if value is not None and not isinstance(value, Backoff):
        raise InvalidSpecError(f"backoff must be a supervisors.Backoff or None, not {value!r}")


def _check_observer(
    _: object, __: attrs.Attribute[Observer | None], value: Observer | None
) -> None:
    if value is not None and not callable(value):
        raise InvalidSpecError(f"observer must be a callable or None, not {value!r}")


def _default_name() -> str:
    return f"supervisor-{next(_names)}"


def _check_name(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidSpecError(f"supervisor name must be a non-empty string, not {value!r}")


@attrs.frozen
class _Flags:
    """Validated supervisor flags (OTP ``sup_flags``) plus the backoff and observer."""

    strategy: Strategy = attrs.field(validator=_check_strategy)
    intensity: int = attrs.field(validator=_check_intensity)
    period: float = attrs.field(validator=_check_period)
    backoff: Backoff | None = attrs.field(validator=_check_backoff)
    observer: Observer | None = attrs.field(validator=_check_observer)
    name: str = attrs.field(validator=_check_name)


def _check_children(children: Iterable[ChildSpec]) -> tuple[ChildSpec, ...]:
    if isinstance(children, ChildSpec):
        raise InvalidSpecError("children must be a sequence of ChildSpec, not one ChildSpec")
    specs = tuple(children)
    seen: set[Hashable] = set()
    for spec in specs:
        if not isinstance(spec, ChildSpec):
            raise InvalidSpecError(f"children must hold ChildSpec objects, not {spec!r}")
        if spec.id in seen:
            raise DuplicateChildError(f"duplicate child id {spec.id!r} in children")
        seen.add(spec.id)
    return specs


class _StartRelay:
    """Forwards ``task_status.started`` and remembers that the child got that far."""

    __slots__ = ("_inner", "started_flag")

    def __init__(self, inner: trio.TaskStatus[Any]) -> None:
        self._inner = inner
        self.started_flag = False

    def started(self, value: Any = None) -> None:
        self.started_flag = True
        self._inner.started(value)


class _Run:
    """One incarnation of a child: its cancel scope, context and how it ended."""

    __slots__ = ("child", "context", "done", "error", "reason", "scope", "stopping")

    def __init__(self, child: _Child, context: ChildContext) -> None:
        self.child = child
        self.context = context
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.stopping = False
        self.reason = ExitReason.NORMAL
        self.error: BaseException | None = None


class _Child:
    __slots__ = ("attempt", "handle", "run", "spec", "started_at", "state")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = ChildState.TERMINATED
        self.run: _Run | None = None
        self.handle: Any = None
        self.started_at = -math.inf
        #: Consecutive restarts so far, for the backoff.
        self.attempt = 0


class _Pending:
    """A restart waiting for its backoff delay: the children to start, in start order."""

    __slots__ = ("due", "error", "group", "trigger", "uncounted")

    def __init__(
        self,
        due: float,
        group: list[_Child],
        trigger: _Child,
        error: BaseException | None,
        uncounted: int,
    ) -> None:
        self.due = due
        self.group = group
        self.trigger = trigger
        self.error = error
        self.uncounted = uncounted


class _GiveUp(Exception):
    def __init__(self, child: _Child, error: BaseException | None) -> None:
        super().__init__()
        self.child = child
        self.error = error


@final
class Supervisor:
    """A running supervisor; get one from :func:`open_supervisor` (or as a nested child's handle).

    Methods that change children are serialized with the supervisor's restart handling. Do not
    call them from a child's start function before it calls ``task_status.started`` (the
    supervisor is busy starting that child, as in OTP).
    """

    def __init__(self, flags: _Flags) -> None:
        self._flags = flags
        self._window = RestartWindow(flags.intensity, flags.period)
        self._children: list[_Child] = []
        self._by_id: dict[Hashable, _Child] = {}
        self._lock = trio.Lock()
        self._exits: deque[_Run] = deque()
        self._wakeup = trio.lowlevel.ParkingLot()
        self._pending: list[_Pending] = []
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self._restarts_total = 0
        self._random = random.Random()

    # --- introspection ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._flags.name

    @property
    def strategy(self) -> Strategy:
        return self._flags.strategy

    @property
    def intensity(self) -> int:
        return self._flags.intensity

    @property
    def period(self) -> float:
        return self._flags.period

    @property
    def backoff(self) -> Backoff | None:
        return self._flags.backoff

    @property
    def closed(self) -> bool:
        return self._closed

    def which_children(self) -> list[ChildInfo]:
        """Every child spec held, in start order."""
        return [
            ChildInfo(
                id=c.spec.id,
                handle=c.handle,
                state=c.state,
                restart=c.spec.restart,
                type=c.spec.type,
                shutdown=c.spec.shutdown,
            )
            for c in self._children
        ]

    def statistics(self) -> SupervisorStatistics:
        states = [c.state for c in self._children]
        return SupervisorStatistics(
            name=self.name,
            strategy=self.strategy,
            intensity=self.intensity,
            period=self.period,
            children=len(states),
            running=states.count(ChildState.RUNNING),
            restarting=states.count(ChildState.RESTARTING),
            terminated=states.count(ChildState.TERMINATED),
            restarts_total=self._restarts_total,
            restarts_in_window=self._window.count(trio.current_time()),
            closed=self._closed,
        )

    def __repr__(self) -> str:
        return (
            f"<Supervisor {self.name!r} {self.strategy.value} children={len(self._children)}"
            f"{' closed' if self._closed else ''}>"
        )

    # --- public operations ------------------------------------------------------------------

    async def start_child(self, spec: ChildSpec) -> Any:
        """Add ``spec`` after the existing children and start it; return its handle.

        Returns once the child called ``task_status.started(handle)``. Raises
        :class:`DuplicateChildError` if the id is taken and :class:`StartChildError` (with the
        child's exception as cause) if it fails while starting; then the spec is not kept.
        """
        if not isinstance(spec, ChildSpec):
            raise InvalidSpecError(f"start_child needs a ChildSpec, not {spec!r}")
        async with self._lock:
            self._check_open()
            if spec.id in self._by_id:
                raise DuplicateChildError(
                    f"supervisor {self.name!r} already has a child {spec.id!r}"
                )
            child = _Child(spec)
            self._children.append(child)
            self._by_id[spec.id] = child
            try:
                handle = await self._start(child)
            except BaseException:
                self._forget(child)
                raise
            self._emit(ChildStarted(self.name, spec.id, handle, trio.current_time()))
            return handle

    async def terminate_child(self, child_id: Hashable) -> None:
        """Stop a child as its ``shutdown`` says; keep its spec (a temporary child's is removed).

        A child waiting for a restart is simply not restarted. Terminating a child that is not
        running does nothing.
        """
        async with self._lock:
            self._check_open()
            child = self._get(child_id)
            if child.state is ChildState.RUNNING:
                await self._stop_child(child)
            elif child.state is ChildState.RESTARTING:
                self._unschedule(child)
                child.state = ChildState.TERMINATED
            if child.spec.restart is Restart.TEMPORARY:
                self._forget(child)

    async def restart_child(self, child_id: Hashable) -> Any:
        """Start a terminated (or restart-pending) child again from its kept spec.

        Does not count toward the restart intensity (as in OTP). Raises
        :class:`ChildRunningError` if it is running.
        """
        async with self._lock:
            self._check_open()
            child = self._get(child_id)
            if child.state is ChildState.RUNNING:
                raise ChildRunningError(f"child {child_id!r} of {self.name!r} is running")
            self._unschedule(child)
            child.state = ChildState.TERMINATED
            handle = await self._start(child)
            self._emit(ChildStarted(self.name, child.spec.id, handle, trio.current_time()))
            return handle

    async def delete_child(self, child_id: Hashable) -> None:
        """Remove a terminated child's spec. Raises :class:`ChildRunningError` otherwise."""
        async with self._lock:
            self._check_open()
            child = self._get(child_id)
            if child.state is not ChildState.TERMINATED:
                raise ChildRunningError(
                    f"child {child_id!r} of {self.name!r} is {child.state.value}; "
                    "terminate it first"
                )
            self._forget(child)

    # --- child runs -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed or self._nursery is None:
            raise SupervisorClosedError(f"supervisor {self.name!r} is not running")

    def _get(self, child_id: Hashable) -> _Child:
        try:
            return self._by_id[child_id]
        except (KeyError, TypeError):
            raise ChildNotFoundError(
                f"supervisor {self.name!r} has no child {child_id!r}"
            ) from None

    def _forget(self, child: _Child) -> None:
        self._unschedule(child)
        if self._by_id.get(child.spec.id) is child:
            del self._by_id[child.spec.id]
            self._children.remove(child)

    async def _start(self, child: _Child) -> Any:
        assert self._nursery is not None
        spec = child.spec
        run = _Run(child, ChildContext(self.name, spec.id, spec.shutdown, spec.trap_exit))
        child.run = run
        try:
            handle = await self._nursery.start(
                self._child_main, run, name=f"{self.name}/{spec.id!r}"
            )
        except Exception as exc:
            child.run = None
            raise StartChildError(self.name, spec.id, exc) from exc
        except BaseException:
            child.run = None
            raise
        child.state = ChildState.RUNNING
        child.handle = handle
        child.started_at = trio.current_time()
        return handle

    async def _child_main(
        self, run: _Run, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The task of one child run: report how it ended, never raise an Exception."""
        _current.set(run.context)
        relay = _StartRelay(task_status)
        spec = run.child.spec
        try:
            try:
                with run.scope:
                    await spec.start(*spec.args, task_status=relay)
            except Exception as exc:
                if not relay.started_flag:
                    raise  # a failed start: nursery.start() re-raises it in start_child
                run.reason = ExitReason.ERROR
                run.error = exc
            else:
                if not relay.started_flag:
                    return  # nursery.start() raises "child exited without calling started()"
                run.reason = ExitReason.SHUTDOWN if run.stopping else ExitReason.NORMAL
        finally:
            run.done.set()
        if not run.stopping:
            self._exits.append(run)
            self._wakeup.unpark_all()

    async def _stop_child(self, child: _Child) -> None:
        """Stop one running child as its ``shutdown`` says and wait until it has exited.

        Only a run that traps exits gets a grace period; any other is cancelled at once (OTP's
        ``shutdown`` exit signal), so stopping a child that ignores its stop request costs no time.
        """
        run = child.run
        if run is None:
            return
        run.stopping = True
        if not run.done.is_set():
            shutdown = child.spec.shutdown
            if not shutdown.is_brutal_kill:
                run.context._request_stop()
                if run.context.trap_exit:
                    with trio.move_on_after(shutdown.timeout):  # math.inf for INFINITY
                        await run.done.wait()
            run.scope.cancel()
            await run.done.wait()
        child.run = None
        child.handle = None
        child.state = ChildState.TERMINATED
        reason = ExitReason.ERROR if run.error is not None else ExitReason.SHUTDOWN
        self._emit(ChildExited(self.name, child.spec.id, reason, run.error, trio.current_time()))

    async def _stop_all(self) -> None:
        """Stop every running child in reverse start order; drop pending restarts."""
        self._pending.clear()
        for child in reversed(list(self._children)):
            if child.state is ChildState.RUNNING:
                await self._stop_child(child)
            elif child.state is ChildState.RESTARTING:
                child.state = ChildState.TERMINATED
            if child.spec.restart is Restart.TEMPORARY:
                self._forget(child)

    # --- restarts ---------------------------------------------------------------------------

    def _group_of(self, child: _Child) -> list[_Child]:
        strategy = self._flags.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if strategy is Strategy.ONE_FOR_ALL:
            return list(self._children)
        return self._children[self._children.index(child) :]

    def _backoff_delay(self, child: _Child, now: float) -> float:
        backoff = self._flags.backoff
        if backoff is None:
            return 0.0
        if now - child.started_at >= backoff.effective_reset_after:
            child.attempt = 0
        delay = backoff.delay(child.attempt, self._random.random())
        child.attempt += 1
        return delay

    def _count_restart(self, child: _Child, error: BaseException | None) -> None:
        if self._window.record(trio.current_time()):
            raise _GiveUp(child, error)
        self._restarts_total += 1

    async def _handle_exit(self, run: _Run) -> None:
        """Apply the restart rules to a child that exited on its own (OTP ``do_restart``)."""
        child = run.child
        if child.run is not run or run.stopping:
            return  # stale: the child was stopped or restarted since
        now = trio.current_time()
        child.run = None
        child.handle = None
        spec = child.spec
        self._emit(ChildExited(self.name, spec.id, run.reason, run.error, now))
        if spec.restart is Restart.TEMPORARY:
            self._forget(child)
            return
        if spec.restart is Restart.TRANSIENT and run.reason is ExitReason.NORMAL:
            child.state = ChildState.TERMINATED
            return
        child.state = ChildState.RESTARTING
        delay = self._backoff_delay(child, now)
        uncounted = 1
        if delay <= 0:
            self._count_restart(child, run.error)  # OTP counts before touching the siblings
            uncounted = 0
        group = self._group_of(child)
        for other in reversed(group):
            if other is not child and other.state is ChildState.RUNNING:
                await self._stop_child(other)
        members: list[_Child] = []
        for other in group:
            if other is not child and other.spec.restart is Restart.TEMPORARY:
                self._forget(other)
                continue
            other.state = ChildState.RESTARTING
            members.append(other)
        self._schedule(_Pending(now + delay, members, child, run.error, uncounted))

    def _schedule(self, pending: _Pending) -> None:
        """Queue a restart, merging it with queued restarts of the same children."""
        members = set(pending.group)
        for other in list(self._pending):
            if members.intersection(other.group):
                members.update(other.group)
                pending.due = max(pending.due, other.due)
                pending.uncounted += other.uncounted
                self._pending.remove(other)
        pending.group = [c for c in self._children if c in members]
        self._pending.append(pending)

    def _unschedule(self, child: _Child) -> None:
        for pending in list(self._pending):
            if child in pending.group:
                pending.group.remove(child)
                if not pending.group:
                    self._pending.remove(pending)

    async def _run_pending(self, pending: _Pending) -> None:
        """Count a due restart toward the intensity, then start its children in order."""
        self._pending.remove(pending)
        for _ in range(pending.uncounted):
            self._count_restart(pending.trigger, pending.error)
        started: list[_Child] = []
        for child in pending.group:
            if (
                child.state is not ChildState.RESTARTING
                or self._by_id.get(child.spec.id) is not child
            ):
                continue
            try:
                handle = await self._start(child)
            except StartChildError as exc:
                # OTP's try_again_restart: stop what this round started, retry as a new restart.
                for other in reversed(started):
                    await self._stop_child(other)
                    other.state = ChildState.RESTARTING
                now = trio.current_time()
                child.started_at = now
                retry = [c for c in pending.group if c.state is ChildState.RESTARTING]
                delay = self._backoff_delay(child, now)
                self._schedule(_Pending(now + delay, retry, child, exc, 1))
                return
            started.append(child)
            self._emit(ChildRestarted(self.name, child.spec.id, handle, trio.current_time()))

    def _next_due(self) -> _Pending | None:
        if not self._pending:
            return None
        first = min(self._pending, key=lambda p: p.due)
        return first if first.due <= trio.current_time() else None

    async def _manage(self) -> None:
        """The manager task: handle exits and due restarts until closed, or give up."""
        while True:
            while not self._exits:
                deadline = min((p.due for p in self._pending), default=math.inf)
                if deadline <= trio.current_time():
                    break
                with trio.move_on_at(deadline):
                    await self._wakeup.park()
            async with self._lock:
                if self._closed:
                    return
                try:
                    while True:
                        if self._exits:
                            await self._handle_exit(self._exits.popleft())
                        elif (pending := self._next_due()) is not None:
                            await self._run_pending(pending)
                        else:
                            break
                except _GiveUp as give_up:
                    await self._give_up(give_up)

    async def _give_up(self, give_up: _GiveUp) -> None:
        self._closed = True
        now = trio.current_time()
        self._emit(
            GaveUp(self.name, give_up.child.spec.id, give_up.error, self._restarts_total, now)
        )
        await self._stop_all()
        raise RestartIntensityExceeded(
            self.name,
            give_up.child.spec.id,
            give_up.error,
            intensity=self.intensity,
            period=self.period,
        ) from give_up.error

    # --- lifecycle --------------------------------------------------------------------------

    async def _start_initial(self, specs: tuple[ChildSpec, ...]) -> None:
        """Start the initial children in order; on a failure stop those started and raise."""
        async with self._lock:
            for spec in specs:
                child = _Child(spec)
                self._children.append(child)
                self._by_id[spec.id] = child
                try:
                    handle = await self._start(child)
                except BaseException:
                    self._forget(child)
                    self._closed = True
                    await self._stop_all()
                    raise
                self._emit(ChildStarted(self.name, spec.id, handle, trio.current_time()))

    async def _close(self) -> None:
        """Stop every child in reverse start order, honouring each one's shutdown."""
        async with self._lock:
            self._closed = True
            await self._stop_all()

    def _emit(self, event: SupervisorEvent) -> None:
        observer = self._flags.observer
        if observer is None:
            return
        try:
            observer(event)
        except Exception:
            logger.exception("supervisor %r: observer failed on %r", self.name, event)


@asynccontextmanager
async def open_supervisor(
    strategy: Strategy = Strategy.ONE_FOR_ONE,
    intensity: int = 1,
    period: float = 5.0,
    children: Iterable[ChildSpec] = (),
    *,
    backoff: Backoff | None = None,
    observer: Observer | None = None,
    name: str | None = None,
) -> AsyncIterator[Supervisor]:
    """Run a supervisor for the duration of the ``async with`` block.

    ``children`` start in order before the block is entered (a failed start stops the started
    ones and raises :class:`StartChildError`). Leaving the block stops every child in reverse
    start order, each as its ``shutdown`` says. If more than ``intensity`` restarts happen
    within ``period`` seconds (boundary included), the supervisor stops its children in reverse
    order and :class:`RestartIntensityExceeded` is raised out of the block, cancelling the
    body. If the block is cancelled from outside, the children are cancelled with it.
    """
    flags = _Flags(
        strategy=strategy,
        intensity=intensity,
        period=period,
        backoff=backoff,
        observer=observer,
        name=_default_name() if name is None else name,
    )
    specs = _check_children(children)
    supervisor = Supervisor(flags)
    try:
        async with trio.open_nursery() as nursery:
            supervisor._nursery = nursery
            nursery.start_soon(supervisor._manage, name=f"{flags.name}/manager")
            await supervisor._start_initial(specs)
            try:
                yield supervisor
            finally:
                await supervisor._close()
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if sole_exception(group) is None:
            raise
        raise_sole_or_group(group)
    finally:
        supervisor._closed = True


def supervisor_child_spec(
    id: Hashable,
    *,
    strategy: Strategy = Strategy.ONE_FOR_ONE,
    intensity: int = 1,
    period: float = 5.0,
    children: Iterable[ChildSpec] = (),
    backoff: Backoff | None = None,
    observer: Observer | None = None,
    name: str | None = None,
    restart: Restart = Restart.PERMANENT,
    shutdown: Shutdown | float = Shutdown.INFINITY,
) -> ChildSpec:
    """A :class:`ChildSpec` that runs a nested supervisor; its handle is that :class:`Supervisor`.

    The flags are validated now. Each (re)start opens a fresh supervisor with these children;
    when the parent asks it to stop, it stops its own children in reverse order and returns.
    If it gives up, its :class:`RestartIntensityExceeded` is an abnormal exit for the parent.
    """
    flags = _Flags(
        strategy=strategy,
        intensity=intensity,
        period=period,
        backoff=backoff,
        observer=observer,
        name=str(id) if name is None else name,
    )
    specs = _check_children(children)

    async def run_supervisor(*, task_status: trio.TaskStatus[Supervisor]) -> None:
        async with open_supervisor(
            flags.strategy,
            flags.intensity,
            flags.period,
            specs,
            backoff=flags.backoff,
            observer=flags.observer,
            name=flags.name,
        ) as supervisor:
            task_status.started(supervisor)
            await wait_stop_requested()

    return ChildSpec(id, run_supervisor, restart, type=ChildType.SUPERVISOR, shutdown=shutdown)
