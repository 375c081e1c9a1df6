"""The actor base class: a task with a bounded mailbox, a receive loop and its own nursery.

The receive loop only dispatches; work for a message runs in a task of the actor's nursery
(:meth:`Actor.spawn`), cancelled if its caller goes away. An unexpected exception anywhere in the
actor crashes it (let it crash): every call it held fails at once with ``ActorCrashed`` and the
exception propagates to the supervisor, which restarts a fresh instance behind the same ref.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, NoReturn, TypeVar

import trio

import supervisors

from .._groups import sole_exception
from .._root import HafsError
from .._secrets import redact
from ._envelope import Envelope
from ._errors import ActorCrashed, ActorStopped, CallTimeout
from ._ref import ActorRef

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Actor", "actor_child_spec"]

M = TypeVar("M")
R = TypeVar("R")

logger = logging.getLogger("hafs_actors.actors")


def _raise_saving_context(exc: BaseException) -> NoReturn:
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


class Actor(Generic[M, R]):
    """Subclass and implement :meth:`receive`; run one instance per incarnation.

    ``run`` is a supervisor child's start function (see :func:`actor_child_spec`). What happens
    to the envelopes an incarnation holds:

    * crash (an exception that is not a :class:`~hafs_actors.errors.HafsError` from ``receive``
      or a spawned task; any exception from a task started directly in :attr:`nursery`, once it
      reaches ``run``): every envelope still queued or in flight, and every sender waiting for
      room, is failed with :class:`~hafs_actors.errors.ActorCrashed`, then the exception
      propagates out of ``run``;
    * graceful stop (the supervisor's stop request): the ref stops accepting, queued envelopes
      fail with :class:`~hafs_actors.errors.ActorStopped`, work in flight may finish within the
      child's shutdown grace period;
    * cancellation (grace period over, brutal kill, owner cancelled): whatever is still in
      flight fails with ``ActorStopped``.
    """

    def __init__(self, ref: ActorRef[M, R] | None = None) -> None:
        self._ref: ActorRef[M, R] = ActorRef(type(self).__name__) if ref is None else ref
        self._nursery: trio.Nursery | None = None
        self._held: set[Envelope[Any, Any]] = set()
        self._crash: BaseException | None = None
        self._ran = False

    @property
    def ref(self) -> ActorRef[M, R]:
        return self._ref

    @property
    def name(self) -> str:
        return self._ref.name

    @property
    def nursery(self) -> trio.Nursery:
        """The actor's own nursery (only while running): tasks in it die with the actor."""
        if self._nursery is None:
            raise RuntimeError(f"actor {self.name!r} is not running")
        return self._nursery

    def attach(self, ref: ActorRef[M, R]) -> None:
        """Use ``ref`` as this instance's handle; only before :meth:`run`."""
        if self._ran:
            raise RuntimeError(f"actor {self.name!r} has already run; attach before run()")
        self._ref = ref

    # --- to override ------------------------------------------------------------------------

    async def receive(self, envelope: Envelope[M, R]) -> None:
        """Handle one message. Must not wait on a request's work: :meth:`spawn` it instead.

        A :class:`~hafs_actors.errors.HafsError` raised here answers the envelope with it; any
        other exception crashes the actor.
        """
        raise NotImplementedError

    async def on_start(self) -> None:
        """Runs in the actor's task before the ref binds; raising fails the start."""

    async def on_stop(self) -> None:
        """Runs after every exit once ``on_start`` succeeded, after pending calls were failed.

        When the actor is being cancelled any ``await`` in here raises ``Cancelled``: use a
        shielded cancel scope with a deadline for async cleanup that must happen.
        """

    # --- for handlers -----------------------------------------------------------------------

    def spawn(
        self,
        envelope: Envelope[M, R],
        fn: Callable[..., Awaitable[R]],
        *args: Any,
        deadline: float = math.inf,
        on_deadline: Callable[[], HafsError] | None = None,
    ) -> None:
        """Run ``fn(*args)`` for ``envelope`` in the actor's nursery and reply with its result.

        The task runs in a cancel scope bound to the envelope (the caller's cancellation or
        timeout cancels it). A :class:`~hafs_actors.errors.HafsError` from ``fn`` goes to the
        caller; any other exception crashes the actor. ``deadline`` (trio time) is that same
        scope's deadline, so bounding the work costs no extra scope: when it passes, the work is
        cancelled and the caller gets ``on_deadline()`` (default :class:`CallTimeout`).
        """
        self.nursery.start_soon(self._run_spawned, envelope, fn, args, deadline, on_deadline)

    async def _run_spawned(
        self,
        envelope: Envelope[M, R],
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        deadline: float = math.inf,
        on_deadline: Callable[[], HafsError] | None = None,
    ) -> None:
        if envelope.abandoned:
            return
        with trio.CancelScope(deadline=deadline) as scope:
            envelope.bind_scope(scope)
            try:
                result = await fn(*args)
            except HafsError as exc:
                self._answer_error(envelope, exc)
                return
            except Exception as exc:
                self._crashed(exc)
                raise
            envelope.reply(result)
        if scope.cancelled_caught and not envelope.answered and not envelope.abandoned:
            error = on_deadline() if on_deadline is not None else None
            envelope.fail(
                error
                if error is not None
                else CallTimeout(f"actor {self.name!r}: the work passed its deadline")
            )

    def _answer_error(self, envelope: Envelope[M, R], error: HafsError) -> None:
        if not envelope.expects_reply:
            logger.warning("actor %r: cast failed: %s", self.name, redact(str(error)))
        envelope.fail(error)

    # --- lifecycle --------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[ActorRef[M, R]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run this incarnation: open the nursery, ``on_start``, bind the ref, receive.

        Reports ``task_status.started(ref)`` once the ref accepts messages. Returns after a
        graceful stop; raises the crash exception after a crash.
        """
        if self._ran:
            raise RuntimeError(
                f"actor {self.name!r}: an Actor instance runs once; make a fresh one per run"
            )
        self._ran = True
        ref = self._ref
        started = False
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self.on_start()
                started = True
                receive = ref._bind(self._held)
                context = supervisors.current_child()
                if context is not None:
                    nursery.start_soon(self._stop_when_requested, context)
                task_status.started(ref)
                await self._receive_loop(receive)
        except BaseException as exc:
            error = (sole_exception(exc) or exc) if isinstance(exc, BaseExceptionGroup) else exc
            self._teardown(error)
            if started:
                await self._on_stop_after(error)
            if error is exc:
                raise
            _raise_saving_context(error)
        else:
            self._teardown(None)
            await self.on_stop()
        finally:
            self._nursery = None

    async def _receive_loop(self, receive: trio.MemoryReceiveChannel[Envelope[M, R]]) -> None:
        held = self._held
        handle = self.receive
        while True:
            try:
                envelope = await receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return
            if envelope._done is not None:
                if envelope._abandoned:
                    continue  # the caller left while it was queued
                held.add(envelope)
                envelope._held = held
            try:
                await handle(envelope)
            except HafsError as exc:
                self._answer_error(envelope, exc)
            except Exception as exc:
                self._crashed(exc)
                raise

    async def _stop_when_requested(self, context: supervisors.ChildContext) -> None:
        await context.wait_stop_requested()
        self._ref._unbind(self._stopped_error)

    def _crashed(self, exc: BaseException) -> None:
        """Fail every held envelope at once and detach from the ref (first crash wins)."""
        if self._crash is not None:
            return
        self._crash = exc
        self._ref._unbind(lambda: self._crashed_error(exc), crashed=True)
        self._fail_held(lambda: self._crashed_error(exc))

    def _teardown(self, error: BaseException | None) -> None:
        if self._crash is None and isinstance(error, Exception):
            self._crashed(error)  # e.g. from a task the subclass started in self.nursery
        self._ref._unbind(self._stopped_error)
        self._fail_held(self._stopped_error)

    def _fail_held(self, error: Callable[[], BaseException]) -> None:
        held = list(self._held)
        self._held.clear()
        for envelope in held:
            envelope._held = None
            envelope.fail(error())

    def _crashed_error(self, cause: BaseException) -> ActorCrashed:
        err = ActorCrashed(
            redact(f"actor {self.name!r} crashed: {type(cause).__name__}: {cause}"),
            actor=self.name,
            cause=cause,
        )
        err.__cause__ = cause
        return err

    def _stopped_error(self) -> ActorStopped:
        return ActorStopped(f"actor {self.name!r} stopped before answering")

    async def _on_stop_after(self, error: BaseException) -> None:
        try:
            await self.on_stop()
        except Exception:
            logger.exception("actor %r: on_stop failed after %r", self.name, type(error).__name__)


def actor_child_spec(
    id: Hashable,
    factory: Callable[[], Actor[M, R]],
    ref: ActorRef[M, R],
    *,
    restart: supervisors.Restart = supervisors.Restart.PERMANENT,
    shutdown: supervisors.Shutdown | float = 5.0,
) -> supervisors.ChildSpec:
    """A supervisor child spec running a fresh ``factory()`` actor behind ``ref`` each start.

    The child's handle (what ``start_child`` returns) is ``ref``. It traps exits: an actor
    drains on its stop request (see :class:`Actor`), so it gets its ``shutdown`` grace period
    instead of being cancelled at once.
    """

    async def start(*, task_status: trio.TaskStatus[ActorRef[M, R]]) -> None:
        actor = factory()
        actor.attach(ref)
        await actor.run(task_status=task_status)

    return supervisors.ChildSpec(id, start, restart, shutdown=shutdown, trap_exit=True)
