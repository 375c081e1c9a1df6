"""hafs-actors: a trio actor runtime that routes LLM requests across providers.

The API of docs/usage.md::

    from hafs_actors import UnifiedOrchestrator, Provider, TaskTier

    async with UnifiedOrchestrator() as orch:
        result = await orch.generate(prompt="Write a function to sort a list", tier=TaskTier.CODING)
        print(result.content)
"""

from __future__ import annotations

import logging

from .config import HafsConfig, ProviderConfig, load_config
from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .orchestrator import (
    FanoutItem,
    FanoutResults,
    OrchestratorStatus,
    StreamResponse,
    UnifiedOrchestrator,
    open_orchestrator,
)
from .providers import ProviderStatistics
from .routing import RouterStatistics
from .routing.tiers import DEFAULT_TIER_ROUTES, Provider, TaskTier
from .types import *  # noqa: F403
from .types import __all__ as _types_all

__version__ = "0.1.0"

# A library logs; the application decides where it goes (nothing is printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: docs/usage.md's name for the default tier routes.
TIER_ROUTES = DEFAULT_TIER_ROUTES

__all__ = [
    "DEFAULT_TIER_ROUTES",
    "TIER_ROUTES",
    "FanoutItem",
    "FanoutResults",
    "HafsConfig",
    "OrchestratorStatus",
    "Provider",
    "ProviderConfig",
    "ProviderStatistics",
    "RouterStatistics",
    "StreamResponse",
    "TaskTier",
    "UnifiedOrchestrator",
    "load_config",
    "open_orchestrator",
    *_errors_all,
    *_types_all,
]
