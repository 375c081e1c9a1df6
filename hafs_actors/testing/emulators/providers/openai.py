"""OpenAI ``/v1``: chat completions (JSON and SSE), embeddings (float and base64), models.

Shapes follow docs/providers.md section 1 and the recorded fixtures: a streamed reply is a role
chunk, one chunk per token, a finish chunk with an empty delta, then (with
``stream_options.include_usage``) a usage chunk whose ``choices`` is empty, then ``data: [DONE]``.
"""

from __future__ import annotations

import array
import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, NoReturn

from ..caching import Segment
from ..content import Generation, ToolSpec, count_tokens, embedding_vector, split_pieces
from ..profiles import ModelProfile
from ..quota import QuotaDecision
from ..wire import HttpRequest, Rendered, json_bytes, sse_event
from ._base import (
    Call,
    Context,
    ProviderProtocol,
    RateLimitSignal,
    bearer_token,
    go_duration,
    optional_bool,
    optional_int,
    retry_after_headers,
    text_of,
)
from ._schema import Fields, Path, Problem, Spec, check_fields, json_type, obj

__all__ = ["OpenAIProtocol"]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_STRING = Spec(("string",))
_BOOL = Spec(("boolean",))
_OBJECT = Spec(("object",))
_ARRAY = Spec(("array",))
_CONTENT = Spec(("string", "array"), required=True)
_PENALTY = Spec(("number",), minimum=-2, maximum=2)
_TOOL = obj(
    {
        "type": Spec(("string",), required=True, choices=("function", "custom")),
        "function": obj(
            {
                "name": Spec(("string",), required=True),
                "description": _STRING,
                "parameters": _OBJECT,
                "strict": Spec(("boolean", "null")),
            }
        ),
        "custom": _OBJECT,
    }
)
_NAMED_CHOICE = Fields(
    {
        "type": Spec(("string",), required=True, choices=("function",)),
        "function": obj({"name": Spec(("string",), required=True)}, required=True),
    }
)
# Content parts by type; only user messages may carry images.
PART_FIELDS: dict[str, Fields] = {
    "text": Fields({"type": _STRING, "text": Spec(("string",), required=True)}),
    "image_url": Fields(
        {
            "type": _STRING,
            "image_url": obj(
                {
                    "url": Spec(("string",), required=True),
                    "detail": Spec(("string",), choices=("auto", "low", "high")),
                },
                required=True,
            ),
        }
    ),
    "input_audio": Fields({"type": _STRING, "input_audio": Spec(("object",), required=True)}),
    "file": Fields({"type": _STRING, "file": Spec(("object",), required=True)}),
    "refusal": Fields({"type": _STRING, "refusal": Spec(("string",), required=True)}),
}
_PART_TYPES = Spec(("string",), choices=tuple(PART_FIELDS))
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_IMAGE_TYPES = ("png", "jpeg", "gif", "webp")
_DATA_URL = re.compile(r"^data:image/([a-z]+);base64,(.*)$", re.DOTALL)
# Models that reason (and so take ``reasoning_effort``): the o-series and GPT-5.
_REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5)")
# Automatic prompt caching: prompts from 1024 tokens, cached in 128-token steps.
CACHE_MINIMUM, CACHE_STEP = 1024, 128
# The chat completions body, from the official SDK's CompletionCreateParams.
CHAT_FIELDS = Fields(
    {
        "model": Spec(("string",), required=True),
        "messages": Spec(("array",), required=True),  # each message: MESSAGE_FIELDS by role
        "audio": _OBJECT,
        "frequency_penalty": _PENALTY,
        "function_call": Spec(("string", "object")),
        "functions": _ARRAY,
        "logit_bias": _OBJECT,
        "logprobs": _BOOL,
        "max_completion_tokens": Spec(("integer",), minimum=1),
        "max_tokens": Spec(("integer",), minimum=1),
        "metadata": _OBJECT,
        "modalities": Spec(("array",), items=_STRING),
        "moderation": _OBJECT,
        "n": Spec(("integer",), minimum=1, maximum=128),
        "parallel_tool_calls": _BOOL,
        "prediction": _OBJECT,
        "presence_penalty": _PENALTY,
        "prompt_cache_key": _STRING,
        "prompt_cache_options": _OBJECT,
        "prompt_cache_retention": _STRING,
        "reasoning_effort": Spec(
            ("string",), choices=("none", "minimal", "low", "medium", "high", "xhigh")
        ),
        "response_format": obj(
            {
                "type": Spec(
                    ("string",), required=True, choices=("text", "json_object", "json_schema")
                ),
                "json_schema": obj(
                    {
                        "name": Spec(("string",), required=True),
                        "description": _STRING,
                        "schema": _OBJECT,
                        "strict": Spec(("boolean", "null")),
                    }
                ),
            }
        ),
        "safety_identifier": _STRING,
        "seed": Spec(("integer",)),
        "service_tier": _STRING,
        "stop": Spec(("string", "array"), max_items=4, items=_STRING),
        "store": _BOOL,
        "stream": _BOOL,
        "stream_options": obj({"include_usage": _BOOL, "include_obfuscation": _BOOL}),
        "temperature": Spec(("number",), minimum=0, maximum=2),
        "tool_choice": Spec(("string", "object"), choices=("none", "auto", "required")),
        "tools": Spec(("array",), items=_TOOL),
        "top_logprobs": Spec(("integer",), minimum=0, maximum=20),
        "top_p": Spec(("number",), minimum=0, maximum=1),
        "user": _STRING,
        "verbosity": Spec(("string",), choices=("low", "medium", "high")),
        "web_search_options": _OBJECT,
    }
)
_ROLE = Spec(("string",), required=True)
MESSAGE_FIELDS: dict[str, Fields] = {
    "system": Fields({"role": _ROLE, "content": _CONTENT, "name": _STRING}),
    "developer": Fields({"role": _ROLE, "content": _CONTENT, "name": _STRING}),
    "user": Fields({"role": _ROLE, "content": _CONTENT, "name": _STRING}),
    "assistant": Fields(
        {
            "role": _ROLE,
            "content": Spec(("string", "array")),
            "name": _STRING,
            "tool_calls": Spec(("array",), items=_OBJECT),
            "function_call": _OBJECT,
            "refusal": _STRING,
            "audio": _OBJECT,
        }
    ),
    "tool": Fields(
        {"role": _ROLE, "content": _CONTENT, "tool_call_id": Spec(("string",), required=True)}
    ),
    "function": Fields(
        {"role": _ROLE, "content": Spec(("string",)), "name": Spec(("string",), required=True)}
    ),
}
EMBEDDING_FIELDS = Fields(
    {
        "model": Spec(("string",), required=True),
        "input": Spec(("string", "array"), required=True),
        "dimensions": Spec(("integer",), minimum=1),
        "encoding_format": Spec(("string",), choices=("float", "base64")),
        "user": _STRING,
    }
)
_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}
_DONE = b"data: [DONE]\n\n"
_SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))


class OpenAIProtocol(ProviderProtocol):
    provider: ClassVar[str] = "openai"
    request_id_header: ClassVar[str | None] = "x-request-id"
    meters_per_model: ClassVar[bool] = True
    owned_by: ClassVar[str] = "openai"
    fingerprint: ClassVar[str] = "fp_emulator"
    # llama.cpp puts usage (and timings) into the finish chunk instead of a usage chunk.
    usage_in_finish_chunk: ClassVar[bool] = False

    # --- routing --------------------------------------------------------------------------

    def route(self, request: HttpRequest, now: float) -> Call:
        method, path = request.method, request.path
        if method == "POST" and path == "/v1/chat/completions":
            return self.chat(request)
        if method == "POST" and path == "/v1/embeddings":
            return self.embeddings(request)
        if method == "GET" and path == "/v1/models":
            return self.list_models(request)
        if method == "GET" and path.startswith("/v1/models/"):
            return self.get_model(request, path[len("/v1/models/") :])
        return self.unknown_route(request)

    def unknown_route(self, request: HttpRequest) -> Call:
        message = f"Invalid URL ({request.method} {request.path})"
        return Call(endpoint="unknown", category="other", error=self.error(404, message))

    # --- auth -----------------------------------------------------------------------------

    def authenticate(self, request: HttpRequest, endpoint: str, category: str) -> str:
        token = bearer_token(request)
        if not self.settings.require_auth:
            return self.key_id(token)
        if token is None:
            self.fail(endpoint, category, self.missing_key())
        if token != self.settings.api_key:
            self.fail(endpoint, category, self.invalid_key())
        return self.key_id(token)

    def missing_key(self) -> Rendered:
        return self.error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
        )

    def invalid_key(self) -> Rendered:
        return self.error(
            401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"
        )

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
        if error_type is None:
            error_type = "server_error" if status >= 500 else "invalid_request_error"
        body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        return Rendered.json(status, body, headers)

    def missing_model(self) -> Rendered:
        return self.error(
            400, "you must provide a model parameter", "invalid_request_error", param="model"
        )

    def model_not_found(self, name: str) -> Rendered:
        return self.error(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            "invalid_request_error",
            code="model_not_found",
        )

    def bad_json(self, detail: str) -> Rendered:
        return self.error(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            f"but what was sent was not valid JSON.) {detail}",
        )

    def context_exceeded(self, profile: ModelProfile, tokens: int, endpoint: str) -> Rendered:
        return self.error(
            400,
            f"This model's maximum context length is {profile.context_window} tokens. However, "
            f"your messages resulted in {tokens} tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            code="context_length_exceeded",
            param="messages",
        )

    def rate_limited(self, signal: RateLimitSignal) -> Rendered:
        kind = "tokens" if signal.by_tokens else "requests"
        limit = signal.tokens_limit if signal.by_tokens else signal.requests_limit
        message = signal.message or (
            f"Rate limit reached for {signal.model or 'default'} in organization org-emulator "
            f"on {kind} per min ({'TPM' if signal.by_tokens else 'RPM'}): Limit {limit}. "
            f"Please try again in {go_duration(signal.retry_after)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        headers = retry_after_headers(signal) + self._limit_headers(
            signal.requests_limit,
            signal.requests_remaining,
            signal.tokens_limit,
            signal.tokens_remaining,
            signal.reset_after,
        )
        return self.error(429, message, kind, code="rate_limit_exceeded", headers=headers)

    def quota_headers(self, decision: QuotaDecision, wall: float) -> tuple[tuple[str, str], ...]:
        return self._limit_headers(
            decision.requests_limit,
            decision.requests_remaining,
            decision.tokens_limit,
            decision.tokens_remaining,
            decision.reset_after,
        )

    @staticmethod
    def _limit_headers(
        requests_limit: int | None,
        requests_remaining: int | None,
        tokens_limit: int | None,
        tokens_remaining: int | None,
        reset_after: float,
    ) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        if requests_limit is not None:
            out += [
                ("x-ratelimit-limit-requests", str(requests_limit)),
                ("x-ratelimit-remaining-requests", str(requests_remaining or 0)),
                ("x-ratelimit-reset-requests", go_duration(reset_after)),
            ]
        if tokens_limit is not None:
            out += [
                ("x-ratelimit-limit-tokens", str(tokens_limit)),
                ("x-ratelimit-remaining-tokens", str(tokens_remaining or 0)),
                ("x-ratelimit-reset-tokens", go_duration(reset_after)),
            ]
        return tuple(out)

    def stream_error_event(self, status: int, message: str, error_type: str | None) -> bytes:
        error = {
            "message": message,
            "type": error_type or ("server_error" if status >= 500 else "invalid_request_error"),
            "param": None,
            "code": None,
        }
        return sse_event(json_bytes({"error": error}))

    def malformed_event(self) -> bytes:
        return b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{\n\n'

    # --- chat -----------------------------------------------------------------------------

    def chat(self, request: HttpRequest) -> Call:
        ep, cat = "chat.completions", "generate"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check_chat(body, ep)
        model = body.get("model")
        messages = body.get("messages")
        if messages is None:
            self.bad_request(ep, cat, "Missing required parameter: 'messages'.", "messages")
        prompt, last_user, tool_results = self.read_messages(messages, ep)
        profile = self.model_profile(model, "chat", ep, cat)
        model = model if isinstance(model, str) and model else profile.name
        max_tokens = optional_int(self, body, "max_completion_tokens", ep)
        if max_tokens is None:
            max_tokens = optional_int(self, body, "max_tokens", ep)
        stream = bool(optional_bool(self, body, "stream", ep))
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        tools, tool_choice = self.read_tools(body, ep)
        fmt = body.get("response_format")
        fmt_type = fmt.get("type") if isinstance(fmt, Mapping) else None
        described = fmt.get("json_schema") if isinstance(fmt, Mapping) else None
        schema = described.get("schema") if isinstance(described, Mapping) else None
        generation = self.generate(
            model=model,
            prompt=prompt,
            last_user_text=last_user,
            max_tokens=max_tokens,
            request_seed=body.get("seed"),
            tools=tools,
            tool_choice=tool_choice,
            tool_results_present=tool_results,
            parallel_tool_calls=body.get("parallel_tool_calls") is not False,
            json_reply=fmt_type in ("json_object", "json_schema"),
            json_schema=schema if isinstance(schema, Mapping) else None,
            thinking=self.reasons(body),
        )
        self.check_context(profile, generation.input_tokens, ep, cat)
        # A prompt shorter than the cache minimum has no cacheable prefix: nothing to key.
        segments = [
            Segment.of(json.dumps(m, sort_keys=True), text_of(m.get("content")))
            for m in (messages if generation.input_tokens >= CACHE_MINIMUM else ())
        ]
        scope = json.dumps([model, body.get("tools"), fmt], sort_keys=True)
        render = partial(
            self.render_chat, model, profile, generation, stream, include_usage, scope, segments
        )
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens + generation.reasoning_tokens,
            key_id=key,
            render=render,
        )

    def reasons(self, body: Mapping[str, Any]) -> bool:
        """Whether the model thinks: a reasoning model asked for an effort above ``none``."""
        return body.get("reasoning_effort") not in (None, "none")

    def cached_tokens(self, scope: str, segments: Sequence[Segment]) -> int:
        return self.cache.implicit(scope, segments, CACHE_MINIMUM, CACHE_STEP)

    # --- request validation -----------------------------------------------------------------

    def check_chat(self, body: dict[str, Any], ep: str) -> None:
        """Reject what the real API rejects: the body schema, message shapes, tool-call order,
        tool and response-format rules."""
        problem = check_fields(CHAT_FIELDS, body)
        messages = body.get("messages")
        if problem is None and isinstance(messages, list):
            problem = self.check_messages(messages)
        if problem is None:
            problem = self.check_features(body)
        if problem is not None:
            self.fail(ep, "generate", self.invalid(problem))

    def check_features(self, body: dict[str, Any]) -> Problem | None:
        """Tools, ``tool_choice``, ``response_format`` and ``reasoning_effort`` beyond their
        types; the ones with their own wording answer at once."""
        tools = body.get("tools")
        for index, tool in enumerate(tools or ()):
            function = tool.get("function")
            if tool["type"] == "function" and function is None:
                return Problem("missing", ("tools", index, "function"), _OBJECT, None)
            if function is not None and not _NAME.match(function["name"]):
                self.invalid_value(
                    f"Invalid 'tools[{index}].function.name': string does not match pattern. "
                    "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{index}].function.name",
                )
        for name in ("tool_choice", "parallel_tool_calls"):
            if body.get(name) is not None and not tools:
                self.invalid_value(
                    f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are "
                    "specified.",
                    name,
                )
        choice = body.get("tool_choice")
        if isinstance(choice, Mapping):
            problem = check_fields(_NAMED_CHOICE, choice, ("tool_choice",))
            if problem is not None:
                return problem
            name = choice["function"]["name"]
            names = [t.get("function", {}).get("name") for t in tools or ()]
            if name not in names:
                self.invalid_value(
                    f"Invalid value for 'tool_choice': tool '{name}' not found in 'tools'.",
                    "tool_choice",
                )
        fmt = body.get("response_format")
        if isinstance(fmt, Mapping):
            problem = self.check_response_format(fmt, body.get("messages") or [])
            if problem is not None:
                return problem
        effort = body.get("reasoning_effort")
        model = body.get("model")
        if effort is not None and isinstance(model, str) and not _REASONING_MODEL.match(model):
            message = "Unsupported parameter: 'reasoning_effort' is not supported with this model."
            self.fail(
                "chat.completions",
                "generate",
                self.error(400, message, param="reasoning_effort", code="unsupported_parameter"),
            )
        return None

    def check_response_format(self, fmt: Mapping[str, Any], messages: list[Any]) -> Problem | None:
        """``json_schema`` needs its description (a valid name; a strict schema must be an
        object with every property required and no additional ones); ``json_object`` needs the
        word "json" somewhere in the messages."""
        kind = fmt["type"]
        described = fmt.get("json_schema")
        if kind == "json_schema":
            if described is None:
                return Problem("missing", ("response_format", "json_schema"), _OBJECT, None)
            name = described["name"]
            if not _NAME.match(name):
                self.invalid_value(
                    "Invalid 'response_format.json_schema.name': string does not match pattern. "
                    "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    "response_format.json_schema.name",
                )
            schema = described.get("schema")
            if described.get("strict") and isinstance(schema, Mapping):
                why = strict_schema_error(schema, ())
                if why is not None:
                    self.invalid_value(
                        f"Invalid schema for response_format '{name}': {why}", "response_format"
                    )
        elif kind == "json_object" and not any(
            "json" in text_of(m.get("content")).lower() for m in messages if isinstance(m, Mapping)
        ):
            self.invalid_value(
                "'messages' must contain the word 'json' in some form, to use 'response_format' "
                "of type 'json_object'.",
                "messages",
            )
        return None

    def invalid_value(self, message: str, param: str) -> NoReturn:
        self.fail("chat.completions", "generate", self.error(400, message, param=param))

    def check_embeddings(self, body: dict[str, Any], ep: str) -> None:
        problem = check_fields(EMBEDDING_FIELDS, body)
        if problem is not None:
            self.fail(ep, "embed", self.invalid(problem))

    def check_messages(self, messages: list[Any]) -> Problem | None:
        pending: list[str] = []  # tool_call ids of the last assistant turn still unanswered
        answerable = False  # a tool message may follow: the last non-tool turn had tool_calls
        for index, message in enumerate(messages):
            path: Path = ("messages", index)
            if not isinstance(message, Mapping):
                return Problem("type", path, _OBJECT, message)
            role = message.get("role")
            if role not in MESSAGE_FIELDS:
                if role is None:
                    return Problem("missing", (*path, "role"), _ROLE, None)
                return Problem("value", (*path, "role"), Spec(("string",), choices=_ROLES), role)
            problem = check_fields(MESSAGE_FIELDS[role], message, path)
            if problem is None and isinstance(message.get("content"), list):
                problem = self.check_parts(role, message["content"], (*path, "content"))
            if problem is not None:
                return problem
            if role == "tool":
                if not answerable:
                    self.order_error(
                        "Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'.",
                        index,
                    )
                if message["tool_call_id"] in pending:
                    pending.remove(message["tool_call_id"])
                continue
            if pending:
                self.order_error(
                    "An assistant message with 'tool_calls' must be followed by tool messages "
                    "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                    "response messages: " + ", ".join(pending),
                    index - 1,
                )
            calls = message.get("tool_calls") if role == "assistant" else None
            answerable = bool(calls)
            pending = [c["id"] for c in calls or () if isinstance(c.get("id"), str)]
        return None

    def check_parts(self, role: str, parts: list[Any], path: Path) -> Problem | None:
        """Content parts by type; an image only in a user message, as an http(s) URL or a
        base64 ``data:`` URL of a PNG, JPEG, GIF or WebP image."""
        for position, part in enumerate(parts):
            where: Path = (*path, position)
            if not isinstance(part, Mapping):
                return Problem("type", where, _OBJECT, part)
            kind = part.get("type")
            if kind not in PART_FIELDS:
                return Problem("value", (*where, "type"), _PART_TYPES, kind)
            problem = check_fields(PART_FIELDS[kind], part, where)
            if problem is not None or kind != "image_url":
                if problem is not None:
                    return problem
                continue
            param = openai_param(path[:2])
            if role != "user":
                self.invalid_value(
                    f"Invalid '{param}'. Image URLs are only allowed for messages with role "
                    f"'user', but this message with role '{role}' contains an image URL.",
                    param,
                )
            self.check_image_url(
                part["image_url"]["url"], openai_param((*where, "image_url", "url"))
            )
        return None

    def check_image_url(self, url: str, param: str) -> None:
        if url.startswith(("https://", "http://")):
            return
        found = _DATA_URL.match(url)
        if found is None or not _is_base64(found.group(2)):
            self.fail(
                "chat.completions",
                "generate",
                self.error(
                    400,
                    f"Invalid '{param}'. Expected a base64-encoded data URL with an image MIME "
                    "type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a value "
                    "with an invalid format.",
                    param=param,
                    code="invalid_value",
                ),
            )
        if found.group(1) not in _IMAGE_TYPES:
            self.fail(
                "chat.completions",
                "generate",
                self.error(
                    400,
                    "You uploaded an unsupported image. Please make sure your image has of one "
                    "the following formats: ['png', 'jpeg', 'gif', 'webp'].",
                    param=param,
                    code="invalid_image_format",
                ),
            )

    def order_error(self, message: str, index: int) -> NoReturn:
        rendered = self.error(400, message, param=f"messages.[{index}].role")
        self.fail("chat.completions", "generate", rendered)

    def invalid(self, problem: Problem) -> Rendered:
        """OpenAI's wording for each kind of problem, with ``param`` and ``code`` set."""
        kind, path, spec, value = problem
        param = openai_param(path)
        if kind == "unknown":
            if len(path) == 1:
                return self.error(400, f"Unrecognized request argument supplied: {path[0]}")
            return self.error(
                400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
            )
        if kind == "missing":
            if path == ("model",):
                return self.missing_model()
            message = f"Missing required parameter: '{param}'."
            return self.error(400, message, param=param, code="missing_required_parameter")
        assert spec is not None
        if kind == "type":
            expected = " or ".join(_ARTICLE.get(t, t) for t in spec.types)
            got = _ARTICLE.get(json_type(value), json_type(value))
            message = f"Invalid type for '{param}': expected {expected}, but got {got} instead."
            return self.error(400, message, param=param, code="invalid_type")
        if kind == "value":
            allowed = [f"'{c}'" for c in spec.choices or ()]
            listed = (
                ", ".join(allowed[:-1]) + f", and {allowed[-1]}"
                if len(allowed) > 1
                else "".join(allowed)
            )
            message = f"Invalid value: '{value}'. Supported values are: {listed}."
            return self.error(400, message, param=param, code="invalid_value")
        if kind == "length":
            assert isinstance(value, list)
            message = (
                f"Invalid '{param}': array too long. Expected an array with maximum length "
                f"{spec.max_items}, but got an array with length {len(value)} instead."
            )
            return self.error(400, message, param=param, code="array_above_max_length")
        number = "integer" if "integer" in spec.types else "decimal"
        above = (
            spec.maximum is not None and isinstance(value, (int, float)) and value > spec.maximum
        )
        side, sign, bound = (
            ("above maximum", "<=", spec.maximum)
            if above
            else ("below minimum", ">=", spec.minimum)
        )
        message = (
            f"Invalid '{param}': {number} {side} value. Expected a value {sign} {bound:g}, "
            f"but got {value} instead."
        )
        code = f"{number}_{side.replace(' ', '_').replace('imum', '')}_value"
        return self.error(400, message, param=param, code=code)

    def read_messages(self, messages: object, ep: str) -> tuple[str, str, bool]:
        if not isinstance(messages, list) or not messages:
            self.bad_request(ep, "generate", "'messages' must be a non-empty array.", "messages")
        texts: list[str] = []
        last_user = ""
        tool_results = False
        for index, message in enumerate(messages):
            if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
                self.bad_request(
                    ep,
                    "generate",
                    f"Invalid value for 'messages[{index}]': expected an object with a 'role'.",
                    f"messages[{index}]",
                )
            role = message["role"]
            if role not in _ROLES:
                self.bad_request(
                    ep,
                    "generate",
                    f"Invalid value: '{role}'. Supported values are: "
                    + ", ".join(f"'{r}'" for r in _ROLES)
                    + ".",
                    f"messages[{index}].role",
                )
            text = text_of(message.get("content"))
            texts.append(text)
            if role == "user":
                last_user, tool_results = text, False
            elif role in ("tool", "function"):
                tool_results = True
        return "\n".join(texts), last_user, tool_results

    def read_tools(
        self, body: Mapping[str, Any], ep: str
    ) -> tuple[list[ToolSpec], str | bool | None]:
        raw = body.get("tools")
        if raw is None:
            return [], None
        if not isinstance(raw, list):
            self.bad_request(ep, "generate", "'tools' must be an array.", "tools")
        tools = []
        for index, tool in enumerate(raw):
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                self.bad_request(
                    ep,
                    "generate",
                    f"Missing required parameter: 'tools[{index}].function.name'.",
                    f"tools[{index}].function.name",
                )
            params = function.get("parameters")
            tools.append(ToolSpec(function["name"], params if isinstance(params, Mapping) else {}))
        choice = body.get("tool_choice")
        if choice == "none":
            return [], None
        if choice == "required":
            return tools, True
        if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
            name = choice["function"].get("name")
            return tools, name if isinstance(name, str) else None
        return tools, None

    def usage(self, generation: Generation, cached: int = 0) -> dict[str, Any]:
        """Usage; ``completion_tokens`` includes the reasoning tokens, ``prompt_tokens`` the
        cached ones, as OpenAI counts them."""
        prompt = generation.input_tokens
        reasoning = generation.reasoning_tokens
        completion = generation.output_tokens + reasoning
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def extra_fields(self, profile: ModelProfile, generation: Generation) -> dict[str, Any]:
        """Provider-specific additions to a reply (llama.cpp adds ``timings``)."""
        return {}

    def tool_calls(self, generation: Generation) -> list[dict[str, Any]]:
        return [
            {
                "id": f"call_{call.id}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in generation.tool_calls
        ]

    def render_chat(
        self,
        model: str,
        profile: ModelProfile,
        generation: Generation,
        stream: bool,
        include_usage: bool,
        scope: str,
        segments: Sequence[Segment],
        ctx: Context,
    ) -> Rendered:
        reply_id = "chatcmpl-" + self.reply_id(model, generation)
        created = int(ctx.created)
        usage = self.usage(generation, self.cached_tokens(scope, segments))
        if stream:
            return self.render_chat_stream(
                reply_id, created, model, profile, generation, usage if include_usage else None
            )
        message: dict[str, Any] = {"role": "assistant", "content": generation.text or None}
        if generation.tool_calls:
            message["tool_calls"] = self.tool_calls(generation)
        message["refusal"] = None
        body: dict[str, Any] = {
            "id": reply_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": generation.finish,
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": self.fingerprint,
            **self.extra_fields(profile, generation),
        }
        return Rendered.json(200, body)

    def render_chat_stream(
        self,
        reply_id: str,
        created: int,
        model: str,
        profile: ModelProfile,
        generation: Generation,
        usage: dict[str, Any] | None,
    ) -> Rendered:
        """Role chunk, content (or ``delta.tool_calls``: each call's id and name in its first
        fragment, then its arguments a token at a time), finish chunk, usage chunk, ``[DONE]``."""
        base = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": self.fingerprint,
        }
        # Every chunk shares its head and tail: serialize them once, splice each delta in.
        head = json_bytes(base)[:-1] + b',"choices":[{"index":0,"delta":'
        tail = b',"logprobs":null,"finish_reason":null}]}'
        events: list[bytes] = []
        tokens: list[int] = []
        if not generation.tool_calls:
            role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
            events.append(b"data: " + head + json_bytes(role) + tail + b"\n\n")
            tokens.append(0)
            for piece in generation.pieces:
                events.append(
                    b"data: " + head + b'{"content":' + json_bytes(piece) + b"}" + tail + b"\n\n"
                )
                tokens.append(1)
        for index, call in enumerate(generation.tool_calls):
            first: dict[str, Any] = {
                "tool_calls": [
                    {
                        "index": index,
                        "id": f"call_{call.id}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
            if index == 0:
                first = {"role": "assistant", "content": None, **first, "refusal": None}
            events.append(b"data: " + head + json_bytes(first) + tail + b"\n\n")
            tokens.append(0)
            for fragment in split_pieces(call.arguments_json):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                events.append(b"data: " + head + json_bytes(delta) + tail + b"\n\n")
                tokens.append(count_tokens(fragment))
        finish: dict[str, Any] = {
            **base,
            "choices": [
                {"index": 0, "delta": {}, "logprobs": None, "finish_reason": generation.finish}
            ],
        }
        if self.usage_in_finish_chunk:
            finish["usage"] = self.usage(generation)
            finish.update(self.extra_fields(profile, generation))
        events.append(sse_event(json_bytes(finish)))
        tokens.append(0)
        if usage is not None and not self.usage_in_finish_chunk:
            events.append(sse_event(json_bytes({**base, "choices": [], "usage": usage})))
            tokens.append(0)
        events.append(_DONE)
        tokens.append(0)
        return Rendered(200, _SSE_HEADERS, tuple(events), streaming=True, tokens=tuple(tokens))

    # --- embeddings -----------------------------------------------------------------------

    def embeddings(self, request: HttpRequest) -> Call:
        ep, cat = "embeddings", "embed"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check_embeddings(body, ep)
        model = body.get("model")
        if "input" not in body:
            self.bad_request(ep, cat, "Missing required parameter: 'input'.", "input")
        texts = self.embedding_inputs(body["input"], ep)
        profile = self.model_profile(model, "embedding", ep, cat)
        model = model if isinstance(model, str) and model else profile.name
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            self.bad_request(
                ep,
                cat,
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                "encoding_format",
            )
        dims = self.embedding_dims(profile, body.get("dimensions"), ep)
        tokens = sum(max(1, count_tokens(text)) for text in texts)
        for text in texts:
            self.check_context(profile, count_tokens(text), ep, cat)
        render = partial(self.render_embeddings, model, texts, dims, encoding == "base64", tokens)
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            profile=profile,
            input_tokens=tokens,
            key_id=key,
            render=render,
        )

    def embedding_inputs(self, value: object, ep: str) -> list[str]:
        """``input``: a string, a list of strings, a token list or a list of token lists."""
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            texts = list(value)
        elif isinstance(value, list) and value and all(_is_int(v) for v in value):
            texts = [" ".join(map(str, value))]
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, list) and v and all(_is_int(t) for t in v) for v in value)
        ):
            texts = [" ".join(map(str, v)) for v in value]
        else:
            self.bad_request(
                ep,
                "embed",
                "'input' must be a non-empty string, array of strings, or array of token arrays.",
                "input",
            )
        if any(text == "" for text in texts):
            self.bad_request(ep, "embed", "'input' cannot contain empty strings.", "input")
        return texts

    def render_embeddings(
        self,
        model: str,
        texts: list[str],
        dims: int,
        as_base64: bool,
        tokens: int,
        ctx: Context,
    ) -> Rendered:
        data = []
        for index, text in enumerate(texts):
            vector = embedding_vector(text, model, dims, self.settings.seed)
            value: Any = vector
            if as_base64:
                value = base64.b64encode(array.array("f", vector).tobytes()).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": value})
        body = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return Rendered.json(200, body)

    # --- models ---------------------------------------------------------------------------

    def model_object(self, profile: ModelProfile) -> dict[str, Any]:
        return {
            "id": profile.name,
            "object": "model",
            "created": 1_700_000_000,
            "owned_by": self.owned_by,
        }

    def list_models(self, request: HttpRequest) -> Call:
        ep, cat = "models", "models"
        key = self.authenticate(request, ep, cat)
        body = {
            "object": "list",
            "data": [self.model_object(p) for p in self.settings.models.values()],
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


def openai_param(path: Path) -> str:
    """``messages[0].role``: OpenAI's way of naming a nested parameter."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def strict_schema_error(schema: Mapping[str, Any], context: Path) -> str | None:
    """What Structured Outputs' strict mode refuses in a schema: a root that is not an object,
    an object without ``additionalProperties: false`` or not requiring every property."""
    if not context and schema.get("type") != "object":
        return (
            "schema must be a JSON Schema of 'type: \"object\"', got "
            f"'type: \"{schema.get('type')}\"'."
        )
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, Mapping):
        where = f"In context={tuple(context)!r}, "
        if schema.get("additionalProperties") is not False:
            return where + "'additionalProperties' is required to be supplied and to be false."
        if isinstance(properties, Mapping):
            required = schema.get("required")
            missing = [n for n in properties if not isinstance(required, list) or n not in required]
            if missing:
                return (
                    where + "'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'."
                )
            for name, sub in properties.items():
                if isinstance(sub, Mapping):
                    why = strict_schema_error(sub, (*context, "properties", name))
                    if why is not None:
                        return why
    items = schema.get("items")
    if isinstance(items, Mapping):
        return strict_schema_error(items, (*context, "items"))
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        for name, sub in (defs or {}).items() if isinstance(defs, Mapping) else ():
            if isinstance(sub, Mapping):
                why = strict_schema_error(sub, (*context, key, name))
                if why is not None:
                    return why
    return None


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(text)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
