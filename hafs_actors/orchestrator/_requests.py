"""The API boundary: the caller's arguments become a validated request and its route spec.

Everything a caller passes is checked here, before it reaches an actor shared by every caller:
a bad value is an :class:`~hafs_actors.errors.InvalidRequestError` (a ``ValueError``) or an
:class:`~hafs_actors.errors.InvalidRequestTypeError` (also a ``TypeError``) naming the argument,
and an unknown provider name an :class:`~hafs_actors.errors.UnknownProviderError` with a
did-you-mean. Nothing here sends anything.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, TypeAlias, cast

import attrs
import trio

from ..config import HafsConfig
from ..errors import InvalidRequestError, InvalidRequestTypeError, UnknownProviderError
from ..routing import RouteRequest, RouteSpec
from ..routing.tiers import Route, RouteEntry, name_of, parse_route_entry
from ..tokens import embed_window_tokens, request_tokens
from ..types import (
    REASONING_EFFORTS,
    ContentPart,
    EmbedRequest,
    GenerateRequest,
    ImagePart,
    Message,
    NamedToolChoice,
    ReasoningEffort,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)

__all__ = [
    "ChainLike",
    "ExtraLike",
    "MessageLike",
    "ProviderLike",
    "ResponseFormatLike",
    "ToolChoiceLike",
    "ToolLike",
    "check_route",
    "embed_request",
    "generate_request",
    "route_spec",
]

ProviderLike: TypeAlias = str | enum.Enum
#: a chain step: ``("openai", "gpt-4o")``, ``("openai", None)``, ``"openai:gpt-4o"``, ``"openai"``
StepLike: TypeAlias = tuple[ProviderLike, str | None] | str
ChainLike: TypeAlias = Sequence[StepLike]
MessageLike: TypeAlias = Message | Mapping[str, Any]
#: extra body fields per provider: ``{"openai": {"logit_bias": {...}}}``
ExtraLike: TypeAlias = Mapping[ProviderLike, Mapping[str, Any]]
#: a typed :class:`Tool` or OpenAI's ``{"type": "function", "function": {...}}``
ToolLike: TypeAlias = Tool | Mapping[str, Any]
#: "auto", "none", "required", a :class:`NamedToolChoice` or OpenAI's named-function dict
ToolChoiceLike: TypeAlias = str | NamedToolChoice | Mapping[str, Any]
#: a :class:`ResponseFormat` or OpenAI's ``response_format`` dict
ResponseFormatLike: TypeAlias = ResponseFormat | Mapping[str, Any]

_ROLES = ("system", "user", "assistant", "tool")
#: function and schema names as OpenAI and Anthropic accept them (Gemini's are a superset)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DATA_URL = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,(.*)", re.DOTALL)
_MESSAGE_FIELDS = {"role", "content", "name", "tool_call_id", "tool_calls", "cache"}


def _text(argument: str, value: object, *, empty_ok: bool = True) -> str:
    """A string that can be sent: no bytes, no lone surrogates (what JSON ``"\\ud800"`` gives)."""
    if not isinstance(value, str):
        raise InvalidRequestTypeError(argument, f"must be a str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            argument, f"is not valid Unicode text (at index {exc.start}: {exc.reason})"
        ) from None
    if not empty_ok and not value:
        raise InvalidRequestError(argument, "must not be empty")
    return value


def _number(argument: str, value: object, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestTypeError(argument, f"must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidRequestError(argument, f"must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _integer(argument: str, value: object, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestTypeError(
            argument, f"must be an integer, not {type(value).__name__} {value!r}"
        )
    if value < low:
        raise InvalidRequestError(argument, f"must be >= {low}, got {value}")
    return value


def _json(argument: str, value: object) -> None:
    """The value must survive JSON encoding (the wire format of every provider)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRequestTypeError(argument, f"is not JSON-serialisable: {exc}") from None


def _tool_call(argument: str, value: object) -> ToolCall:
    if isinstance(value, ToolCall):
        return value
    if not isinstance(value, Mapping):
        raise InvalidRequestTypeError(argument, "must be a ToolCall or an OpenAI tool_call dict")
    function = value.get("function", value)
    if not isinstance(function, Mapping):
        raise InvalidRequestTypeError(f"{argument}.function", "must be a dict")
    name = _text(f"{argument}.function.name", function.get("name"), empty_ok=False)
    raw = function.get("arguments", {})
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw else {}
        except (ValueError, RecursionError):
            raise InvalidRequestError(
                f"{argument}.function.arguments", "is not a JSON object"
            ) from None
    if not isinstance(raw, dict):
        raise InvalidRequestTypeError(f"{argument}.function.arguments", "must be a JSON object")
    _json(f"{argument}.function.arguments", raw)
    call_id = value.get("id", "")
    return ToolCall(id=_text(f"{argument}.id", call_id or ""), name=name, arguments=raw)


def message(m: object, argument: str = "messages[0]") -> Message:
    """A :class:`Message` from a typed one or a dict, keeping every field the type has."""
    if isinstance(m, Message):
        fields = attrs.asdict(m, recurse=False)
    elif isinstance(m, Mapping):
        unknown = sorted(set(m) - _MESSAGE_FIELDS)
        if unknown:
            raise InvalidRequestError(argument, f"unknown message field(s): {', '.join(unknown)}")
        fields = dict(m)
    else:
        raise InvalidRequestTypeError(
            argument, f"must be a Message or a dict, not {type(m).__name__}"
        )
    role = fields.get("role")
    if role not in _ROLES:
        raise InvalidRequestError(f"{argument}.role", f"must be one of {_ROLES}, got {role!r}")
    content = fields.get("content")
    calls = tuple(
        _tool_call(f"{argument}.tool_calls[{i}]", c)
        for i, c in enumerate(fields.get("tool_calls") or ())
    )
    if content is None and calls:
        content = ""
    name = fields.get("name")
    call_id = fields.get("tool_call_id")
    if role == "tool" and not call_id:
        raise InvalidRequestError(f"{argument}.tool_call_id", "a tool message needs one")
    cache = fields.get("cache", False)
    if not isinstance(cache, bool):
        raise InvalidRequestTypeError(f"{argument}.cache", "must be a bool")
    body = (
        _text(f"{argument}.content", content)
        if isinstance(content, str)
        else _parts(f"{argument}.content", content)
    )
    if not isinstance(body, str) and role != "user" and any(isinstance(p, ImagePart) for p in body):
        raise InvalidRequestError(f"{argument}.content", "images belong in user messages")
    return Message(
        role=role,
        content=body,
        name=None if name is None else _text(f"{argument}.name", name),
        tool_call_id=None if call_id is None else _text(f"{argument}.tool_call_id", call_id),
        tool_calls=calls,
        cache=cache,
        native=fields.get("native"),
    )


def _parts(argument: str, value: object) -> tuple[ContentPart, ...]:
    """Content parts: typed, or OpenAI's ``text`` / ``image_url`` dicts."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidRequestTypeError(
            argument, f"must be a str or a list of content parts, not {type(value).__name__}"
        )
    return tuple(_part(f"{argument}[{i}]", p) for i, p in enumerate(value))


def _part(argument: str, value: object) -> ContentPart:
    if isinstance(value, TextPart):
        return TextPart(_text(f"{argument}.text", value.text))
    if isinstance(value, ImagePart):
        return _image(argument, value.url, value.detail)
    if not isinstance(value, Mapping):
        raise InvalidRequestTypeError(
            argument, f"must be a TextPart, an ImagePart or a dict, not {type(value).__name__}"
        )
    kind = value.get("type")
    if kind == "text":
        return TextPart(_text(f"{argument}.text", value.get("text")))
    if kind == "image_url":
        image = value.get("image_url")
        if not isinstance(image, Mapping):
            raise InvalidRequestTypeError(f"{argument}.image_url", "must be a dict with a url")
        return _image(f"{argument}.image_url", image.get("url"), image.get("detail"))
    raise InvalidRequestError(f"{argument}.type", f"must be 'text' or 'image_url', got {kind!r}")


def _image(argument: str, url: object, detail: object) -> ImagePart:
    url = _text(f"{argument}.url", url, empty_ok=False)
    if detail is not None and detail not in ("low", "high", "auto"):
        raise InvalidRequestError(f"{argument}.detail", f"must be low, high or auto: {detail!r}")
    if url.startswith("data:"):
        match = _DATA_URL.fullmatch(url)
        if match is None:
            raise InvalidRequestError(
                f"{argument}.url", "a data URL must be data:image/<type>;base64,<data>"
            )
        try:
            base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(f"{argument}.url", "the data URL is not base64") from None
    elif not url.startswith("https://") and not url.startswith("http://"):
        raise InvalidRequestError(f"{argument}.url", "must be an https:// or data: URL")
    return ImagePart(url, None if detail is None else str(detail))


def _stop(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (_text("stop", value, empty_ok=False),)
    if not isinstance(value, Sequence):
        raise InvalidRequestTypeError("stop", "must be a string or a list of strings")
    return tuple(_text(f"stop[{i}]", s, empty_ok=False) for i, s in enumerate(value))


def _schema(argument: str, schema: object) -> Mapping[str, Any]:
    """A JSON schema that is one (checked against its metaschema)."""
    if not isinstance(schema, Mapping):
        raise InvalidRequestTypeError(argument, "must be a JSON schema (a dict)")
    _json(argument, schema)
    import jsonschema  # only requests with a schema pay for its import (~25 ms)

    try:
        jsonschema.validators.validator_for(schema).check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(argument, f"is not a valid JSON schema: {exc.message}") from None
    return schema


def _name(argument: str, value: object) -> str:
    name = _text(argument, value, empty_ok=False)
    if not _NAME.fullmatch(name):
        raise InvalidRequestError(argument, f"must match [A-Za-z0-9_-]{{1,64}}, got {name!r}")
    return name


def _tool(argument: str, tool: object) -> Mapping[str, Any]:
    """A tool in OpenAI's function shape; other (provider-native) dicts pass unchanged."""
    if isinstance(tool, Tool):
        tool = tool.to_openai()
    if not isinstance(tool, Mapping):
        raise InvalidRequestTypeError(
            argument, f"must be a Tool or a dict (a tool definition), not {type(tool).__name__}"
        )
    _json(argument, tool)
    if tool.get("type") == "function" or "function" in tool:
        function = tool.get("function")
        if not isinstance(function, Mapping):
            raise InvalidRequestTypeError(f"{argument}.function", "must be a dict")
        _name(f"{argument}.function.name", function.get("name"))
        if "parameters" in function:
            _schema(f"{argument}.function.parameters", function["parameters"])
        description = function.get("description")
        if description is not None:
            _text(f"{argument}.function.description", description)
    return tool


def _tools(value: object) -> tuple[Mapping[str, Any], ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidRequestTypeError("tools", "must be a list of tool definitions")
    return tuple(_tool(f"tools[{i}]", tool) for i, tool in enumerate(value))


def _tool_names(tools: Sequence[Mapping[str, Any]]) -> set[str]:
    names = set()
    for tool in tools:
        function = tool.get("function")
        if isinstance(function, Mapping):
            names.add(str(function.get("name")))
        elif isinstance(tool.get("name"), str):
            names.add(tool["name"])
    return names


def _tool_choice(value: object, tools: Sequence[Mapping[str, Any]]) -> ToolChoice | None:
    if value is None:
        return None
    choice: ToolChoice
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise InvalidRequestError(
                "tool_choice", f"must be auto, none, required or a named function, not {value!r}"
            )
        choice = cast('Literal["auto", "none", "required"]', value)
    elif isinstance(value, NamedToolChoice):
        choice = NamedToolChoice(_name("tool_choice.name", value.name))
    elif isinstance(value, Mapping):
        function = value.get("function")
        if value.get("type") != "function" or not isinstance(function, Mapping):
            raise InvalidRequestError(
                "tool_choice", 'a dict must be {"type": "function", "function": {"name": ...}}'
            )
        choice = NamedToolChoice(_name("tool_choice.function.name", function.get("name")))
    else:
        raise InvalidRequestTypeError(
            "tool_choice", f"must be a str, a NamedToolChoice or a dict, not {value!r}"
        )
    if not tools and choice != "none":
        raise InvalidRequestError("tool_choice", "needs tools")
    if isinstance(choice, NamedToolChoice) and choice.name not in _tool_names(tools):
        raise InvalidRequestError("tool_choice", f"names no tool of the request: {choice.name!r}")
    return choice


def _response_format(value: object) -> ResponseFormat | None:
    if value is None:
        return None
    if isinstance(value, ResponseFormat):
        value = {
            "type": value.type,
            "json_schema": {"name": value.name, "schema": value.schema, "strict": value.strict},
        }
    if not isinstance(value, Mapping):
        raise InvalidRequestTypeError(
            "response_format", f"must be a ResponseFormat or a dict, not {type(value).__name__}"
        )
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise InvalidRequestError(
            "response_format.type", f"must be text, json_object or json_schema, not {kind!r}"
        )
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise InvalidRequestTypeError("response_format.json_schema", "must be a dict")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequestTypeError("response_format.json_schema.strict", "must be a bool")
    return ResponseFormat(
        "json_schema",
        schema=_schema("response_format.json_schema.schema", spec.get("schema")),
        name=_name("response_format.json_schema.name", spec.get("name", "response")),
        strict=strict,
    )


def _choice(argument: str, value: object, allowed: Sequence[str]) -> Any:
    if value is not None and value not in allowed:
        raise InvalidRequestError(argument, f"must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _flag(argument: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestTypeError(argument, f"must be a bool, not {type(value).__name__}")
    return value


def generate_request(
    *,
    prompt: str | None,
    messages: object,
    system_prompt: str | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    stop: str | Sequence[str] | None,
    presence_penalty: float | None,
    frequency_penalty: float | None,
    tools: object,
    tool_choice: object = None,
    parallel_tool_calls: object = None,
    response_format: object = None,
    invalid_output: object = "next",
    reasoning_effort: object = None,
    cache_system: object = False,
) -> GenerateRequest:
    """A validated generation request (model and extra are set per candidate by the router)."""
    if prompt is None and not messages:
        raise InvalidRequestError("prompt", "generate() needs a prompt or messages")
    if messages is not None and (
        isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestTypeError("messages", "must be a list of messages")
    checked_tools = _tools(tools)
    effort: ReasoningEffort | None = _choice(
        "reasoning_effort", reasoning_effort, REASONING_EFFORTS
    )
    return GenerateRequest(
        model="",
        prompt=None if prompt is None else _text("prompt", prompt),
        messages=tuple(message(m, f"messages[{i}]") for i, m in enumerate(messages or [])),
        system_prompt=None if system_prompt is None else _text("system_prompt", system_prompt),
        max_tokens=_integer("max_tokens", max_tokens, 1),
        temperature=_number("temperature", temperature, 0.0, 2.0),
        stop=_stop(stop),
        tools=checked_tools,
        top_p=_number("top_p", top_p, 0.0, 1.0),
        seed=_integer("seed", seed, -(2**63)),
        presence_penalty=_number("presence_penalty", presence_penalty, -2.0, 2.0),
        frequency_penalty=_number("frequency_penalty", frequency_penalty, -2.0, 2.0),
        tool_choice=_tool_choice(tool_choice, checked_tools),
        parallel_tool_calls=_flag("parallel_tool_calls", parallel_tool_calls),
        response_format=_response_format(response_format),
        invalid_output=_choice("invalid_output", invalid_output, ("next", "retry", "return")),
        reasoning_effort=effort,
        cache_system=bool(_flag("cache_system", cache_system)),
    )


def embed_request(texts: object, dimensions: int | None) -> EmbedRequest:
    """A validated embedding request."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence) or not texts:
        raise InvalidRequestTypeError("texts", "must be a non-empty list of strings")
    return EmbedRequest(
        model="",
        texts=tuple(_text(f"texts[{i}]", t) for i, t in enumerate(texts)),
        dimensions=_integer("dimensions", dimensions, 1),
    )


def _provider_name(argument: str, value: object, known: Collection[str]) -> str:
    if not isinstance(value, (str, enum.Enum)):
        raise InvalidRequestTypeError(argument, f"must be a provider name, not {value!r}")
    name = name_of(value)
    if name not in known:
        raise UnknownProviderError(name, list(known), where=argument)
    return name


def _step(argument: str, value: object, known: Collection[str]) -> RouteEntry:
    if isinstance(value, str):
        try:
            provider, model = parse_route_entry(value)
        except ValueError as exc:
            raise InvalidRequestError(argument, str(exc)) from None
    elif isinstance(value, Sequence) and len(value) == 2:
        provider, model = value[0], value[1]
        if model is not None and not isinstance(model, str):
            raise InvalidRequestTypeError(f"{argument}[1]", "a model name must be a str or None")
    else:
        raise InvalidRequestTypeError(
            argument, f"must be 'provider:model', 'provider' or (provider, model), not {value!r}"
        )
    return (_provider_name(argument, provider, known), model)


def check_route(argument: str, route: Sequence[object], known: Collection[str]) -> Route:
    """A route (tier route or chain) with every provider name checked."""
    if isinstance(route, (str, bytes)) or not isinstance(route, Sequence):
        raise InvalidRequestTypeError(argument, "must be a list of (provider, model) steps")
    return tuple(_step(f"{argument}[{i}]", step, known) for i, step in enumerate(route))


def _extra(extra: ExtraLike | None, known: Collection[str]) -> Mapping[str, Mapping[str, Any]]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise InvalidRequestTypeError("extra", "must be a dict of provider name -> body fields")
    out: dict[str, Mapping[str, Any]] = {}
    for key, fields in extra.items():
        if isinstance(key, (str, enum.Enum)) and name_of(key) not in known:
            hint = (
                f"extra is per provider, e.g. extra={{'openai': {{{key!r}: ...}}}}"
                if not isinstance(fields, Mapping)
                else ""
            )
            if hint:
                raise InvalidRequestError("extra", hint)
        name = _provider_name(f"extra[{key!r}]", key, known)
        if not isinstance(fields, Mapping):
            raise InvalidRequestTypeError(f"extra[{name!r}]", "must be a dict of body fields")
        _json(f"extra[{name!r}]", fields)
        out[name] = fields
    return out


def route_spec(
    config: HafsConfig,
    operation: str,
    request: GenerateRequest | EmbedRequest,
    known: Collection[str],
    tiers: Collection[str],
    *,
    tier: object,
    provider: object,
    model: object,
    fallback_providers: ChainLike | None,
    allow_fallback: bool,
    timeout: float | None,
    max_cost: float | None = None,
    extra: ExtraLike | None = None,
    drop_unsupported_params: bool | None = None,
    hedge_after: float | None = None,
    idempotent: bool = False,
) -> RouteSpec:
    """The request with its checked route and its one deadline, as the router takes it."""
    if model is not None and not isinstance(model, str):
        raise InvalidRequestTypeError("model", f"must be a str, not {type(model).__name__}")
    provider_name: str | None = None
    if provider is not None:
        if isinstance(provider, str) and model is None and (":" in provider or "/" in provider):
            provider_name, model = _step("provider", provider, known)
        else:
            provider_name = _provider_name("provider", provider, known)
    elif model is not None:
        if ":" not in model and "/" not in model:
            raise InvalidRequestError(
                "model", f"needs provider= too, or the form 'provider/model' (got {model!r})"
            )
        provider_name, model = _step("model", model, known)
    tier_name: str | None = None
    if tier is not None:
        if not isinstance(tier, (str, enum.Enum)):
            raise InvalidRequestTypeError("tier", f"must be a tier name, not {tier!r}")
        tier_name = name_of(tier)
        if tier_name not in tiers:
            import difflib

            close = difflib.get_close_matches(tier_name, list(tiers), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidRequestError(
                "tier", f"unknown tier {tier_name!r}{hint} (known: {', '.join(sorted(tiers))})"
            )
    chain = (
        None
        if fallback_providers is None
        else check_route("fallback_providers", fallback_providers, known)
    )
    if isinstance(request, GenerateRequest):
        estimate = request_tokens(request)
        max_tokens = request.max_tokens
        params = request.params()
    else:
        estimate = embed_window_tokens(request)
        max_tokens = None
        params = frozenset()
    if max_cost is not None:
        _number("max_cost", max_cost, 0.0, math.inf)
    drop = drop_unsupported_params
    route = RouteRequest(
        operation=operation,  # type: ignore[arg-type]
        tier=tier_name,
        provider=provider_name,
        model=model,
        fallback_providers=chain,
        allow_fallback=bool(allow_fallback),
        estimated_input_tokens=estimate,
        max_tokens=max_tokens,
        max_cost=max_cost if max_cost is not None else config.cost.max_cost_per_request,
        params=params,
        drop_unsupported=config.routing.drop_unsupported_params if drop is None else drop,
    )
    t = config.timeouts
    if timeout is not None:
        _number("timeout", timeout, 0.0, math.inf)
        if timeout <= 0:
            raise InvalidRequestError("timeout", f"must be a positive number, got {timeout!r}")
    deadline_in = timeout if timeout is not None else t.request_deadline
    if hedge_after is not None:
        _number("hedge_after", hedge_after, 0.0, math.inf)
    else:
        hedge_after = config.routing.hedge_after.get(tier_name or config.routing.default_tier)
    return RouteSpec(
        route=route,
        request=request,
        deadline=trio.current_time() + deadline_in,
        attempt_timeout=min(t.attempt_timeout, deadline_in),
        ttft_timeout=t.stream_ttft_timeout,
        idle_timeout=t.stream_idle_timeout,
        max_stream_duration=t.stream_max_duration,
        extra=_extra(extra, known),
        hedge_after=hedge_after,
        idempotent=bool(idempotent),
    )
