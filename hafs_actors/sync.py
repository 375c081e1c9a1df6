"""Use hafs from synchronous code (scripts, threads): ``with Orchestrator(...) as orch``.

The trio runtime runs in a thread of its own; see docs/frontends.md. Importing this module is
the only way to load the front end: ``import hafs_actors`` does not.
"""

from __future__ import annotations

from .frontends.errors import FrontendClosed, FrontendError, FrontendNotStarted, RuntimeThreadError
from .frontends.sync import Fanout, Orchestrator, Stream

__all__ = [
    "Fanout",
    "FrontendClosed",
    "FrontendError",
    "FrontendNotStarted",
    "Orchestrator",
    "RuntimeThreadError",
    "Stream",
]

# Reprs and docs name the public module, as trio's re-exports do.
for _exported in (Fanout, Orchestrator, Stream):
    _exported.__module__ = __name__
