"""Re-export names from private modules the way trio does: their ``__module__`` becomes the
public package, so reprs, docs and pickles name ``hafs_actors.routing.Router``, not a private
file that may move."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

import attrs


def publish(package: str, namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Set ``__module__`` of each class and function in ``names`` to ``package``."""
    for name in names:
        obj = namespace[name]
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and module.startswith(package + "._"):
            if isinstance(obj, type) and attrs.has(obj):
                # resolve string annotations while their own module's names are in scope
                attrs.resolve_types(obj)
            with contextlib.suppress(AttributeError, TypeError):  # a constant: nothing to fix
                obj.__module__ = package
