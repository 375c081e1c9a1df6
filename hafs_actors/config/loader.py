"""Loading the configuration: file, environment and arguments, per key, with sources.

Precedence is arguments > environment > file > defaults, decided per key: the three layers are
merged into one nested mapping (recording which layer set each key), which cattrs then
structures into the attrs classes of :mod:`.model`. Every problem becomes one
:class:`~hafs_actors.errors.ConfigError` naming the file (or variable), the key path, what was
expected and what was found; unknown keys get a "did you mean" hint.
"""

from __future__ import annotations

import enum
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn

from .._validation import InvalidValue, describe, did_you_mean
from ..errors import ConfigError
from ..observability._settings import TelemetrySettings
from ..routing.capabilities import LOCAL_KINDS
from ..routing.tiers import DEFAULT_TIER_ROUTES, Route, parse_route_entry
from ..state._settings import StateSettings
from .model import (
    BASE_URL_ENV_VARS,
    DEFAULT_BASE_URLS,
    CostSettings,
    HafsConfig,
    ProviderConfig,
    RequestTimeouts,
    RetrySettings,
    RoutingSettings,
    SupervisionSettings,
    default_api_key_env,
)
from .view import KeyPath, format_key

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ENV_VARS", "load_config", "resolve_config_path"]

#: Read for Gemini's key when ``GEMINI_API_KEY`` is unset, as google-genai does.
_GEMINI_ALIAS = "GOOGLE_API_KEY"

#: Every environment variable the loader reads (besides each provider's ``api_key_env``).
ENV_VARS: tuple[str, ...] = (
    "HAFS_CONFIG",
    "XDG_CONFIG_HOME",
    "HAFS_MODEL_PROVIDER",
    "HAFS_MODEL_MODEL",
    "HAFS_MODEL_ROTATION",
    "HAFS_REDIS_URL",
    "HAFS_STATE_SHARE",
    _GEMINI_ALIAS,
    *BASE_URL_ENV_VARS.values(),
)

_SECTIONS: Mapping[str, type] = {
    "routing": RoutingSettings,
    "timeouts": RequestTimeouts,
    "retry": RetrySettings,
    "cost": CostSettings,
    "supervision": SupervisionSettings,
    "state": StateSettings,
    "telemetry": TelemetrySettings,
}
_TOP_LEVEL = ("providers", "routes", *_SECTIONS)
_ARGUMENT = "argument"


# --- locating the file ----------------------------------------------------------------------


def resolve_config_path(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> tuple[Path, str | None]:
    """The file to read and, when it was asked for explicitly, how (for error messages).

    ``path`` argument, else ``$HAFS_CONFIG``, else ``$XDG_CONFIG_HOME/hafs/config.toml`` (when
    absolute, as the XDG spec requires), else ``~/.config/hafs/config.toml``. Only the implicit
    locations may be missing.
    """
    env = os.environ if env is None else env
    if path is not None:
        return Path(path).expanduser(), "argument"
    if env.get("HAFS_CONFIG"):
        return Path(env["HAFS_CONFIG"]).expanduser(), "HAFS_CONFIG"
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "hafs" / "config.toml", None
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".config" / "hafs" / "config.toml", None


def _read_file(path: Path, explicit: str | None) -> dict[str, Any] | None:
    label = f"file {path}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if explicit is None:
            return None
        via = "" if explicit == "argument" else f" (from ${explicit})"
        raise ConfigError(f"file not found{via}", source=label) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", source=label) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=label) from None
    try:
        parsed: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_message(exc), source=label) from None
    return parsed


def _toml_message(exc: ValueError) -> str:
    message = str(exc)
    line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if line is None and found:
        line, col = int(found.group(1)), int(found.group(2))
    reason = getattr(exc, "msg", None) or re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    where = f"line {line}, column {col}" if line is not None else "unknown position"
    return f"invalid TOML at {where}: {reason}"


# --- merging layers -------------------------------------------------------------------------


class _Layers:
    """The merged raw configuration and, per key path, the layer that set it."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}
        self.sources: dict[KeyPath, str] = {}

    def put(self, path: tuple[str, ...], value: Any, label: str) -> None:
        node = self.tree
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                prefix = path[: depth + 1]
                raise ConfigError(
                    f"expected a table, found {describe(child)}",
                    source=self.source_of(prefix),
                    key=format_key(prefix),
                )
            node = child
        old = node.get(path[-1])
        if isinstance(old, dict) and not isinstance(value, Mapping):
            for key in [k for k in self.sources if k[: len(path)] == path]:
                del self.sources[key]
        if isinstance(value, Mapping):
            if isinstance(old, dict):
                self.sources.setdefault(path, label)  # an empty table still declares something
            else:
                node[path[-1]] = {}
                self.sources[path] = label
            for key, item in value.items():
                self.put((*path, str(key)), item, label)
        else:
            node[path[-1]] = value
            self.sources[path] = label

    def merge(self, tree: Mapping[str, Any], label: str) -> None:
        for key, value in tree.items():
            self.put((str(key),), value, label)

    def copy(self) -> _Layers:
        clone = _Layers()
        clone.tree = _deepcopy(self.tree)
        clone.sources = dict(self.sources)
        return clone

    def get(self, path: KeyPath) -> Any:
        node: Any = self.tree
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def source_of(self, path: KeyPath) -> str:
        """Where the value at ``path`` (or, failing that, under or above it) came from."""
        if path in self.sources:
            return self.sources[path]
        for key, label in self.sources.items():
            if key[: len(path)] == path:
                return label
        for cut in range(len(path) - 1, 0, -1):
            if path[:cut] in self.sources:
                return self.sources[path[:cut]]
        return "default"

    def declared(self, path: KeyPath) -> bool:
        return any(key[: len(path)] == path for key in self.sources)


def _normalize_ollama_host(value: str) -> str:
    """``OLLAMA_HOST`` as the ollama client reads it: without a scheme it is ``http`` on port
    11434 by default (``localhost``, ``0.0.0.0:11434``); with one, the scheme's port."""
    text = value.strip().rstrip("/")
    if "://" in text:
        return text
    hostport, slash, path = text.partition("/")
    if not re.search(r":\d+$", hostport):
        hostport = f"{hostport}:11434"
    return f"http://{hostport}{slash}{path}"


def _env_entries(
    layers: _Layers, env: Mapping[str, str]
) -> list[tuple[tuple[str, ...], object, str]]:
    """The environment's (key path, value, source) entries, given the other layers."""
    entries: list[tuple[tuple[str, ...], object, str]] = []

    def var(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None  # an exported empty variable counts as unset

    providers = layers.get(("providers",))
    names = set(DEFAULT_BASE_URLS)
    if isinstance(providers, dict):
        names.update(k for k, v in providers.items() if isinstance(v, dict))
    for name in sorted(names):
        key_env = layers.get(("providers", name, "api_key_env"))
        if key_env is None and not layers.declared(("providers", name, "api_key_env")):
            key_env = default_api_key_env(name)
        if isinstance(key_env, str) and key_env and (key := var(key_env)):
            entries.append((("providers", name, "api_key"), key, f"env {key_env}"))
        elif key_env == "GEMINI_API_KEY" and (key := var(_GEMINI_ALIAS)):
            # google-genai's other name for the key; GEMINI_API_KEY wins when both are set
            entries.append((("providers", name, "api_key"), key, f"env {_GEMINI_ALIAS}"))
    for name, variable in BASE_URL_ENV_VARS.items():
        if (value := var(variable)) is not None:
            if name == "ollama":
                value = _normalize_ollama_host(value)
            entries.append((("providers", name, "base_url"), value.rstrip("/"), f"env {variable}"))
    for variable, path in (
        ("HAFS_MODEL_PROVIDER", ("routing", "provider")),
        ("HAFS_MODEL_MODEL", ("routing", "model")),
        ("HAFS_MODEL_ROTATION", ("routing", "rotation")),
        ("HAFS_REDIS_URL", ("state", "redis_url")),
    ):
        if (value := var(variable)) is not None:
            entries.append((path, value, f"env {variable}"))
    if (share := var("HAFS_STATE_SHARE")) is not None:
        # a count: a whole number stays text otherwise, and the check then names the variable
        entries.append(
            (("state", "share"), int(share) if share.isdigit() else share, "env HAFS_STATE_SHARE")
        )
    return entries


# --- structuring ----------------------------------------------------------------------------


class _Problem(Exception):
    """A structuring hook's complaint; the walker adds the key path."""

    def __init__(self, expected: str, found: object, subpath: KeyPath = (), hint: str = ""):
        super().__init__(expected)
        self.expected = expected
        self.found = found
        self.subpath = subpath
        self.hint = hint


class _Errors(Exception):
    """Several problems under one value (a table of tables, a route)."""

    def __init__(self, errors: list[tuple[KeyPath, BaseException]]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def _plain_str(value: object, _t: object = str) -> str:
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value.value
    if not isinstance(value, str):
        raise _Problem("a string", value)
    return value


def _strict_int(value: object, _t: object = int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Problem("an integer", value)
    return value


def _strict_float(value: object, _t: object = float) -> float:
    # Integers stay integers (a valid float per PEP 484) so messages show what was written.
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Problem("a number", value)
    return value


def _strict_bool(value: object, _t: object = bool) -> bool:
    if not isinstance(value, bool):
        raise _Problem("true or false", value)
    return value


def _structure_route(value: object, _t: object = Route) -> Route:
    """A route: a list of ``"provider:model"`` strings (or ``[provider, model]`` pairs), or
    one comma-separated string as in ``HAFS_MODEL_ROTATION``."""
    if isinstance(value, str):
        items: list[object] = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _Problem("a list of 'provider:model' strings", value)
    route = []
    errors: list[tuple[KeyPath, BaseException]] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, str):
                route.append(parse_route_entry(item))
            elif (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and isinstance(item[0], str)
                and item[0]
                and (item[1] is None or isinstance(item[1], str))
            ):
                route.append((_plain_str(item[0]), None if item[1] is None else item[1]))
            else:
                raise _Problem("'provider:model' or a [provider, model] pair", item)
        except ValueError as exc:
            errors.append(((index,), _Problem(str(exc).removeprefix("expected "), None)))
        except _Problem as exc:
            errors.append(((index,), exc))
    if errors:
        raise _Errors(errors)
    return tuple(route)


def _is_literal(t: object) -> bool:
    return typing.get_origin(t) is typing.Literal


def _structure_literal(value: object, t: object) -> object:
    choices = typing.get_args(t)
    if value not in choices:
        hint = did_you_mean(value, [str(c) for c in choices]) if isinstance(value, str) else ""
        raise _Problem("one of " + ", ".join(repr(c) for c in choices), value, hint=hint)
    return value


def _is_bool_or_str(t: object) -> bool:
    return isinstance(t, types.UnionType) and set(typing.get_args(t)) == {bool, str}


def _structure_bool_or_str(value: object, _t: object) -> bool | str:
    if not isinstance(value, (bool, str)):
        raise _Problem("true, false or a CA bundle path", value)
    return value


def _is_str_mapping(t: object) -> bool:
    return typing.get_origin(t) in (Mapping, dict, typing.Mapping) and (
        typing.get_args(t)[:1] == (str,)
    )


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _plain_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook_func(lambda t: t == Route, _structure_route)
    converter.register_structure_hook_func(_is_literal, _structure_literal)
    converter.register_structure_hook_func(_is_bool_or_str, _structure_bool_or_str)

    def mapping_hook(t: Any) -> Callable[[object, object], dict[str, Any]]:
        value_type = typing.get_args(t)[1]

        def structure(value: object, _t: object) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                raise _Problem("a table", value)
            out: dict[str, Any] = {}
            errors: list[tuple[KeyPath, BaseException]] = []
            for key, item in value.items():
                try:
                    out[str(key)] = converter.structure(item, value_type)
                except Exception as exc:
                    errors.append(((str(key),), exc))
            if errors:
                raise _Errors(errors)
            return out

        return structure

    def class_hook(cl: type) -> Callable[[object, object], Any]:
        generated: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(cl, converter)

        def structure(value: object, _t: object) -> Any:
            if not isinstance(value, Mapping):
                raise _Problem("a table", value)
            return generated(value, cl)

        return structure

    converter.register_structure_hook_factory(_is_str_mapping, mapping_hook)
    converter.register_structure_hook_factory(attrs.has, class_hook)
    return converter


_CONVERTER = _make_converter()


def _secret(path: KeyPath) -> bool:
    return any(part in ("api_key", "headers") for part in path)


def _walk(exc: BaseException, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """(key path, message) for every problem inside a structuring error."""
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            yield from _walk(sub, (*path, note.name))
        for sub in without:
            yield from _walk(sub, path)
    elif isinstance(exc, IterableValidationError):
        with_index, without_index = exc.group_exceptions()
        for sub, index_note in with_index:
            yield from _walk(sub, (*path, index_note.index))
        for sub in without_index:
            yield from _walk(sub, path)
    elif isinstance(exc, _Errors):
        for subpath, problem in exc.errors:
            yield from _walk(problem, (*path, *subpath))
    elif isinstance(exc, ForbiddenExtraKeysError):
        valid = [f.name for f in attrs.fields(exc.cl) if f.name != "name"]
        for key in sorted(exc.extra_fields):
            hint = did_you_mean(key, valid)
            tail = hint or "; valid keys: " + ", ".join(valid)
            yield (*path, key), f"unknown key {key!r}{tail}"
    elif isinstance(exc, InvalidValue):
        full = (*path, *exc.field.split("."))
        if _secret(full):
            yield full, f"expected {exc.expected}, found a value that is hidden"
        else:
            yield full, exc.detail
    elif isinstance(exc, _Problem):
        full = (*path, *exc.subpath)
        found = "" if exc.found is None else f", found {describe(exc.found, secret=_secret(full))}"
        yield full, f"expected {exc.expected}{found}{exc.hint}"
    elif isinstance(exc, KeyError):
        yield (*path, str(exc.args[0])), "missing required key"
    else:
        yield path, f"{type(exc).__name__}: {exc}"


def _raise_errors(problems: list[tuple[KeyPath, str]], layers: _Layers) -> None:
    if not problems:
        return
    (first_path, first), *rest = problems
    lines = [first]
    for path, message in rest:
        lines.append(f"  also: {layers.source_of(path)}, key {format_key(path)!r}: {message}")
    raise ConfigError(
        "\n".join(lines), source=layers.source_of(first_path), key=format_key(first_path)
    )


def _structure(layers: _Layers, source_file: Path | None) -> HafsConfig:
    raw = layers.tree
    problems: list[tuple[KeyPath, str]] = []

    def section(name: str, cl: type) -> Any:
        value = raw.get(name, {})
        try:
            return _CONVERTER.structure(value, cl)
        except Exception as exc:
            problems.extend(_walk(exc, (name,)))
            return None

    default_provider: str | None = None
    providers: dict[str, ProviderConfig] = {}
    providers_raw = raw.get("providers", {})
    if not isinstance(providers_raw, dict):
        problems.append((("providers",), f"expected a table, found {describe(providers_raw)}"))
        providers_raw = {}
    for name, table in providers_raw.items():
        if name == "default":
            if table is not None and not isinstance(table, str):
                problems.append(
                    (("providers", "default"), f"expected a provider name, found {describe(table)}")
                )
            else:
                default_provider = table
            continue
        if not isinstance(table, dict):
            problems.append(
                (
                    ("providers", name),
                    f"expected a [providers.{name}] table, found {describe(table, secret=True)}",
                )
            )
            continue
        if "name" in table:
            problems.append((("providers", name, "name"), "unknown key 'name' (the table name is)"))
            continue
        try:
            providers[name] = _CONVERTER.structure({"name": name, **table}, ProviderConfig)
        except Exception as exc:
            problems.extend(_walk(exc, ("providers", name)))

    routes: dict[str, Route] = dict(DEFAULT_TIER_ROUTES)
    routes_raw = raw.get("routes", {})
    if not isinstance(routes_raw, dict):
        problems.append((("routes",), f"expected a table, found {describe(routes_raw)}"))
        routes_raw = {}
    for tier, route in routes_raw.items():
        try:
            routes[tier] = _structure_route(route)
        except Exception as exc:
            problems.extend(_walk(exc, ("routes", tier)))

    sections = {name: section(name, cl) for name, cl in _SECTIONS.items()}
    for key in raw:
        if key not in _TOP_LEVEL:
            hint = did_you_mean(key, _TOP_LEVEL) or "; valid sections: " + ", ".join(_TOP_LEVEL)
            problems.append(((key,), f"unknown key {key!r}{hint}"))
    _raise_errors(problems, layers)

    # Local providers are enabled by being declared anywhere (file table, env var, argument).
    for name, provider in providers.items():
        if (
            provider.kind in LOCAL_KINDS
            and provider.enabled is None
            and layers.declared(("providers", name))
        ):
            providers[name] = attrs.evolve(provider, enabled=True)
            layers.sources.setdefault(
                ("providers", name, "enabled"),
                f"auto (declared by {layers.source_of(('providers', name))})",
            )
    for name in DEFAULT_BASE_URLS:
        providers.setdefault(name, ProviderConfig(name=name))

    try:
        return HafsConfig(
            providers=providers,
            default_provider=default_provider,
            routes=routes,
            source_file=source_file,
            sources={format_key(k): v for k, v in layers.sources.items()},
            **sections,
        )
    except InvalidValue as exc:
        _raise_errors(list(_walk(exc, ())), layers)
        raise  # pragma: no cover - _raise_errors always raises for a non-empty list


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HafsConfig:
    """Load the effective configuration: ``overrides`` > ``env`` > the file > defaults, per key.

    ``path``: the TOML file (see :func:`resolve_config_path`; a missing implicit file means
    defaults). ``env``: the environment (``os.environ`` when ``None``). ``overrides``: a nested
    mapping shaped like the file, e.g. ``{"providers": {"openai": {"base_url": url}}}``.
    Raises :class:`~hafs_actors.errors.ConfigError` naming the source, the key, what was expected
    and what was found.
    """
    env = os.environ if env is None else env
    file_path, explicit = resolve_config_path(path, env=env)
    data = _read_file(file_path, explicit)
    layers = _Layers()
    if data is not None:
        layers.merge(data, f"file {file_path}")
    # The environment sits between the file and the arguments, but which variable holds each
    # provider's key (api_key_env) may itself come from the arguments: read it from a preview.
    preview = layers.copy()
    preview.merge(overrides or {}, _ARGUMENT)
    for key_path, value, label in _env_entries(preview, env):
        layers.put(key_path, value, label)
    layers.merge(overrides or {}, _ARGUMENT)
    return _deployment_keys(_structure(layers, file_path if data is not None else None), env)


def _deployment_keys(config: HafsConfig, env: Mapping[str, str]) -> HafsConfig:
    """Each deployment's key from its ``api_key_env`` (when not given directly)."""
    changed: dict[str, ProviderConfig] = {}
    for name, p in config.providers.items():
        if not any(d.api_key is None and d.api_key_env for d in p.deployments):
            continue
        deployments = tuple(
            attrs.evolve(d, api_key=env.get(d.api_key_env) or None)
            if d.api_key is None and d.api_key_env
            else d
            for d in p.deployments
        )
        changed[name] = attrs.evolve(p, deployments=deployments)
    if not changed:
        return config
    return attrs.evolve(config, providers={**config.providers, **changed})


def _deepcopy(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _deepcopy(v) if isinstance(v, dict) else v for k, v in tree.items()}
