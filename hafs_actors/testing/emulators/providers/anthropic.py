"""Anthropic Messages API: ``/v1/messages`` (JSON and named-event SSE), token counting, models.

Requires ``x-api-key`` (or a bearer token) and ``anthropic-version`` like the real API; every
answer carries a ``request-id`` header; errors use ``{"type":"error","error":{type,message}}``.
The stream follows the SDK's recorded fixture: message_start, content_block_start, ping,
content_block_delta per token, content_block_stop, message_delta (final usage), message_stop.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

from ..caching import Segment
from ..content import Generation, ToolSpec, count_tokens, split_pieces
from ..profiles import ModelProfile
from ..quota import QuotaDecision
from ..wire import HttpRequest, Rendered, json_bytes, sse_event
from ._base import (
    Call,
    Context,
    ProviderProtocol,
    RateLimitSignal,
    bearer_token,
    optional_bool,
    retry_after_headers,
    rfc3339,
    text_of,
)
from ._schema import Fields, Path, Problem, Spec, check_fields, obj

__all__ = ["AnthropicProtocol"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STRING = Spec(("string",))
_OBJECT = Spec(("object",))
_UNIT = Spec(("number",), minimum=0, maximum=1)
_TYPE = Spec(("string",), required=True)
_CACHE_CONTROL = obj(
    {
        "type": Spec(("string",), required=True, choices=("ephemeral",)),
        "ttl": Spec(("string",), choices=("5m", "1h")),
    }
)
_TEXT_BLOCK = obj(
    {
        "type": _TYPE,
        "text": Spec(("string",), required=True),
        "cache_control": _CACHE_CONTROL,
        "citations": Spec(("array",)),
    }
)
_PARALLEL = Spec(("boolean",))
# Tagged unions, by their ``type``: pydantic names the tag in an error's path
# (``thinking.enabled.budget_tokens``, ``tool_choice.tool.name``).
TOOL_CHOICES: dict[str, Fields] = {
    "auto": Fields({"type": _TYPE, "disable_parallel_tool_use": _PARALLEL}),
    "any": Fields({"type": _TYPE, "disable_parallel_tool_use": _PARALLEL}),
    "tool": Fields(
        {
            "type": _TYPE,
            "name": Spec(("string",), required=True),
            "disable_parallel_tool_use": _PARALLEL,
        }
    ),
    "none": Fields({"type": _TYPE}),
}
THINKING: dict[str, Fields] = {
    "enabled": Fields(
        {"type": _TYPE, "budget_tokens": Spec(("integer",), required=True, minimum=1024)}
    ),
    "disabled": Fields({"type": _TYPE}),
}
IMAGE_SOURCES: dict[str, Fields] = {
    "base64": Fields(
        {
            "type": _TYPE,
            "media_type": Spec(
                ("string",),
                required=True,
                choices=("image/jpeg", "image/png", "image/gif", "image/webp"),
            ),
            "data": Spec(("string",), required=True),
        }
    ),
    "url": Fields({"type": _TYPE, "url": Spec(("string",), required=True)}),
    "file": Fields({"type": _TYPE, "file_id": Spec(("string",), required=True)}),
}
# A client tool; server tools (a ``type`` other than ``custom``) have their own members.
TOOL_FIELDS = Fields(
    {
        "type": _STRING,
        "name": Spec(("string",), required=True),
        "description": _STRING,
        "input_schema": Spec(("object",), required=True),
        "cache_control": _CACHE_CONTROL,
        "strict": Spec(("boolean",)),
        "input_examples": Spec(("array",)),
        "defer_loading": Spec(("boolean",)),
        "allowed_callers": Spec(("array",)),
    }
)
_BREAKPOINTS = 4
_BASE64 = Spec(("string",), wire_type="base64")
_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
# The Messages body, from the official SDK's MessageCreateParams; temperature, top_p and top_k
# are still accepted under ``anthropic-version: 2023-06-01``.
MESSAGES_FIELDS = Fields(
    {
        "model": Spec(("string",), required=True),
        "messages": Spec(("array",), required=True),  # checked turn by turn
        "max_tokens": Spec(("integer",), required=True, minimum=1),
        "cache_control": _CACHE_CONTROL,
        "container": Spec(("string", "object")),
        "diagnostics": _OBJECT,
        "inference_geo": _STRING,
        "metadata": obj({"user_id": _STRING}),
        "output_config": _OBJECT,
        "service_tier": Spec(("string",), choices=("auto", "standard_only")),
        "speed": Spec(("string",), choices=("standard", "fast")),
        "stop_sequences": Spec(("array",), items=_STRING),
        "stream": Spec(("boolean",)),
        "system": Spec(("string", "array"), items=_TEXT_BLOCK),
        "temperature": _UNIT,
        "thinking": _OBJECT,  # checked by its tag: THINKING
        "tool_choice": _OBJECT,  # checked by its tag: TOOL_CHOICES
        "tools": Spec(("array",), items=_OBJECT),  # client tools: TOOL_FIELDS
        "top_k": Spec(("integer",), minimum=0),
        "top_p": _UNIT,
    }
)
COUNT_TOKENS_FIELDS = Fields(
    {
        name: spec
        for name, spec in MESSAGES_FIELDS.items()
        if name
        in ("model", "messages", "system", "tools", "tool_choice", "thinking", "cache_control")
    }
)
MESSAGE_FIELDS = Fields(
    {
        "role": Spec(("string",), required=True, choices=("user", "assistant")),
        "content": Spec(("string", "array"), required=True),
    }
)
# Content blocks the API knows; those with a field table are checked member by member.
BLOCK_FIELDS: dict[str, Fields | None] = {
    "text": _TEXT_BLOCK.fields,
    "image": Fields(
        {
            "type": _STRING,
            "source": Spec(("object",), required=True),
            "cache_control": _CACHE_CONTROL,
        }
    ),
    "tool_use": Fields(
        {
            "type": _STRING,
            "id": Spec(("string",), required=True),
            "name": Spec(("string",), required=True),
            "input": Spec(("object",), required=True),
            "cache_control": _CACHE_CONTROL,
            "caller": _OBJECT,
            "toolset_name": _STRING,
        }
    ),
    "tool_result": Fields(
        {
            "type": _STRING,
            "tool_use_id": Spec(("string",), required=True),
            "content": Spec(("string", "array")),
            "is_error": Spec(("boolean",)),
            "cache_control": _CACHE_CONTROL,
            "toolset_name": _STRING,
        }
    ),
    "thinking": Fields(
        {
            "type": _STRING,
            "thinking": Spec(("string",), required=True),
            "signature": Spec(("string",), required=True),
        }
    ),
    "redacted_thinking": Fields({"type": _STRING, "data": Spec(("string",), required=True)}),
    "document": None,
    "search_result": None,
    "container_upload": None,
    "server_tool_use": None,
    "web_search_tool_result": None,
    "web_fetch_tool_result": None,
    "code_execution_tool_result": None,
    "bash_code_execution_tool_result": None,
    "text_editor_code_execution_tool_result": None,
    "tool_search_tool_result": None,
}
_TYPE_WORDS = {
    "string": "a valid string",
    "integer": "a valid integer",
    "number": "a valid number",
    "boolean": "a valid boolean",
    "array": "a valid list",
    "object": "a valid dictionary",
}
# Models from Opus 4.1 on refuse temperature and top_p together.
_ONE_SAMPLER = re.compile(r"claude-(?:opus-4-[1-9]|sonnet-4-[5-9]|haiku-4-[5-9])(?!\d)")
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))


def error_type_for(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_message(problem: Problem) -> str:
    """The API's validation wording: ``messages.0.role: Input should be 'user' or 'assistant'``."""
    kind, path, spec, value = problem
    where = ".".join(str(part) for part in path)
    if kind == "unknown":
        return f"{where}: Extra inputs are not permitted"
    if kind == "missing":
        return f"{where}: Field required"
    assert spec is not None
    if spec is _BASE64:
        return f"{where}: The image data is not valid base64."
    if kind == "value":
        if path[-1] == "type" and len(path) > 1 and path[-2] != "cache_control":
            tags = ", ".join(f"'{c}'" for c in spec.choices or ())
            return (
                f"{'.'.join(str(p) for p in path[:-1])}: Input tag '{value}' found using 'type' "
                f"does not match any of the expected tags: {tags}"
            )
        choices = [f"'{c}'" for c in spec.choices or ()]
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        return f"{where}: Input should be {listed}"
    if kind == "range":
        assert isinstance(value, (int, float))
        if spec.maximum is not None and value > spec.maximum:
            return f"{where}: Input should be less than or equal to {spec.maximum:g}"
        return f"{where}: Input should be greater than or equal to {spec.minimum:g}"
    return f"{where}: Input should be {_TYPE_WORDS.get(spec.types[0], 'valid')}"


def _tagged(variants: Mapping[str, Fields], value: Mapping[str, Any], path: Path) -> Problem | None:
    """A member of a tagged union: its ``type`` picks the fields, which the path then names."""
    tag = value.get("type")
    if not isinstance(tag, str) or tag not in variants:
        if tag is None:
            return Problem("missing", (*path, "type"), _TYPE, None)
        return Problem("value", (*path, "type"), Spec(("string",), choices=tuple(variants)), tag)
    return check_fields(variants[tag], value, (*path, tag))


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(text)


def cache_minimum(model: str) -> int:
    """The shortest cacheable prompt: 4096 tokens on Opus 4.5 and Haiku 4.5, 2048 on the older
    Haiku models, 1024 on the others."""
    if re.search(r"(?:opus|haiku)-4-5", model):
        return 4096
    return 2048 if "haiku" in model else 1024


class AnthropicProtocol(ProviderProtocol):
    provider: ClassVar[str] = "anthropic"
    request_id_header: ClassVar[str | None] = "request-id"
    meters_per_model: ClassVar[bool] = False

    def route(self, request: HttpRequest, now: float) -> Call:
        method, path = request.method, request.path
        if method == "POST" and path == "/v1/messages":
            return self.messages(request)
        if method == "POST" and path == "/v1/messages/count_tokens":
            return self.count_tokens(request)
        if method == "GET" and path == "/v1/models":
            return self.list_models(request)
        if method == "GET" and path.startswith("/v1/models/"):
            return self.get_model(request, path[len("/v1/models/") :])
        return Call(
            endpoint="unknown",
            category="other",
            error=self.error(404, f"Not found: {request.method} {request.path}"),
        )

    # --- auth -----------------------------------------------------------------------------

    def authenticate(self, request: HttpRequest, endpoint: str, category: str) -> str:
        key = request.headers.get("x-api-key")
        if key is None:
            key = bearer_token(request)
        if self.settings.require_auth:
            if key is None:
                self.fail(endpoint, category, self.error(401, "x-api-key header is required"))
            if key != self.settings.api_key:
                self.fail(endpoint, category, self.error(401, "invalid x-api-key"))
        if "anthropic-version" not in request.headers:
            self.fail(endpoint, category, self.error(400, "anthropic-version: header is required"))
        return self.key_id(key)

    # --- errors ---------------------------------------------------------------------------

    def error(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Rendered:
        body = {
            "type": "error",
            "error": {"type": error_type or error_type_for(status), "message": message},
        }
        if status == 529:
            headers = (("x-should-retry", "true"), *headers)
        return Rendered.json(status, body, headers)

    def missing_model(self) -> Rendered:
        return self.error(400, "model: Field required")

    def model_not_found(self, name: str) -> Rendered:
        return self.error(404, f"model: {name}")

    def bad_json(self, detail: str) -> Rendered:
        return self.error(400, f"There was an error parsing the body of your request: {detail}")

    def context_exceeded(self, profile: ModelProfile, tokens: int, endpoint: str) -> Rendered:
        return self.error(
            400, f"prompt is too long: {tokens} tokens > {profile.context_window} maximum"
        )

    def rate_limited(self, signal: RateLimitSignal) -> Rendered:
        what = "input tokens" if signal.by_tokens else "requests"
        limit = signal.tokens_limit if signal.by_tokens else signal.requests_limit
        message = signal.message or (
            "This request would exceed the rate limit for your organization (org-emulator) of "
            f"{limit} {what} per minute. For details, refer to: "
            "https://docs.claude.com/en/api/rate-limits."
        )
        headers = retry_after_headers(signal) + self._limit_headers(
            signal.requests_limit,
            signal.requests_remaining,
            signal.tokens_limit,
            signal.tokens_remaining,
            signal.wall + signal.reset_after,
        )
        return self.error(429, message, "rate_limit_error", headers=headers)

    def quota_headers(self, decision: QuotaDecision, wall: float) -> tuple[tuple[str, str], ...]:
        return self._limit_headers(
            decision.requests_limit,
            decision.requests_remaining,
            decision.tokens_limit,
            decision.tokens_remaining,
            wall + decision.reset_after,
        )

    @staticmethod
    def _limit_headers(
        requests_limit: int | None,
        requests_remaining: int | None,
        tokens_limit: int | None,
        tokens_remaining: int | None,
        reset_at: float,
    ) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        reset = rfc3339(reset_at)
        if requests_limit is not None:
            out += [
                ("anthropic-ratelimit-requests-limit", str(requests_limit)),
                ("anthropic-ratelimit-requests-remaining", str(requests_remaining or 0)),
                ("anthropic-ratelimit-requests-reset", reset),
            ]
        if tokens_limit is not None:
            out += [
                ("anthropic-ratelimit-tokens-limit", str(tokens_limit)),
                ("anthropic-ratelimit-tokens-remaining", str(tokens_remaining or 0)),
                ("anthropic-ratelimit-tokens-reset", reset),
            ]
        return tuple(out)

    stream_error_status: ClassVar[int] = 529

    def stream_error_event(self, status: int, message: str, error_type: str | None) -> bytes:
        body = {
            "type": "error",
            "error": {"type": error_type or error_type_for(status), "message": message},
        }
        return sse_event(json_bytes(body), "error")

    def malformed_event(self) -> bytes:
        return (
            b"event: content_block_delta\n"
            b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","te\n\n'
        )

    # --- request validation -----------------------------------------------------------------

    def check(self, fields: Fields, body: dict[str, Any], ep: str, cat: str) -> None:
        """Reject what the real API rejects: the body schema, the tagged unions (thinking,
        tool_choice, tools, image sources), content blocks, turn order, thinking rules and
        replayed signatures."""
        problem = check_fields(fields, body)
        if problem is None:
            problem = self.check_unions(body)
        messages = body.get("messages")
        if problem is None and isinstance(messages, list):
            problem = self.check_turns(messages, ep, cat)
        if problem is not None:
            self.bad_request(ep, cat, anthropic_message(problem))
        model = body.get("model")
        if (
            "temperature" in body
            and "top_p" in body
            and isinstance(model, str)
            and _ONE_SAMPLER.search(model)
        ):
            self.bad_request(
                ep,
                cat,
                "`temperature` and `top_p` cannot both be specified for this model. "
                "Please use only one.",
            )
        self.check_cache_control(body, ep, cat)
        if isinstance(messages, list):
            self.check_thinking(body, messages, ep, cat)

    def check_unions(self, body: dict[str, Any]) -> Problem | None:
        for name, variants in (("thinking", THINKING), ("tool_choice", TOOL_CHOICES)):
            value = body.get(name)
            if isinstance(value, Mapping):
                problem = _tagged(variants, value, (name,))
                if problem is not None:
                    return problem
        for index, tool in enumerate(body.get("tools") or ()):
            if isinstance(tool, Mapping) and tool.get("type", "custom") == "custom":
                problem = check_fields(TOOL_FIELDS, tool, ("tools", index, "custom"))
                if problem is not None:
                    return problem
        return None

    def check_cache_control(self, body: dict[str, Any], ep: str, cat: str) -> None:
        """At most four cache breakpoints in a request (tools, system and messages)."""
        found = sum(
            1
            for block in self.blocks_in_order(body)
            if isinstance(block, Mapping) and "cache_control" in block
        )
        if found > _BREAKPOINTS:
            self.bad_request(
                ep,
                cat,
                f"A maximum of {_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {found}.",
            )

    @staticmethod
    def blocks_in_order(body: Mapping[str, Any]) -> list[Any]:
        """Tools, system blocks, then every message's blocks: the order a cache prefix takes."""
        blocks: list[Any] = list(body.get("tools") or ())
        system = body.get("system")
        if isinstance(system, list):
            blocks += system
        for message in body.get("messages") or ():
            content = message.get("content") if isinstance(message, Mapping) else None
            if isinstance(content, list):
                blocks += content
        return blocks

    def check_thinking(self, body: dict[str, Any], messages: list[Any], ep: str, cat: str) -> None:
        """Extended thinking's rules: a budget below ``max_tokens``, no forced tool, no
        temperature other than 1; every replayed thinking block signed by this emulator; with
        thinking on, an assistant turn answered by tool results starts with its thinking; with
        it off, a final assistant message holds none."""
        thinking = body.get("thinking")
        enabled = isinstance(thinking, Mapping) and thinking.get("type") == "enabled"
        if enabled:
            assert isinstance(thinking, Mapping)
            max_tokens = body.get("max_tokens")
            if isinstance(max_tokens, int) and thinking["budget_tokens"] >= max_tokens:
                self.bad_request(
                    ep,
                    cat,
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                    f"our documentation at {_THINKING_DOCS}#max-tokens-and-context-window-size",
                )
            choice = body.get("tool_choice")
            if isinstance(choice, Mapping) and choice.get("type") in ("any", "tool"):
                self.bad_request(
                    ep, cat, "Thinking may not be enabled when tool_choice forces tool use."
                )
            if body.get("temperature", 1) != 1:
                self.bad_request(
                    ep,
                    cat,
                    "`temperature` may only be set to 1 when thinking is enabled. Please consult "
                    f"our documentation at {_THINKING_DOCS}#feature-compatibility",
                )
        for index, message in enumerate(messages):
            content = message["content"]
            if message["role"] != "assistant" or isinstance(content, str):
                continue
            for position, block in enumerate(content):
                if block["type"] == "thinking" and block["signature"] != self.sign(
                    "thinking", block["thinking"]
                ):
                    self.bad_request(
                        ep,
                        cat,
                        f"messages.{index}.content.{position}: Invalid `signature` in "
                        "`thinking` block",
                    )
                if (
                    block["type"] in ("thinking", "redacted_thinking")
                    and not enabled
                    and index == len(messages) - 1
                ):
                    self.bad_request(
                        ep,
                        cat,
                        f"messages.{index}.content.{position}: When thinking is disabled, an "
                        "`assistant` message in the final position cannot contain `thinking`. "
                        "To use thinking blocks, enable `thinking` in your request.",
                    )
        if enabled:
            self.check_final_turn(messages, ep, cat)

    def check_final_turn(self, messages: list[Any], ep: str, cat: str) -> None:
        """The assistant turn that the final tool results answer must open with thinking."""
        last = messages[-1]
        content = last["content"]
        if last["role"] != "user" or isinstance(content, str):
            return
        if not any(block["type"] == "tool_result" for block in content):
            return
        index = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if index is None:
            return
        turn = messages[index]["content"]
        first = "text" if isinstance(turn, str) else turn[0]["type"] if turn else "text"
        if first not in ("thinking", "redacted_thinking"):
            self.bad_request(
                ep,
                cat,
                f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                f"but found `{first}`. When `thinking` is enabled, a final `assistant` message "
                "must start with a thinking block (preceeding the lastmost set of `tool_use` and "
                "`tool_result` blocks). We recommend you include thinking blocks from previous "
                "turns. To avoid this requirement, disable `thinking`. Please consult our "
                f"documentation at {_THINKING_DOCS}",
            )

    def check_turns(self, messages: list[Any], ep: str, cat: str) -> Problem | None:
        """Messages and blocks; consecutive same-role messages form one turn, as the API merges
        them, and each turn's ``tool_result`` ids must answer the previous turn's ``tool_use``."""
        if not messages:
            self.bad_request(ep, cat, "messages: at least one message is required")
        asked: list[str] = []  # tool_use ids of the previous assistant turn
        asked_at = 0
        open_ids: list[str] = []  # tool_use ids of the current assistant turn
        last = len(messages) - 1
        previous_role = None
        for index, message in enumerate(messages):
            path: Path = ("messages", index)
            if not isinstance(message, Mapping):
                return Problem("type", path, _OBJECT, message)
            problem = check_fields(MESSAGE_FIELDS, message, path)
            if problem is not None:
                return problem
            role, content = message["role"], message["content"]
            if role != previous_role:
                if role == "user":
                    asked, asked_at = open_ids, index - 1
                open_ids = []
                previous_role = role
            if not content and not (index == last and role == "assistant"):
                self.bad_request(
                    ep,
                    cat,
                    f"messages.{index}: all messages must have non-empty content except for "
                    "the optional final assistant message",
                )
            answered: list[str] = []
            for position, block in enumerate(() if isinstance(content, str) else content):
                problem = self.check_block(block, (*path, "content", position))
                if problem is not None:
                    return problem
                kind = block["type"]
                if kind == "text" and not block["text"] and role == "user":
                    self.bad_request(ep, cat, "messages: text content blocks must be non-empty")
                if kind == "tool_use" and role == "assistant":
                    open_ids.append(block["id"])
                elif kind == "tool_result":
                    if role != "user" or block["tool_use_id"] not in asked:
                        self.bad_request(
                            ep,
                            cat,
                            f"messages.{index}.content.{position}: unexpected `tool_use_id` found "
                            f"in `tool_result` blocks: {block['tool_use_id']}. Each `tool_result` "
                            "block must have a corresponding `tool_use` block in the previous "
                            "message.",
                        )
                    answered.append(block["tool_use_id"])
            missing = [i for i in asked if i not in answered] if role == "user" else []
            if asked and role == "user" and missing:
                self.bad_request(
                    ep,
                    cat,
                    f"messages.{asked_at}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                    "corresponding `tool_result` block in the next message.",
                )
            if role == "user":
                asked = []
        return None

    def check_block(self, block: object, path: Path) -> Problem | None:
        if not isinstance(block, Mapping):
            return Problem("type", path, _OBJECT, block)
        kind = block.get("type")
        if not isinstance(kind, str) or kind not in BLOCK_FIELDS:
            return Problem(
                "value", (*path, "type"), Spec(("string",), choices=tuple(BLOCK_FIELDS)), kind
            )
        fields = BLOCK_FIELDS[kind]
        problem = None if fields is None else check_fields(fields, block, path)
        if problem is None and kind == "image":
            source = block["source"]
            where = (*path, "image", "source")
            problem = _tagged(IMAGE_SOURCES, source, where)
            if problem is None and source["type"] == "base64" and not _is_base64(source["data"]):
                problem = Problem("value", (*where, "base64", "data"), _BASE64, source["data"])
        return problem

    # --- messages -------------------------------------------------------------------------

    def read_request(
        self, body: Mapping[str, Any], ep: str, cat: str
    ) -> tuple[str, str, bool, list[ToolSpec], str | bool | None]:
        messages = body.get("messages")
        if messages is None:
            self.bad_request(ep, cat, "messages: Field required")
        if not isinstance(messages, list) or not messages:
            self.bad_request(ep, cat, "messages: at least one message is required")
        texts: list[str] = []
        system = body.get("system")
        if system is not None:
            if not isinstance(system, (str, list)):
                self.bad_request(ep, cat, "system: Input should be a valid string or list")
            texts.append(text_of(system))
        last_user = ""
        tool_results = False
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, Mapping) else None
            if role not in ("user", "assistant"):
                self.bad_request(
                    ep, cat, f"messages.{index}.role: Input should be 'user' or 'assistant'"
                )
            assert isinstance(message, Mapping)
            content = message.get("content")
            if not isinstance(content, (str, list)):
                self.bad_request(ep, cat, f"messages.{index}.content: Field required")
            text = text_of(content)
            texts.append(text)
            if role == "user":
                if isinstance(content, list) and any(
                    isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
                ):
                    tool_results = True
                else:
                    last_user, tool_results = text, False
        tools: list[ToolSpec] = []
        raw_tools = body.get("tools")
        if raw_tools is not None:
            if not isinstance(raw_tools, list):
                self.bad_request(ep, cat, "tools: Input should be a valid list")
            for index, tool in enumerate(raw_tools):
                if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
                    self.bad_request(ep, cat, f"tools.{index}.name: Field required")
                schema = tool.get("input_schema")
                tools.append(ToolSpec(tool["name"], schema if isinstance(schema, Mapping) else {}))
        choice: str | bool | None = None
        raw_choice = body.get("tool_choice")
        if isinstance(raw_choice, Mapping):
            if raw_choice.get("type") == "any":
                choice = True
            elif raw_choice.get("type") == "tool" and isinstance(raw_choice.get("name"), str):
                choice = raw_choice["name"]
            elif raw_choice.get("type") == "none":
                tools = []
        return "\n".join(texts), last_user, tool_results, tools, choice

    def cache_prompt(self, body: Mapping[str, Any]) -> tuple[str, list[Segment], list[int]]:
        """The prompt as cache segments (system and message blocks), the indices of those with
        a ``cache_control`` breakpoint (a top-level ``cache_control`` marks the last one), and
        the scope the prefixes live in (model and tools)."""
        segments: list[Segment] = []
        breakpoints: list[int] = []
        system = body.get("system")
        turns: list[Any] = [system] if system is not None else []
        turns += [m.get("content") for m in body["messages"]]
        for content in turns:
            for block in [content] if isinstance(content, str) else content:
                if isinstance(block, Mapping) and "cache_control" in block:
                    breakpoints.append(len(segments))
                    block = {k: v for k, v in block.items() if k != "cache_control"}
                key = json.dumps(block, sort_keys=True)
                segments.append(Segment.of(key, text_of([block])))
        if "cache_control" in body and segments:
            breakpoints.append(len(segments) - 1)
        tools = [
            {k: v for k, v in t.items() if k != "cache_control"}
            for t in body.get("tools") or ()
            if isinstance(t, Mapping)
        ]
        scope = json.dumps([body.get("model"), tools], sort_keys=True)
        return scope, segments, breakpoints

    def messages(self, request: HttpRequest) -> Call:
        ep, cat = "messages", "generate"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check(MESSAGES_FIELDS, body, ep, cat)
        model = body.get("model")
        if model is None:
            self.fail(ep, cat, self.missing_model())
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            self.bad_request(ep, cat, "max_tokens: Field required")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            self.bad_request(ep, cat, "max_tokens: Input should be a valid integer >= 1")
        prompt, last_user, tool_results, tools, choice = self.read_request(body, ep, cat)
        profile = self.model_profile(model, "chat", ep, cat)
        assert isinstance(model, str)
        stream = bool(optional_bool(self, body, "stream", ep))
        raw_choice = body.get("tool_choice")
        thinking = body.get("thinking")
        generation = self.generate(
            model=model,
            prompt=prompt,
            last_user_text=last_user,
            max_tokens=max_tokens,
            tools=tools,
            tool_choice=choice,
            tool_results_present=tool_results,
            parallel_tool_calls=not (
                isinstance(raw_choice, Mapping) and raw_choice.get("disable_parallel_tool_use")
            ),
            thinking=isinstance(thinking, Mapping) and thinking.get("type") == "enabled",
        )
        self.check_context(profile, generation.input_tokens, ep, cat)
        # Below the model's cache minimum no prefix is cacheable: nothing to key.
        cacheable = generation.input_tokens >= cache_minimum(model)
        cache = self.cache_prompt(body) if cacheable else ("", [], [])
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens + generation.reasoning_tokens,
            key_id=key,
            render=partial(self.render_message, model, generation, stream, cache),
        )

    def usage(
        self, generation: Generation, output_tokens: int, read: int = 0, write: int = 0
    ) -> dict[str, Any]:
        """Usage as Anthropic counts it: ``input_tokens`` leaves out cache reads and writes."""
        return {
            "input_tokens": generation.input_tokens - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def content_blocks(self, generation: Generation) -> list[dict[str, Any]]:
        """The reply's blocks: a signed thinking block first when the model thought, then the
        text or one ``tool_use`` block per call."""
        blocks: list[dict[str, Any]] = []
        if generation.thinking:
            thought = generation.thinking_text
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": thought,
                    "signature": self.sign("thinking", thought),
                }
            )
        if not generation.tool_calls:
            blocks.append({"type": "text", "text": generation.text})
        blocks += [
            {
                "type": "tool_use",
                "id": f"toolu_{call.id}",
                "name": call.name,
                "input": call.arguments,
            }
            for call in generation.tool_calls
        ]
        return blocks

    def render_message(
        self,
        model: str,
        generation: Generation,
        stream: bool,
        cache: tuple[str, Sequence[Segment], Sequence[int]],
        ctx: Context,
    ) -> Rendered:
        message_id = "msg_" + self.reply_id(model, generation)
        stop_reason = _STOP_REASONS[generation.finish]
        scope, segments, breakpoints = cache
        read, write = self.cache.explicit(scope, segments, breakpoints, cache_minimum(model))
        output = generation.output_tokens + generation.reasoning_tokens
        blocks = self.content_blocks(generation)
        if not stream:
            body = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": self.usage(generation, output, read, write),
            }
            return Rendered.json(200, body)
        start = {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": self.usage(generation, 1, read, write),
            },
        }
        events = [sse_event(json_bytes(start), "message_start")]
        tokens = [0]
        for index, block in enumerate(blocks):
            self.stream_block(index, block, generation, events, tokens)
            if index == 0:
                events.insert(2, b'event: ping\ndata: {"type": "ping"}\n\n')
                tokens.insert(2, 0)
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output},
        }
        events += [
            sse_event(json_bytes(delta), "message_delta"),
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
        ]
        tokens += [0, 0]
        return Rendered(200, _SSE_HEADERS, tuple(events), streaming=True, tokens=tuple(tokens))

    @staticmethod
    def stream_block(
        index: int,
        block: Mapping[str, Any],
        generation: Generation,
        events: list[bytes],
        tokens: list[int],
    ) -> None:
        """One block as ``content_block_start``, its deltas (a token each: ``thinking_delta``
        then one ``signature_delta``, ``text_delta``, or ``input_json_delta``) and
        ``content_block_stop``."""
        kind = block["type"]
        empty = {
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "text": {"type": "text", "text": ""},
            "tool_use": {**block, "input": {}},
        }[kind]
        start = {"type": "content_block_start", "index": index, "content_block": empty}
        events.append(sse_event(json_bytes(start), "content_block_start"))
        tokens.append(0)
        head = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":'
            % index
        )
        if kind == "thinking":
            for piece in generation.thinking:
                events.append(
                    head + b'{"type":"thinking_delta","thinking":' + json_bytes(piece) + b"}}\n\n"
                )
                tokens.append(1)
            signature = {"type": "signature_delta", "signature": block["signature"]}
            events.append(head + json_bytes(signature) + b"}\n\n")
            tokens.append(0)
        elif kind == "text":
            for piece in generation.pieces:
                events.append(
                    head + b'{"type":"text_delta","text":' + json_bytes(piece) + b"}}\n\n"
                )
                tokens.append(1)
        else:
            arguments = json.dumps(block["input"], separators=(",", ":"))
            for fragment in split_pieces(arguments):
                events.append(
                    head
                    + b'{"type":"input_json_delta","partial_json":'
                    + json_bytes(fragment)
                    + b"}}\n\n"
                )
                tokens.append(count_tokens(fragment))
        stop = {"type": "content_block_stop", "index": index}
        events.append(sse_event(json_bytes(stop), "content_block_stop"))
        tokens.append(0)

    def count_tokens(self, request: HttpRequest) -> Call:
        ep, cat = "messages.count_tokens", "other"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check(COUNT_TOKENS_FIELDS, body, ep, cat)
        model = body.get("model")
        if model is None:
            self.fail(ep, cat, self.missing_model())
        prompt, *_ = self.read_request(body, ep, cat)
        self.model_profile(model, "chat", ep, cat)
        rendered = Rendered.json(200, {"input_tokens": max(1, count_tokens(prompt))})
        return Call(
            endpoint=ep, category=cat, model=str(model), key_id=key, render=lambda ctx: rendered
        )

    # --- models ---------------------------------------------------------------------------

    def model_object(self, profile: ModelProfile) -> dict[str, Any]:
        return {
            "type": "model",
            "id": profile.name,
            "display_name": profile.display_name or profile.name,
            "created_at": "2025-05-14T00:00:00Z",
        }

    def list_models(self, request: HttpRequest) -> Call:
        ep, cat = "models", "models"
        key = self.authenticate(request, ep, cat)
        data = [self.model_object(p) for p in self.settings.models.values()]
        body = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        rendered = Rendered.json(200, body)
        return Call(endpoint=ep, category=cat, key_id=key, render=lambda ctx: rendered)

    def get_model(self, request: HttpRequest, name: str) -> Call:
        ep, cat = "models", "models"
        key = self.authenticate(request, ep, cat)
        profile = self.find_model(name)
        if profile is None:
            self.fail(ep, cat, self.model_not_found(name))
        rendered = Rendered.json(200, self.model_object(profile))
        return Call(endpoint=ep, category=cat, model=name, key_id=key, render=lambda ctx: rendered)
