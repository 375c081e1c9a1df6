"""The exceptions of :mod:`supervisors`; every one derives from :class:`SupervisorError`."""

from __future__ import annotations

from collections.abc import Hashable

__all__ = [
    "ChildNotFoundError",
    "ChildRunningError",
    "DuplicateChildError",
    "InvalidSpecError",
    "RestartIntensityExceeded",
    "StartChildError",
    "SupervisorClosedError",
    "SupervisorError",
]


class SupervisorError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidSpecError(SupervisorError, ValueError, TypeError):
    """An illegal child spec, supervisor flag or backoff setting.

    It is both a ``ValueError`` (a value out of range) and a ``TypeError`` (a value of the wrong
    type), so either idiom catches it; the message says which field and what was expected.
    """


class DuplicateChildError(InvalidSpecError):
    """A child with this id is already in the supervisor (OTP ``already_present``)."""


class ChildNotFoundError(SupervisorError, KeyError):
    """No child with this id is in the supervisor (OTP ``not_found``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "child not found"


class ChildRunningError(SupervisorError, RuntimeError):
    """The operation needs a terminated child, but it is running or restarting."""


class SupervisorClosedError(SupervisorError, RuntimeError):
    """The supervisor has stopped (or is stopping) and takes no more requests."""


class StartChildError(SupervisorError):
    """A child failed while starting: it raised before ``task_status.started()``.

    The child's own exception is chained as ``__cause__``.
    """

    def __init__(self, supervisor: str, child_id: Hashable, error: BaseException) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.error = error
        super().__init__(
            f"supervisor {supervisor!r}: child {child_id!r} failed to start: "
            f"{type(error).__name__}: {error}"
        )


class RestartIntensityExceeded(SupervisorError):
    """More than ``intensity`` restarts happened within ``period`` seconds: the supervisor gave up.

    By the time this is raised every child of the supervisor has been stopped. ``child_id`` is the
    child whose exit asked for the restart that was one too many, and ``error`` (also chained as
    ``__cause__``) is that child's exception, or ``None`` if it exited normally.
    """

    def __init__(
        self,
        supervisor: str,
        child_id: Hashable,
        error: BaseException | None,
        *,
        intensity: int,
        period: float,
    ) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.error = error
        self.intensity = intensity
        self.period = period
        what = f"{type(error).__name__}: {error}" if error is not None else "normal exit"
        super().__init__(
            f"supervisor {supervisor!r} gave up: more than {intensity} restart(s) within "
            f"{period:g}s; last exit was child {child_id!r} ({what})"
        )
