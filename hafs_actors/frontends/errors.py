"""Typed errors for front ends used the wrong way: the wrong lifecycle state or the wrong thread.

Not started and closed are also :class:`~hafs_actors.OrchestratorClosed`, the error the trio API
raises in the same situations, so code that catches it works unchanged with a front end.
"""

from __future__ import annotations

from ..errors import HafsError, OrchestratorClosed

__all__ = ["FrontendClosed", "FrontendError", "FrontendNotStarted", "RuntimeThreadError"]


class FrontendError(HafsError):
    """A front-end orchestrator was used in a way that cannot work."""


class FrontendNotStarted(FrontendError, OrchestratorClosed):
    """Used before ``with`` / ``async with`` (or ``initialize()``) started its runtime."""


class FrontendClosed(FrontendError, OrchestratorClosed):
    """Used after close, or after the runtime stopped because of a failure."""


class RuntimeThreadError(FrontendError):
    """A front-end call from the runtime's own thread (a custom adapter, say): it would wait
    for the thread that has to answer it."""
