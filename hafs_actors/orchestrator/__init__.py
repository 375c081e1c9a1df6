"""The orchestrator layer: the user-facing API and the runtime's lifecycle.

- :mod:`._orchestrator`: :class:`UnifiedOrchestrator`, its lifecycle and requests;
- :mod:`._requests`: the API boundary (arguments to a validated request and its route);
- :mod:`._tree`: building the router and the provider cells from the configuration;
- :mod:`._fanout`: many requests with bounded concurrency;
- :mod:`._stream`: the caller's side of a stream.
"""

from __future__ import annotations

from .._exports import publish as _publish
from ._fanout import FanoutItem, FanoutResults
from ._orchestrator import OrchestratorStatus, UnifiedOrchestrator, open_orchestrator
from ._stream import StreamResponse

__all__ = [
    "FanoutItem",
    "FanoutResults",
    "OrchestratorStatus",
    "StreamResponse",
    "UnifiedOrchestrator",
    "open_orchestrator",
]

_publish(__name__, globals(), __all__)
