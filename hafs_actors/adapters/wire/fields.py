"""Small wire-format helpers shared by the provider modules (JSON encoding, tool definitions,
defensive field access)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "dump_json",
    "merge_extra",
    "opt_int",
    "opt_str",
    "tool_function",
]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_json(body: Any) -> bytes:
    """Compact UTF-8 JSON for a request body."""
    return _ENCODER.encode(body).encode("utf-8")


def opt_int(value: Any) -> int | None:
    """An integer count from a payload, or ``None`` when absent or not an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def tool_function(tool: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{name, description, parameters}`` of a tool given in OpenAI form
    (``{"type":"function","function":{...}}``) or flat form (``{"name", "parameters"}`` or
    Anthropic's ``input_schema``); ``None`` when the tool is in some other (native) form, which
    adapters then pass through unchanged."""
    inner = tool.get("function")
    source: Mapping[str, Any] = inner if isinstance(inner, Mapping) else tool
    name = source.get("name")
    if not isinstance(name, str) or (
        inner is None and "type" in tool and "input_schema" not in tool
    ):
        return None
    parameters = source.get("parameters", source.get("input_schema"))
    out: dict[str, Any] = {"name": name}
    if source.get("description"):
        out["description"] = source["description"]
    out["parameters"] = (
        dict(parameters)
        if isinstance(parameters, Mapping)
        else {"type": "object", "properties": {}}
    )
    return out


def merge_extra(body: dict[str, Any], extra: Mapping[str, Any], *, nested: str = "") -> None:
    """Apply ``GenerateRequest.extra`` to a body: top-level keys replace, except ``nested``
    (e.g. Ollama ``options``, Gemini ``generationConfig``) whose dicts are merged."""
    for key, value in extra.items():
        current = body.get(key)
        if key == nested and isinstance(current, dict) and isinstance(value, Mapping):
            current.update(value)
        else:
            body[key] = value
