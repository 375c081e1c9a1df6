"""What a running child can learn about itself: its id, and whether it is being asked to stop."""

from __future__ import annotations

from collections.abc import Hashable
from contextvars import ContextVar
from typing import final

import trio

from ._spec import Shutdown

__all__ = ["ChildContext", "current_child", "wait_stop_requested"]


@final
class ChildContext:
    """The supervisor's view of one run of a child, visible to the child's own tasks.

    ``stop_requested`` becomes True (and :meth:`wait_stop_requested` returns) when the supervisor
    starts to stop this run. A run that traps exits (:attr:`trap_exit`) then finishes its work
    and returns within its ``shutdown`` grace period, or is cancelled when it ends (never for
    ``Shutdown.INFINITY``). A run that does not trap exits is cancelled at once, as is every
    run under ``Shutdown.BRUTAL_KILL`` (which sets no stop request).
    """

    __slots__ = ("_stop", "_trap_exit", "id", "shutdown", "supervisor")

    def __init__(
        self, supervisor: str, child_id: Hashable, shutdown: Shutdown, trap_exit: bool
    ) -> None:
        self.supervisor = supervisor
        self.id = child_id
        self.shutdown = shutdown
        self._trap_exit = trap_exit
        self._stop = trio.Event()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def trap_exit(self) -> bool:
        """Whether a stop gives this run its grace period: set by the spec or by awaiting."""
        return self._trap_exit

    async def wait_stop_requested(self) -> None:
        """Return once the supervisor has asked this child to stop.

        Awaiting it makes the run trap exits: a child that waits for its stop request handles
        it, so it gets the grace period instead of being cancelled at once.
        """
        self._trap_exit = True
        await self._stop.wait()

    def _request_stop(self) -> None:
        self._stop.set()

    def __repr__(self) -> str:
        return (
            f"ChildContext(supervisor={self.supervisor!r}, id={self.id!r}, "
            f"stop_requested={self.stop_requested})"
        )


_current: ContextVar[ChildContext | None] = ContextVar("supervisors.current_child", default=None)


def current_child() -> ChildContext | None:
    """The context of the supervised child this task belongs to, or None outside any child.

    Tasks a child spawns inherit it (trio copies the context into new tasks).
    """
    return _current.get()


async def wait_stop_requested() -> None:
    """Wait until the supervisor asks the current child to stop (forever outside a child).

    The idiom for a child whose work lives in other tasks: ``task_status.started(...)`` then
    ``await wait_stop_requested()`` and clean up, so a graceful stop is prompt instead of taking
    the whole grace period. Like :meth:`ChildContext.wait_stop_requested`, it makes the current
    run trap exits.
    """
    context = _current.get()
    if context is None:
        await trio.sleep_forever()
    else:
        await context.wait_stop_requested()
