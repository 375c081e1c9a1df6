"""Declarative request schemas: one table per endpoint, one generic checker, per-provider wording.

A provider describes each endpoint's body as a mapping of field name to :class:`Spec`. The
checker walks a body and returns the first :class:`Problem` (unknown field, missing field, wrong
type, out of range, too long, not an allowed value) with its path. Each provider turns the
problem into its own error message and envelope, so the rules live in one table per endpoint
and the wording in one function per provider. Checking a typical body is a handful of dict and
set lookups, cheap enough for the benchmark path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import attrs

__all__ = ["Fields", "Path", "Problem", "Spec", "check_fields", "check_value", "json_type", "obj"]

Path = tuple[str | int, ...]
ProblemKind = Literal["unknown", "missing", "type", "range", "length", "value"]

# JSON types as the checker names them; "number" also admits integers.
_TYPE_OF: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: object) -> str:
    """The JSON type of a decoded value: string, boolean, integer, number, array, object, null."""
    kind = _TYPE_OF.get(type(value))
    if kind is None:
        return "object" if isinstance(value, Mapping) else "unknown"
    return kind


class Fields(dict[str, "Spec"]):
    """An object's members by name, with its required names worked out once."""

    def __init__(self, fields: Mapping[str, Spec]) -> None:
        super().__init__(fields)
        self.required = tuple(name for name, spec in fields.items() if spec.required)


@attrs.frozen(slots=True)
class Spec:
    """One field: its JSON types and the constraints its API checks.

    ``fields`` describes an object's members (``None``: any members); ``extra`` says whether
    members outside ``fields`` are accepted, as lenient servers (Go, llama.cpp) do.
    """

    types: tuple[str, ...]
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    items: Spec | None = None
    fields: Fields | None = None
    extra: bool = False
    choices: tuple[str, ...] | None = None  # allowed values when the value is a string
    wire_type: str = ""  # the server's own type name for type errors (TYPE_FLOAT, []string)
    plain: bool = attrs.field(init=False)  # nothing to check beyond the type

    @plain.default
    def _plain(self) -> bool:
        return (
            self.choices is None
            and self.minimum is None
            and self.maximum is None
            and self.max_items is None
            and self.items is None
            and self.fields is None
        )


class Problem(NamedTuple):
    """The first thing wrong with a body; ``spec`` is the field's spec (None when unknown)."""

    kind: ProblemKind
    path: Path
    spec: Spec | None
    value: object


def obj(fields: Mapping[str, Spec], *, required: bool = False, extra: bool = False) -> Spec:
    return Spec(("object",), required=required, fields=Fields(fields), extra=extra)


def _type_ok(types: tuple[str, ...], value: object, kind: str) -> bool:
    """Beyond an exact match. ``numeric``: a string holding a number; ``integral``: a float with
    no fraction (both as proto3 JSON admits them)."""
    if "any" in types:
        return True
    if kind == "integer":
        return "number" in types
    if kind == "number" and "integral" in types:
        return float(value).is_integer()  # type: ignore[arg-type]
    if kind == "string" and "numeric" in types:
        try:
            number = float(value)  # type: ignore[arg-type]
        except ValueError:
            return False
        return "integral" not in types or number.is_integer()
    return False


def check_value(spec: Spec, value: object) -> Problem | None:
    """Type, range, length, allowed values, then members or items, depth first.

    Paths are relative to ``value`` and built only on the way out of a failure, so a valid body
    allocates nothing.
    """
    if value is None:
        return Problem("type", (), spec, value) if spec.required else None
    kind = _TYPE_OF.get(type(value)) or json_type(value)
    if kind not in spec.types and not _type_ok(spec.types, value, kind):
        return Problem("type", (), spec, value)
    if spec.plain:
        return None
    if spec.choices is not None and kind == "string" and value not in spec.choices:
        return Problem("value", (), spec, value)
    if isinstance(value, (int, float)) and (
        (spec.minimum is not None and value < spec.minimum)
        or (spec.maximum is not None and value > spec.maximum)
    ):
        return Problem("range", (), spec, value)
    if kind == "array":
        assert isinstance(value, list)
        if spec.max_items is not None and len(value) > spec.max_items:
            return Problem("length", (), spec, value)
        if spec.items is not None:
            for index, item in enumerate(value):
                problem = check_value(spec.items, item)
                if problem is not None:
                    return problem._replace(path=(index, *problem.path))
    elif spec.fields is not None and kind == "object":
        assert isinstance(value, Mapping)
        return check_fields(spec.fields, value, extra=spec.extra)
    return None


def check_fields(
    fields: Fields, body: Mapping[str, Any], path: Path = (), *, extra: bool = False
) -> Problem | None:
    """Unknown members first, then missing required ones, then each member in body order."""
    if not extra:
        for name in body:
            if name not in fields:
                return Problem("unknown", (*path, name), None, body[name])
    for name in fields.required:
        if name not in body:
            return Problem("missing", (*path, name), fields[name], None)
    for name, value in body.items():
        member = fields.get(name)
        if member is not None:
            problem = check_value(member, value)
            if problem is not None:
                return problem._replace(path=(*path, name, *problem.path))
    return None
