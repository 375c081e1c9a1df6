"""The provider layer: one supervised actor per provider, its cell and its admission.

- :mod:`._messages`: the attempt messages a provider actor receives;
- :mod:`._actor`: :class:`ProviderActor`, one incarnation owning a fresh adapter;
- :mod:`._admission`: breaker permit + limiter lease around one attempt;
- :mod:`._pump`: adapter stream events to the caller's bounded channel;
- :mod:`._cell`: :class:`ProviderCell`, the long-lived home and containment policy;
- :mod:`._streams`: the sink an attempt writes stream events into.
"""

from __future__ import annotations

from .._exports import publish as _publish
from ._actor import ProviderActor
from ._cell import PER_MODEL_LIMITS, ProviderCell, ProviderCellConfig, ProviderStatistics
from ._messages import EmbedCall, GenerateCall, HealthCall, ProviderMessage, StreamCall
from ._streams import RacingSink, StreamItem, StreamOutcome, StreamSink

__all__ = [
    "PER_MODEL_LIMITS",
    "EmbedCall",
    "GenerateCall",
    "HealthCall",
    "ProviderActor",
    "ProviderCell",
    "ProviderCellConfig",
    "ProviderMessage",
    "ProviderStatistics",
    "RacingSink",
    "StreamCall",
    "StreamItem",
    "StreamOutcome",
    "StreamSink",
]

_publish(__name__, globals(), __all__)
