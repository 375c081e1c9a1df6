"""Exception-group unwrapping for context managers that own a nursery.

trio wraps every exception leaving a nursery in an ``ExceptionGroup`` (strict groups). A context
manager whose nursery is an implementation detail should let the caller's own exception (or our
single typed error) through unchanged, so ``except SomeError`` keeps working around
``async with orch.stream(...)``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["sole_exception", "unwrap_single_exception"]


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-member groups, or None if there are several."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return None if isinstance(exc, BaseExceptionGroup) else exc


@asynccontextmanager
async def unwrap_single_exception() -> AsyncIterator[None]:
    """Re-raise a group holding exactly one exception as that exception."""
    try:
        yield
    except BaseExceptionGroup as group:
        sole = sole_exception(group)
        if sole is None:
            raise
        raise sole from sole.__cause__
