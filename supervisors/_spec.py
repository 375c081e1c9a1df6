"""Child specs: what to start, when to restart it and how to stop it (OTP ``child_spec``)."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ClassVar, final

import attrs

from ._errors import InvalidSpecError

__all__ = ["ChildSpec", "ChildType", "Restart", "Shutdown", "StartFunction", "Strategy"]

#: An async callable run like ``nursery.start(fn, *args)``: it must accept ``task_status`` and
#: call ``task_status.started(handle)`` once it is ready; ``handle`` is what ``start_child``
#: returns (the child's "pid").
StartFunction = Callable[..., Awaitable[Any]]


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them must be restarted."""

    #: Only the child that exited.
    ONE_FOR_ONE = "one_for_one"
    #: All children: the others are stopped (reverse start order), then all start again.
    ONE_FOR_ALL = "one_for_all"
    #: The exited child and every child started after it.
    REST_FOR_ONE = "rest_for_one"


class Restart(enum.Enum):
    """When a child that exited is restarted."""

    #: Always, whether it raised or returned.
    PERMANENT = "permanent"
    #: Only after an abnormal exit (it raised); returning is a normal exit.
    TRANSIENT = "transient"
    #: Never; its spec is removed once it exits, even when a sibling's restart stopped it.
    TEMPORARY = "temporary"


class ChildType(enum.Enum):
    """A worker or a nested supervisor; only changes the default ``shutdown``."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"


class _Kind(enum.Enum):
    TIMEOUT = "timeout"
    BRUTAL_KILL = "brutal_kill"
    INFINITY = "infinity"


@final
class Shutdown:
    """How a child is stopped: a grace period in seconds, ``BRUTAL_KILL`` or ``INFINITY``.

    Wherever a shutdown is accepted, a plain number of seconds works too: ``shutdown=5.0`` is
    ``Shutdown(5.0)``, and ``Shutdown(5.0) == 5.0``. What the child sees:

    * ``Shutdown(t)``: a child that traps exits (see :attr:`ChildSpec.trap_exit`) gets its stop
      request (:meth:`ChildContext.wait_stop_requested`) and is cancelled if it has not returned
      after ``t`` seconds; any other child is cancelled at once, as OTP's ``shutdown`` exit
      signal kills a process that does not trap exits.
    * ``Shutdown.BRUTAL_KILL``: its cancel scope is cancelled at once, trapping or not.
    * ``Shutdown.INFINITY``: like ``Shutdown(t)`` with no time limit: a child that traps exits
      is waited for however long it takes (the default for nested supervisors, as in OTP).
    """

    __slots__ = ("_kind", "_timeout")

    BRUTAL_KILL: ClassVar[Shutdown]
    INFINITY: ClassVar[Shutdown]

    _kind: _Kind
    _timeout: float

    def __init__(self, timeout: float) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise InvalidSpecError(
                f"shutdown must be a number of seconds, Shutdown.BRUTAL_KILL or "
                f"Shutdown.INFINITY, not {timeout!r}"
            )
        if math.isnan(timeout) or timeout <= 0:
            raise InvalidSpecError(
                f"shutdown timeout must be > 0 seconds (use Shutdown.BRUTAL_KILL to cancel at "
                f"once), not {timeout!r}"
            )
        self._kind = _Kind.INFINITY if math.isinf(timeout) else _Kind.TIMEOUT
        self._timeout = float(timeout)

    @classmethod
    def _special(cls, kind: _Kind, timeout: float) -> Shutdown:
        self = object.__new__(cls)
        self._kind = kind
        self._timeout = timeout
        return self

    @classmethod
    def of(cls, value: Shutdown | float) -> Shutdown:
        """Return ``value`` as a :class:`Shutdown` (numbers are seconds)."""
        return value if isinstance(value, Shutdown) else cls(value)

    @property
    def timeout(self) -> float:
        """The grace period in seconds: 0 for ``BRUTAL_KILL``, ``math.inf`` for ``INFINITY``."""
        return self._timeout

    @property
    def is_brutal_kill(self) -> bool:
        return self._kind is _Kind.BRUTAL_KILL

    @property
    def is_infinity(self) -> bool:
        return self._kind is _Kind.INFINITY

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Shutdown):
            return self._kind is other._kind and self._timeout == other._timeout
        if isinstance(other, int | float) and not isinstance(other, bool):
            return self._kind is not _Kind.BRUTAL_KILL and self._timeout == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_Kind.BRUTAL_KILL) if self.is_brutal_kill else hash(self._timeout)

    def __repr__(self) -> str:
        if self._kind is _Kind.TIMEOUT:
            return f"Shutdown({self._timeout!r})"
        return f"Shutdown.{self._kind.name}"


Shutdown.BRUTAL_KILL = Shutdown._special(_Kind.BRUTAL_KILL, 0.0)
Shutdown.INFINITY = Shutdown._special(_Kind.INFINITY, math.inf)

_WORKER_SHUTDOWN = Shutdown(5.0)


def _check_id(_: object, __: attrs.Attribute[Hashable], value: Hashable) -> None:
    try:
        hash(value)
    except TypeError:
        raise InvalidSpecError(f"child id must be hashable, not {value!r}") from None


def _check_start(_: object, __: attrs.Attribute[StartFunction], value: StartFunction) -> None:
    if not callable(value):
        raise InvalidSpecError(f"child start must be an async callable, not {value!r}")


def _enum_check(
    enum_type: type[enum.Enum], field: str
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, enum_type):
            members = ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
            raise InvalidSpecError(f"{field} must be one of {members}, not {value!r}")

    return check


def _to_shutdown(value: Shutdown | float) -> Shutdown:
    return Shutdown.of(value)


def _default_shutdown(spec: ChildSpec) -> Shutdown:
    return Shutdown.INFINITY if spec.type is ChildType.SUPERVISOR else _WORKER_SHUTDOWN


def _default_trap_exit(spec: ChildSpec) -> bool:
    return spec.type is ChildType.SUPERVISOR


def _check_trap_exit(_: object, __: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise InvalidSpecError(f"trap_exit must be True or False, not {value!r}")


@attrs.frozen
class ChildSpec:
    """One child of a supervisor (OTP ``child_spec``).

    ``start`` is run as ``await nursery.start(start, *args)``: it must call
    ``task_status.started(handle)`` once ready. ``start_child`` returns only then, and returns
    ``handle``. An exception before ``started`` is a failed start; after it, an exception is an
    abnormal exit and returning is a normal exit. ``shutdown`` defaults to 5 seconds for a worker
    and to ``Shutdown.INFINITY`` for ``type=ChildType.SUPERVISOR``, as in OTP.

    ``trap_exit`` is OTP's ``process_flag(trap_exit, true)``: only a child that traps exits gets
    a graceful stop (its stop request, then its ``shutdown`` grace period); any other is
    cancelled at once, so a child that never looks at its stop request costs no stop time. It
    defaults to True for a supervisor and False for a worker. A run that awaits
    :func:`wait_stop_requested` traps exits from then on, whatever the spec says.
    """

    id: Hashable = attrs.field(validator=_check_id)
    start: StartFunction = attrs.field(validator=_check_start, repr=False)
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=_enum_check(Restart, "restart")
    )
    type: ChildType = attrs.field(
        default=ChildType.WORKER, kw_only=True, validator=_enum_check(ChildType, "type")
    )
    shutdown: Shutdown = attrs.field(
        converter=_to_shutdown, default=attrs.Factory(_default_shutdown, takes_self=True)
    )
    trap_exit: bool = attrs.field(
        default=attrs.Factory(_default_trap_exit, takes_self=True),
        kw_only=True,
        validator=_check_trap_exit,
    )
    args: tuple[Any, ...] = attrs.field(default=(), kw_only=True, converter=tuple, repr=False)
