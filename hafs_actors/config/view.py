"""Printable views of a configuration: redacted plain data, flattened keys, warnings.

Everything here is safe to print: API keys become ``"set (from env X)"``, header values and proxy
credentials become ``***``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from .._validation import did_you_mean
from ..routing.tiers import format_route_entry

if TYPE_CHECKING:
    from .model import HafsConfig

__all__ = ["config_warnings", "flatten", "format_key", "hide_userinfo", "redacted_tree"]

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# Paths (with "*" for any name) whose values are routes: printed as "provider:model" strings.
_ROUTE_PATHS = {("routes", "*"), ("routing", "rotation"), ("routing", "embed_route")}


def format_key(path: KeyPath) -> str:
    """``providers.ollama.models."qwen2.5-coder:14b".context_window``; indices as ``[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
        out += f".{text}" if out else text
    return out


def _is_route(path: KeyPath) -> bool:
    return len(path) == 2 and ((path[0], "*") in _ROUTE_PATHS or path in _ROUTE_PATHS)


def hide_userinfo(value: str) -> str:
    """``http://user:pw@host`` -> ``http://***@host``: URLs may carry credentials."""
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _plain(value: Any, path: KeyPath, sources: Mapping[str, str]) -> Any:
    if _is_route(path):
        return [format_route_entry(e) for e in value]
    last = path[-1] if path else None
    if last == "api_key" and len(path) == 3:
        if not value:
            return None
        source = sources.get(format_key(path))
        return f"set (from {source})" if source else "set"
    if last == "headers" and len(path) == 3:
        return {str(k): "***" for k in value}
    if last in ("proxy", "base_url") and isinstance(value, str):
        return hide_userinfo(value)
    if attrs.has(type(value)):
        return {
            f.name: _plain(getattr(value, f.name), (*path, f.name), sources)
            for f in attrs.fields(type(value))
            if f.name != "name"
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v, (*path, str(k)), sources) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v, (*path, i), sources) for i, v in enumerate(value)]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def redacted_tree(config: HafsConfig) -> dict[str, Any]:
    """The effective configuration in the file's shape (``providers.default`` included)."""
    sources = config.sources
    providers: dict[str, Any] = {"default": config.default_provider}
    for name, provider in config.providers.items():
        providers[name] = _plain(provider, ("providers", name), sources)
    tree: dict[str, Any] = {"providers": providers}
    for section in ("routes", "routing", "timeouts", "retry", "cost", "supervision"):
        tree[section] = _plain(getattr(config, section), (section,), sources)
    return tree


def flatten(tree: Mapping[str, Any], prefix: KeyPath = ()) -> list[tuple[KeyPath, Any]]:
    """Leaves of a nested mapping as (key path, value); lists and empty tables are leaves."""
    out: list[tuple[KeyPath, Any]] = []
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and value and not _is_route(path):
            out.extend(flatten(value, path))
        else:
            out.append((path, value))
    return out


def config_warnings(config: HafsConfig) -> tuple[str, ...]:
    """Valid settings that are probably mistakes, one line each."""
    warnings: list[str] = []
    if not config.configured_providers():
        warnings.append(
            "no provider is configured: set GEMINI_API_KEY, ANTHROPIC_API_KEY or "
            "OPENAI_API_KEY, or declare a local provider ([providers.ollama], OLLAMA_HOST)"
        )
    references: list[tuple[str, str]] = []
    if config.default_provider is not None:
        references.append(("providers.default", config.default_provider))
    for tier, route in config.routes.items():
        references.extend((format_key(("routes", tier, i)), p) for i, (p, _) in enumerate(route))
    for field in ("rotation", "embed_route"):
        route = getattr(config.routing, field)
        references.extend((format_key(("routing", field, i)), p) for i, (p, _) in enumerate(route))
    if config.routing.provider is not None:
        references.append(("routing.provider", config.routing.provider))
    for where, provider in references:
        if provider not in config.providers:
            warnings.append(
                f"{where}: provider {provider!r} is not defined"
                f"{did_you_mean(provider, config.providers)}; "
                "that only works for an adapter registered in code"
            )
    default = config.default_provider
    if (
        default is not None
        and default in config.providers
        and not config.providers[default].configured
    ):
        reason = config.providers[default].unconfigured_reason
        warnings.append(f"providers.default: {default!r} is not configured ({reason})")
    for name in config.providers:
        source = config.sources.get(format_key(("providers", name, "api_key")), "")
        if source.startswith("file "):
            warnings.append(
                f"providers.{name}.api_key is stored in the config file; "
                "prefer api_key_env and an environment variable"
            )
    return tuple(warnings)
