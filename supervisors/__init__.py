"""supervisors: Erlang/OTP-style supervision trees for trio (domain-free).

Children are async functions started like ``nursery.start``; a supervisor restarts them by OTP's
strategies, restart types and restart intensity, stops them in reverse start order, and raises
:class:`RestartIntensityExceeded` out of ``async with open_supervisor(...)`` when it gives up.
See ``docs/supervisors.md``.
"""

from __future__ import annotations

import inspect

from ._backoff import Backoff as Backoff
from ._context import ChildContext as ChildContext
from ._context import current_child as current_child
from ._context import wait_stop_requested as wait_stop_requested
from ._errors import ChildNotFoundError as ChildNotFoundError
from ._errors import ChildRunningError as ChildRunningError
from ._errors import DuplicateChildError as DuplicateChildError
from ._errors import InvalidSpecError as InvalidSpecError
from ._errors import RestartIntensityExceeded as RestartIntensityExceeded
from ._errors import StartChildError as StartChildError
from ._errors import SupervisorClosedError as SupervisorClosedError
from ._errors import SupervisorError as SupervisorError
from ._events import ChildExited as ChildExited
from ._events import ChildRestarted as ChildRestarted
from ._events import ChildStarted as ChildStarted
from ._events import ExitReason as ExitReason
from ._events import GaveUp as GaveUp
from ._events import Observer as Observer
from ._events import SupervisorEvent as SupervisorEvent
from ._spec import ChildSpec as ChildSpec
from ._spec import ChildType as ChildType
from ._spec import Restart as Restart
from ._spec import Shutdown as Shutdown
from ._spec import StartFunction as StartFunction
from ._spec import Strategy as Strategy
from ._supervisor import ChildInfo as ChildInfo
from ._supervisor import ChildState as ChildState
from ._supervisor import Supervisor as Supervisor
from ._supervisor import SupervisorStatistics as SupervisorStatistics
from ._supervisor import open_supervisor as open_supervisor
from ._supervisor import supervisor_child_spec as supervisor_child_spec

__all__ = [
    "Backoff",
    "ChildContext",
    "ChildExited",
    "ChildInfo",
    "ChildNotFoundError",
    "ChildRestarted",
    "ChildRunningError",
    "ChildSpec",
    "ChildStarted",
    "ChildState",
    "ChildType",
    "DuplicateChildError",
    "ExitReason",
    "GaveUp",
    "InvalidSpecError",
    "Observer",
    "Restart",
    "RestartIntensityExceeded",
    "Shutdown",
    "StartChildError",
    "StartFunction",
    "Strategy",
    "Supervisor",
    "SupervisorClosedError",
    "SupervisorError",
    "SupervisorEvent",
    "SupervisorStatistics",
    "current_child",
    "open_supervisor",
    "supervisor_child_spec",
    "wait_stop_requested",
]


def _fix_module_names() -> None:
    """Show the public path (``supervisors.ChildSpec``) in reprs, tracebacks and docs."""
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type) or inspect.isfunction(obj):
            obj.__module__ = __name__


_fix_module_names()
del _fix_module_names
