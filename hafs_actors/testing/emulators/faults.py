"""Fault plans: which requests misbehave, and how.

A :class:`FaultPlan` is a list of :class:`Fault` rules plus an optional server-side
:class:`~.quota.Quota`. Each rule has a *kind* (what goes wrong), filters
(``endpoint``, ``model``, ``stream``) and a selector (``nth``, ``every``, ``probability``,
``count``). Counting is per rule over the requests that pass its filters, 1-based, so
``Fault(kind="http_error", status=503, nth=3)`` fails exactly the third matching request whatever
other rules do. When several rules select the same request, the first in the plan wins.

Plans load from a dict, a JSON file or a TOML file (:meth:`FaultPlan.from_file`); mistakes raise
:class:`~hafs_actors.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import base64
import json
import math
import random
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.v import format_exception

from ...errors import ConfigError
from .quota import Quota

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["FAULT_KINDS", "Fault", "FaultKind", "FaultPlan", "FaultSelector", "RetryAfterFormat"]

FaultKind = Literal[
    "http_error",
    "rate_limit",
    "hang",
    "drop",
    "stream_error",
    "malformed_json",
    "slow_drip",
    "replay",
]
FAULT_KINDS: tuple[str, ...] = (
    "http_error",
    "rate_limit",
    "hang",
    "drop",
    "stream_error",
    "malformed_json",
    "slow_drip",
    "replay",
)
RetryAfterFormat = Literal["seconds", "float", "ms", "http_date"]
_RETRY_AFTER_FORMATS = ("seconds", "float", "ms", "http_date")

# Endpoint categories a filter may name instead of one endpoint.
CATEGORIES = ("generate", "embed", "models", "health", "other")


def _positive_int(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _non_negative_int(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _seconds(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not value >= 0 or math.isinf(value)):
        raise ValueError(f"{attribute.name} must be a finite number of seconds >= 0, got {value!r}")


def _headers(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


@attrs.frozen
class Fault:
    """One misbehaviour rule.

    Kinds and their parameters:

    * ``http_error``: answer ``status`` (default 500) in the provider's error format;
      ``message``/``error_type`` override the body, ``retry_after`` adds the header.
    * ``rate_limit``: a 429 exactly as the provider sends it (OpenAI ``x-ratelimit-*``,
      Anthropic ``anthropic-ratelimit-*`` + ``retry-after``, Gemini ``RESOURCE_EXHAUSTED`` with a
      ``RetryInfo.retryDelay``); ``retry_after`` seconds (default 1) in ``retry_after_format``.
    * ``hang``: read the request and never answer (until the client gives up).
    * ``drop``: cut the connection after ``after_bytes`` body bytes or ``after_chunks`` stream
      events (default: half the body, or one event).
    * ``stream_error``: streams only; after ``after_chunks`` events (default 1) send an error
      event in the provider's own stream format, then end the stream.
    * ``malformed_json``: a 200 whose JSON (or one stream event) does not parse.
    * ``slow_drip``: send the body ``piece_size`` bytes at a time, ``interval`` seconds apart.
    * ``replay``: answer ``body`` verbatim with ``status`` (default 200), ``content_type`` and
      ``headers`` (e.g. a recorded fixture file).
    """

    kind: str = attrs.field(validator=attrs.validators.in_(FAULT_KINDS))
    # selection
    probability: float | None = None
    nth: int | None = attrs.field(default=None, validator=_positive_int)
    every: int | None = attrs.field(default=None, validator=_positive_int)
    endpoint: str | None = None
    model: str | None = None
    stream: bool | None = None
    count: int | None = attrs.field(default=None, validator=_positive_int)
    # parameters
    status: int | None = None
    message: str | None = None
    error_type: str | None = None
    retry_after: float | None = attrs.field(default=None, validator=_seconds)
    retry_after_format: str = attrs.field(
        default="seconds", validator=attrs.validators.in_(_RETRY_AFTER_FORMATS)
    )
    after_bytes: int | None = attrs.field(default=None, validator=_non_negative_int)
    after_chunks: int | None = attrs.field(default=None, validator=_non_negative_int)
    piece_size: int = attrs.field(default=8, validator=_positive_int)
    interval: float = attrs.field(default=0.05, validator=_seconds)
    body: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_headers)

    def __attrs_post_init__(self) -> None:
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status (100-599), got {self.status!r}")
        if self.kind == "replay" and self.body is None:
            raise ValueError("a replay fault needs a body (or body_file in a plan file)")

    def matches(
        self, endpoint: str, path: str, category: str, model: str | None, stream: bool
    ) -> bool:
        """Whether a request passes this rule's filters (selection is the selector's job)."""
        if self.endpoint is not None and self.endpoint not in (endpoint, path, category):
            return False
        if self.model is not None and self.model != model:
            return False
        wants_stream = True if self.kind == "stream_error" else self.stream
        return wants_stream is None or wants_stream == stream

    def to_dict(self) -> dict[str, Any]:
        """The plan-file form of this rule (defaults left out, body as base64)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(Fault):
            value = getattr(self, field.name)
            if value == field.default:
                continue
            if field.name == "body":
                out["body_base64"] = base64.b64encode(value).decode("ascii")
            elif field.name == "headers":
                out["headers"] = dict(value)
            else:
                out[field.name] = value
        return out


def _strict_int(value: object, _type: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _strict_float(value: object, _type: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _strict_bool(value: object, _type: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _bytes(value: object, _type: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected a string, got {value!r}")


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(int, _strict_int)
_converter.register_structure_hook(float, _strict_float)
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(bool, _strict_bool)
_converter.register_structure_hook(bytes, _bytes)


def _format_error(exc: BaseException, type_: object) -> str:
    if isinstance(exc, (ValueError, TypeError)) and not isinstance(
        exc, cattrs.ForbiddenExtraKeysError
    ):
        return str(exc)
    return format_exception(exc, type_)  # type: ignore[arg-type]


def _fault_tuple(faults: Iterable[Fault]) -> tuple[Fault, ...]:
    return tuple(faults)


@attrs.frozen
class FaultPlan:
    """The faults and quota an emulator applies; replace it at run time with ``set_faults``.

    ``seed`` feeds the RNG of ``probability`` selectors (default: the emulator's seed).
    """

    faults: tuple[Fault, ...] = attrs.field(default=(), converter=_fault_tuple)
    quota: Quota | None = None
    seed: int | None = None

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, base_dir: Path | None = None, source: str = "fault plan"
    ) -> FaultPlan:
        """Build a plan from its dict form (the JSON/TOML file's content).

        A fault may give ``body`` (text), ``body_base64`` or ``body_file`` (a path, relative to
        ``base_dir``) for replay, and ``headers`` as a table.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a table/object, got {type(data).__name__}", source=source)
        prepared = dict(data)
        raw_faults = prepared.get("faults", [])
        if not isinstance(raw_faults, list):
            raise ConfigError("expected a list of faults", source=source, key="faults")
        faults = []
        for index, raw in enumerate(raw_faults):
            if not isinstance(raw, Mapping):
                raise ConfigError("expected a table/object", source=source, key=f"faults[{index}]")
            faults.append(_prepare_fault(dict(raw), base_dir, source, f"faults[{index}]"))
        prepared["faults"] = faults
        try:
            return _converter.structure(prepared, cls)
        except Exception as exc:
            messages = cattrs.transform_error(exc, format_exception=_format_error)
            raise ConfigError("; ".join(messages), source=source) from None

    @classmethod
    def from_file(cls, path: str | Path) -> FaultPlan:
        """Load a plan from a ``.toml`` or ``.json`` file (other names: JSON, then TOML)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read fault plan: {exc.strerror}", source=str(path)) from None
        data: Any
        try:
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(text)
            elif path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError:
                    data = tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"not valid JSON or TOML: {exc}", source=str(path)) from None
        return cls.from_dict(data, base_dir=path.parent, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The dict form (what ``GET /_emulator/faults`` shows and ``from_dict`` reads back)."""
        out: dict[str, Any] = {"faults": [fault.to_dict() for fault in self.faults]}
        if self.quota is not None:
            out["quota"] = attrs.asdict(self.quota)
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def _prepare_fault(
    raw: dict[str, Any], base_dir: Path | None, source: str, key: str
) -> dict[str, Any]:
    given = [name for name in ("body", "body_base64", "body_file") if name in raw]
    if len(given) > 1:
        raise ConfigError(f"give only one of {', '.join(given)}", source=source, key=key)
    if "body_base64" in raw:
        try:
            raw["body"] = base64.b64decode(raw.pop("body_base64"), validate=True)
        except (ValueError, TypeError):
            raise ConfigError("body_base64 is not valid base64", source=source, key=key) from None
    elif "body_file" in raw:
        name = raw.pop("body_file")
        if not isinstance(name, str):
            raise ConfigError("body_file must be a path string", source=source, key=key)
        file = Path(name)
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        try:
            raw["body"] = file.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read body_file {str(file)!r}: {exc.strerror}", source=source, key=key
            ) from None
    if "headers" in raw:
        headers = raw["headers"]
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError("headers must be a table of strings", source=source, key=key)
        raw["headers"] = [[k, v] for k, v in headers.items()]
    return raw


class FaultSelector:
    """The run-time state of one plan: per-rule match counters, fire counts and the RNG."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed if plan.seed is not None else seed)
        self._matched = [0] * len(plan.faults)
        self._fired = [0] * len(plan.faults)

    def select(
        self, endpoint: str, path: str, category: str, model: str | None, stream: bool
    ) -> Fault | None:
        """The fault for this request, if any; advances the counters of every matching rule."""
        chosen: Fault | None = None
        for index, fault in enumerate(self.plan.faults):
            if not fault.matches(endpoint, path, category, model, stream):
                continue
            self._matched[index] += 1
            if chosen is not None:
                continue
            seen = self._matched[index]
            if fault.count is not None and self._fired[index] >= fault.count:
                continue
            if fault.nth is not None and seen != fault.nth:
                continue
            if fault.every is not None and seen % fault.every:
                continue
            if fault.probability is not None and self._rng.random() >= fault.probability:
                continue
            self._fired[index] += 1
            chosen = fault
        return chosen
