"""Let one exception out of a nursery unwrapped.

A supervisor's nursery is an implementation detail: ``async with open_supervisor()`` should raise
``RestartIntensityExceeded`` (or the body's own exception) itself, not an ``ExceptionGroup``
holding it, so ``except`` clauses and ``pytest.raises`` work as they would without a nursery.
"""

from __future__ import annotations

import sys
from typing import NoReturn

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["raise_sole_or_group", "sole_exception"]


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The only leaf of ``group`` (looking through nested single groups), else None."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return None if isinstance(exc, BaseExceptionGroup) else exc


def raise_sole_or_group(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Raise the group's only exception with its own context and cause, or the group itself."""
    exc = sole_exception(group)
    if exc is None:
        raise group
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context
