"""attrs validators for configuration values, raising a :class:`ConfigError` that names the field.

Shared by :mod:`~hafs_actors.config` and :mod:`~hafs_actors.routing.capabilities` so that a
bad value is reported the same way whether it came from a file, the environment or a
constructor call; the config loader adds the file and the full key path.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import ConfigError

__all__ = [
    "InvalidValue",
    "at_least",
    "between",
    "describe",
    "did_you_mean",
    "greater_than",
    "number_at_least",
    "one_of",
    "url",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def describe(value: object, *, secret: bool = False) -> str:
    """How a found value is shown in an error: its type and a short repr (never for secrets)."""
    kind = type(value).__name__
    if secret:
        return f"a {kind} (value hidden)"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class InvalidValue(ConfigError):
    """A field's value has the right type but is out of range (or not one of the choices)."""

    def __init__(
        self, field: str, expected: str, found: object, *, hint: str = "", secret: bool = False
    ) -> None:
        self.field = field
        self.expected = expected
        self.detail = f"expected {expected}, found {describe(found, secret=secret)}{hint}"
        super().__init__(self.detail, key=field)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def greater_than(bound: float) -> Validator:
    """Value (when not None) is a number > bound."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not (_is_number(value) and value > bound):  # type: ignore[operator]
            raise InvalidValue(attribute.name, f"a number > {bound:g}", value)

    return check


def number_at_least(bound: float) -> Validator:
    """Value (when not None) is a number >= bound."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not (_is_number(value) and value >= bound):  # type: ignore[operator]
            raise InvalidValue(attribute.name, f"a number >= {bound:g}", value)

    return check


def at_least(bound: int) -> Validator:
    """Value (when not None) is an integer >= bound."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= bound):
            raise InvalidValue(attribute.name, f"an integer >= {bound}", value)

    return check


def between(low: float, high: float, *, low_inclusive: bool = True) -> Validator:
    """Value (when not None) is a number in [low, high] (or (low, high])."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        ok = _is_number(value) and (
            (low <= value if low_inclusive else low < value) and value <= high  # type: ignore[operator]
        )
        if not ok:
            bracket = "[" if low_inclusive else "("
            raise InvalidValue(attribute.name, f"a number in {bracket}{low:g}, {high:g}]", value)

    return check


def one_of(choices: Iterable[str]) -> Validator:
    """Value (when not None) is one of ``choices``; suggests the closest on a typo."""
    allowed = tuple(choices)

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None or value in allowed:
            return
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        expected = "one of " + ", ".join(repr(c) for c in allowed)
        raise InvalidValue(attribute.name, expected, value, hint=hint)

    return check


def url(*schemes: str) -> Validator:
    """Value (when not None) is an absolute URL with one of ``schemes`` and a host."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        expected = "an absolute URL (" + "|".join(schemes) + "://host...)"
        if not isinstance(value, str):
            raise InvalidValue(attribute.name, expected, value)
        secret = "@" in value  # may carry credentials (proxies): never echo it
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises ValueError on a bad port
        except ValueError:
            raise InvalidValue(attribute.name, expected, value, secret=secret) from None
        if parts.scheme not in schemes or not parts.hostname:
            raise InvalidValue(attribute.name, expected, value, secret=secret)

    return check
