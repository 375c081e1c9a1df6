"""What every adapter shares for tools, structured output, images and reasoning: checking a
reply against its ``response_format``, and the per-level reasoning budgets. Each provider
module places these features on its own wire.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import StructuredOutputError
from ..types import GenerateRequest, GenerateResult, ResponseFormat

__all__ = [
    "THINKING_BUDGETS",
    "check_structured_output",
    "gemini_json_schema",
    "ignored",
    "parse_structured",
]

log = logging.getLogger("hafs_actors.adapters")

#: Thinking tokens per ``reasoning_effort`` where a provider takes a budget (Anthropic
#: ``budget_tokens``, minimum 1024; Gemini 2.5 ``thinkingBudget``). Anthropic's documentation
#: starts at the minimum and suggests 16k+ for complex tasks.
THINKING_BUDGETS: Mapping[str, int] = {"low": 1024, "medium": 8192, "high": 24576}


def parse_structured(text: str, fmt: ResponseFormat) -> Any:
    """The reply as the JSON object ``fmt`` asks for; ``ValueError`` naming what is wrong."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("the reply is not JSON") from None
    if fmt.schema is None:
        if not isinstance(value, dict):
            raise ValueError(f"the reply is JSON {type(value).__name__}, not an object")
        return value
    import jsonschema  # only requests with a schema pay for its import (~25 ms)

    try:
        jsonschema.validate(value, dict(fmt.schema))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(f"the reply does not match the schema at {where}: {exc.message}") from None
    return value


def check_structured_output(
    request: GenerateRequest, result: GenerateResult, *, provider: str, model: str
) -> GenerateResult:
    """``result`` with ``parsed`` set, or the request's choice for a reply that does not
    validate (see :attr:`GenerateRequest.invalid_output`)."""
    fmt = request.response_format
    if fmt is None:
        return result
    try:
        parsed = parse_structured(result.content, fmt)
    except ValueError as exc:
        if request.invalid_output == "return":
            return result
        raise StructuredOutputError(
            f"structured output: {exc}",
            raw_text=result.content,
            provider=provider,
            model=model,
            request_id=result.request_id,
            retryable=request.invalid_output == "retry",
        ) from None
    return attrs.evolve(result, parsed=parsed)


# Keywords of Gemini's ``responseJsonSchema`` (its JSON Schema subset); others are removed
# before sending and still enforced here, by the validation of the reply.
_GEMINI_KEYWORDS = frozenset(
    {
        "$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum",
        "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf",
        "properties", "additionalProperties", "required", "propertyOrdering", "nullable",
    }
)  # fmt: skip
_SCHEMA_MAPS = ("properties", "$defs")
_SCHEMA_LISTS = ("anyOf", "prefixItems")


def gemini_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` reduced to the keywords Gemini accepts (``oneOf`` becomes ``anyOf``)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "oneOf":
            key = "anyOf"
        if key not in _GEMINI_KEYWORDS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            value = {k: _sub(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [_sub(v) for v in value]
        elif key in ("items", "additionalProperties"):
            value = _sub(value)
        out[key] = value
    return out


def _sub(value: Any) -> Any:
    return gemini_json_schema(value) if isinstance(value, Mapping) else value


def ignored(provider: str, request: GenerateRequest, *, why: str) -> None:
    """Log the cache breakpoints a provider without them leaves out (they are hints: the
    answer is the same without them)."""
    if request.cache_system or any(m.cache for m in request.messages):
        log.debug("cache breakpoints not sent to %s: %s", provider, why)
