"""What a supervisor reports to its observer: frozen events, one per state change of a child."""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable
from typing import Any, TypeAlias

import attrs

__all__ = [
    "ChildExited",
    "ChildRestarted",
    "ChildStarted",
    "ExitReason",
    "GaveUp",
    "Observer",
    "SupervisorEvent",
]


class ExitReason(enum.Enum):
    """Why a child's run ended."""

    #: It returned on its own: a normal exit (transient children are not restarted).
    NORMAL = "normal"
    #: The supervisor stopped it (terminate_child, a sibling's restart, or supervisor shutdown).
    SHUTDOWN = "shutdown"
    #: It raised: an abnormal exit.
    ERROR = "error"


@attrs.frozen
class ChildStarted:
    """A child was started by ``start_child``, ``restart_child`` or the initial child list."""

    supervisor: str
    child_id: Hashable
    handle: Any
    time: float


@attrs.frozen
class ChildRestarted:
    """The supervisor restarted a child after an exit (its own or a sibling's)."""

    supervisor: str
    child_id: Hashable
    handle: Any
    time: float


@attrs.frozen
class ChildExited:
    """A child's run ended; ``error`` is its exception when ``reason`` is ``ERROR``.

    A child that raised while being stopped is reported with ``reason=ERROR`` too, but is not
    restarted.
    """

    supervisor: str
    child_id: Hashable
    reason: ExitReason
    error: BaseException | None
    time: float


@attrs.frozen
class GaveUp:
    """The restart intensity was exceeded; all children are being stopped.

    ``child_id`` and ``error`` are the exit that asked for one restart too many; ``restarts`` is
    how many restarts the supervisor performed before giving up.
    """

    supervisor: str
    child_id: Hashable
    error: BaseException | None
    restarts: int
    time: float


SupervisorEvent: TypeAlias = ChildStarted | ChildRestarted | ChildExited | GaveUp

#: A synchronous callable that must not block; an exception from it is logged and ignored.
Observer: TypeAlias = Callable[[SupervisorEvent], object]
