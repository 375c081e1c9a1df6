"""hafs-actors: a trio actor runtime that routes LLM requests across providers."""

from __future__ import annotations

from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .types import *  # noqa: F403
from .types import __all__ as _types_all

__version__ = "0.1.0"

__all__ = [*_errors_all, *_types_all]
