"""Gemini Developer API (``/v1beta``): generateContent, streamGenerateContent, embeddings, models.

Auth is ``x-goog-api-key`` or ``?key=``, checked as the real service does: no key is a 403
``PERMISSION_DENIED``, a wrong key a 400 ``INVALID_ARGUMENT`` with ErrorInfo reason
``API_KEY_INVALID``. Errors are ``google.rpc.Status`` objects, indented like Google prints them.
``?alt=sse`` streams whole ``GenerateContentResponse`` objects with no event names and no end
marker; only the last one carries ``finishReason`` and the complete usage. Without ``alt=sse``
the stream is a JSON array, as the real endpoint sends it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

from ..caching import Segment
from ..content import Generation, ToolSpec, count_tokens, embedding_vector
from ..profiles import ModelProfile
from ..wire import HttpRequest, Rendered, json_bytes, json_pretty
from ._base import Call, Context, ProviderProtocol, RateLimitSignal, text_of
from ._schema import Fields, Path, Problem, Spec, check_fields

__all__ = ["GeminiProtocol"]

_PATH = re.compile(r"^/(v1beta|v1)/models/([^/:]+):([A-Za-z]+)$")
_MODEL_PATH = re.compile(r"^/(v1beta|v1)/models/([^/:]+)$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGE = "type.googleapis.com/google.ai.generativelanguage.v1beta."


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def proto(**fields: Spec) -> Fields:
    """A message's fields under their JSON (camelCase) and proto (snake_case) names: the API's
    JSON parser accepts both."""
    return Fields({**fields, **{_snake(name): spec for name, spec in fields.items()}})


def _message(name: str, fields: Fields | None = None, required: bool = False) -> Spec:
    return Spec(("object",), required=required, fields=fields, wire_type=_MESSAGE + name)


_FLOAT = Spec(("number", "numeric"), wire_type="TYPE_FLOAT")
_INT32 = Spec(("integer", "integral", "numeric"), wire_type="TYPE_INT32")
_STRING = Spec(("string",), wire_type="TYPE_STRING")
_BOOL = Spec(("boolean",), wire_type="TYPE_BOOL")
_STRINGS = Spec(("array",), items=_STRING, wire_type="TYPE_STRING")
_ANY = Spec(("any",))
_BYTES = Spec(("string",), wire_type="TYPE_BYTES")  # base64, checked by the parser
_STRUCT = _message("Struct")


def _enum(name: str, *values: str) -> Spec:
    """A proto enum: its value names (the JSON parser also takes them in lower case)."""
    return Spec(
        ("string",), choices=values + tuple(v.lower() for v in values), wire_type=_MESSAGE + name
    )


PART_FIELDS = proto(
    text=_STRING,
    inlineData=_message("Blob", proto(mimeType=_STRING, data=_BYTES)),
    fileData=_message("FileData", proto(mimeType=_STRING, fileUri=_STRING)),
    functionCall=_message("FunctionCall", proto(id=_STRING, name=_STRING, args=_STRUCT)),
    functionResponse=_message(
        "FunctionResponse",
        proto(
            id=_STRING,
            name=_STRING,
            response=_STRUCT,
            parts=Spec(("array",)),
            willContinue=_BOOL,
            scheduling=_STRING,
        ),
    ),
    executableCode=_message("ExecutableCode"),
    codeExecutionResult=_message("CodeExecutionResult"),
    thought=_BOOL,
    thoughtSignature=_STRING,
    videoMetadata=_message("VideoMetadata"),
    mediaResolution=_ANY,
    partMetadata=_message("Struct"),
    toolCall=_message("ToolCall"),
    toolResponse=_message("ToolResponse"),
)
CONTENT_FIELDS = proto(
    role=_STRING,
    parts=Spec(("array",), items=_message("Part", PART_FIELDS), wire_type=_MESSAGE + "Part"),
)
GENERATION_CONFIG_FIELDS = proto(
    stopSequences=_STRINGS,
    responseMimeType=_STRING,
    responseSchema=_message("Schema"),
    responseJsonSchema=_ANY,
    responseModalities=Spec(("array",), items=_STRING, wire_type="TYPE_ENUM"),
    candidateCount=_INT32,
    maxOutputTokens=_INT32,
    temperature=_FLOAT,
    topP=_FLOAT,
    topK=_INT32,
    seed=_INT32,
    presencePenalty=_FLOAT,
    frequencyPenalty=_FLOAT,
    responseLogprobs=_BOOL,
    logprobs=_INT32,
    enableEnhancedCivicAnswers=_BOOL,
    speechConfig=_message("SpeechConfig"),
    thinkingConfig=_message(
        "ThinkingConfig",
        proto(
            includeThoughts=_BOOL,
            thinkingBudget=_INT32,
            thinkingLevel=_enum(
                "ThinkingConfig.ThinkingLevel",
                "THINKING_LEVEL_UNSPECIFIED",
                "MINIMAL",
                "LOW",
                "MEDIUM",
                "HIGH",
            ),
        ),
    ),
    imageConfig=_message("ImageConfig"),
    mediaResolution=_STRING,
)
FUNCTION_FIELDS = proto(
    name=_STRING,
    description=_STRING,
    parameters=_message("Schema"),
    parametersJsonSchema=_ANY,
    response=_message("Schema"),
    responseJsonSchema=_ANY,
    behavior=_STRING,
)
TOOL_FIELDS = proto(
    functionDeclarations=Spec(
        ("array",),
        items=_message("FunctionDeclaration", FUNCTION_FIELDS),
        wire_type=_MESSAGE + "FunctionDeclaration",
    ),
    googleSearchRetrieval=_message("GoogleSearchRetrieval"),
    codeExecution=_message("CodeExecution"),
    googleSearch=_message("GoogleSearch"),
    computerUse=_message("ComputerUse"),
    urlContext=_message("UrlContext"),
    fileSearch=_message("FileSearch"),
    googleMaps=_message("GoogleMaps"),
)
_MIME_TYPES = (
    "text/plain",
    "application/json",
    "application/xml",
    "application/yaml",
    "text/x.enum",
)
# Implicit caching: prompts from 1024 tokens.
CACHE_MINIMUM = 1024
_SIGNATURES = "https://ai.google.dev/gemini-api/docs/thought-signatures"
# GenerateContentRequest, as google-genai builds it for the Developer API.
GENERATE_FIELDS = proto(
    model=_STRING,
    contents=Spec(("array", "object"), wire_type=_MESSAGE + "Content"),  # checked one by one
    systemInstruction=_message("Content", CONTENT_FIELDS),
    generationConfig=_message("GenerationConfig", GENERATION_CONFIG_FIELDS),
    tools=Spec(("array",), items=_message("Tool", TOOL_FIELDS), wire_type=_MESSAGE + "Tool"),
    toolConfig=_message(
        "ToolConfig",
        proto(
            functionCallingConfig=_message(
                "FunctionCallingConfig",
                proto(
                    mode=_enum(
                        "FunctionCallingConfig.Mode",
                        "MODE_UNSPECIFIED",
                        "AUTO",
                        "ANY",
                        "NONE",
                        "VALIDATED",
                    ),
                    allowedFunctionNames=_STRINGS,
                ),
            ),
            retrievalConfig=_message("RetrievalConfig"),
        ),
    ),
    safetySettings=Spec(("array",), items=_message("SafetySetting")),
    cachedContent=_STRING,
    serviceTier=_STRING,
    store=_BOOL,
    labels=_message("Struct"),
)
EMBED_FIELDS = proto(
    model=_STRING,
    content=_message("Content", CONTENT_FIELDS),
    taskType=_STRING,
    title=_STRING,
    outputDimensionality=_INT32,
)
BATCH_EMBED_FIELDS = proto(
    requests=Spec(("array",), items=_message("EmbedContentRequest", EMBED_FIELDS)),
)
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_SSE_HEADERS = (("content-type", "text/event-stream"),)
_JSON_HEADERS = (("content-type", "application/json; charset=UTF-8"),)


def proto_path(path: Path) -> str:
    """``contents[0].parts[1]``, with proto (snake_case) names, as Google's errors name fields."""
    out = ""
    for part in path:
        out += (
            f"[{part}]" if isinstance(part, int) else (f".{_snake(part)}" if out else _snake(part))
        )
    return out


def rpc_status(status: int) -> str:
    return _STATUS.get(status, "UNKNOWN" if status >= 500 else "FAILED_PRECONDITION")


def retry_delay(seconds: float, fmt: str) -> str:
    """A protobuf Duration string (``"12s"``, or ``"1.500s"`` for fractional formats)."""
    if fmt == "seconds":
        return f"{math.ceil(seconds)}s"
    return f"{seconds:.3f}s"


def _member(message: Any, name: str) -> Any:
    """A member by its JSON (camelCase) or proto (snake_case) name."""
    if not isinstance(message, Mapping):
        return None
    value = message.get(name)
    return message.get(_snake(name)) if value is None else value


def _bytes(text: object) -> bytes | None:
    """Proto JSON ``bytes``: standard or URL-safe base64, padding optional (None: not base64).
    SDKs re-encode the signatures they replay, so signatures compare as bytes."""
    if not isinstance(text, str):
        return None
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


class GeminiProtocol(ProviderProtocol):
    provider: ClassVar[str] = "gemini"
    request_id_header: ClassVar[str | None] = None
    meters_per_model: ClassVar[bool] = True
    stream_error_status: ClassVar[int] = 503

    def route(self, request: HttpRequest, now: float) -> Call:
        method, path = request.method, request.path
        match = _PATH.match(path)
        if match is not None and method == "POST":
            version, model, action = match.groups()
            if action == "generateContent":
                return self.generate_content(request, version, model, stream=False)
            if action == "streamGenerateContent":
                return self.generate_content(request, version, model, stream=True)
            if action == "embedContent":
                return self.embed(request, version, model, batch=False)
            if action == "batchEmbedContents":
                return self.embed(request, version, model, batch=True)
            if action == "countTokens":
                return self.count_tokens(request, version, model)
        if method == "GET" and re.match(r"^/(v1beta|v1)/models$", path):
            return self.list_models(request)
        model_match = _MODEL_PATH.match(path)
        if method == "GET" and model_match is not None:
            return self.get_model(request, model_match.group(2))
        return Call(
            endpoint="unknown",
            category="other",
            error=self.error(404, f"The requested URL {path} was not found on this server."),
        )

    # --- auth -----------------------------------------------------------------------------

    def authenticate(self, request: HttpRequest, endpoint: str, category: str) -> str:
        key = request.headers.get("x-goog-api-key") or request.query_param("key")
        if self.settings.require_auth:
            if not key:
                self.fail(
                    endpoint,
                    category,
                    self.error(
                        403,
                        "Method doesn't allow unregistered callers (callers without established "
                        "identity). Please use API Key or other form of API consumer identity to "
                        "call this API.",
                    ),
                )
            if key != self.settings.api_key:
                self.fail(endpoint, category, self.invalid_key())
        return self.key_id(key)

    def invalid_key(self) -> Rendered:
        return self.error(
            400,
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                },
            ],
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
        details: list[dict[str, Any]] | None = None,
    ) -> Rendered:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": error_type or rpc_status(status),
        }
        if details:
            error["details"] = details
        return Rendered(status, _JSON_HEADERS + headers, (json_pretty({"error": error}) + b"\n",))

    def missing_model(self) -> Rendered:
        return self.error(400, "* model: model is not specified\n")

    def model_not_found(self, name: str) -> Rendered:
        return self.error(
            404,
            f"models/{name} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods.",
        )

    def bad_json(self, detail: str) -> Rendered:
        return self.error(400, f"Invalid JSON payload received. {detail}")

    def context_exceeded(self, profile: ModelProfile, tokens: int, endpoint: str) -> Rendered:
        return self.error(
            400,
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({profile.context_window}).",
        )

    def rate_limited(self, signal: RateLimitSignal) -> Rendered:
        delay = retry_delay(signal.retry_after, signal.retry_after_format)
        message = signal.message or (
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits. "
            f"Please retry in {signal.retry_after:g}s."
        )
        metric = "input_token_count" if signal.by_tokens else "requests"
        limit = signal.tokens_limit if signal.by_tokens else signal.requests_limit
        violation: dict[str, Any] = {
            "quotaMetric": f"generativelanguage.googleapis.com/generate_content_{metric}",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
            "quotaDimensions": {"location": "global", "model": signal.model or "unknown"},
        }
        if limit is not None:
            violation["quotaValue"] = str(limit)
        details: list[dict[str, Any]] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ]
        return self.error(429, message, details=details)

    def default_message(self, status: int) -> str:
        if status == 503:
            return "The model is overloaded. Please try again later."
        if status == 500:
            return "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
        return super().default_message(status)

    def stream_error_event(self, status: int, message: str, error_type: str | None) -> bytes:
        error = {"code": status, "message": message, "status": error_type or rpc_status(status)}
        # Bare, indented JSON without "data:", exactly as the recorded mid-stream error shows.
        return json_pretty({"error": error}) + b"\n"

    def malformed_event(self) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": "br\n\n'

    # --- request validation -----------------------------------------------------------------

    def check(self, fields: Fields, body: dict[str, Any], ep: str, cat: str) -> None:
        problem = check_fields(fields, body)
        if problem is not None:
            self.fail(ep, cat, self.invalid(problem))

    def check_generate(self, body: dict[str, Any], ep: str, cat: str, model: str) -> None:
        """The request schema, then each content (its fields, a role of user or model, base64
        data, replayed thought signatures), the response format, thinking and tool config."""
        self.check(GENERATE_FIELDS, body, ep, cat)
        contents = body.get("contents")
        for index, content in enumerate(contents if isinstance(contents, list) else [contents]):
            if not isinstance(content, Mapping):
                continue  # read_contents reports it
            problem = check_fields(CONTENT_FIELDS, content, ("contents", index))
            if problem is None:
                problem = self.check_parts(content.get("parts") or (), ("contents", index))
            if problem is not None:
                self.fail(ep, cat, self.invalid(problem))
            if content.get("role", "user") not in ("user", "model"):
                self.bad_request(ep, cat, "Please use a valid role: user, model.")
        if isinstance(contents, list):
            self.check_signatures(contents, model, ep, cat)
        config = _member(body, "generationConfig")
        if config is not None:
            self.check_config(config, model, ep, cat)
        calling = _member(_member(body, "toolConfig") or {}, "functionCallingConfig")
        if calling is not None:
            allowed = _member(calling, "allowedFunctionNames")
            mode = str(_member(calling, "mode") or "AUTO").upper()
            if allowed and mode not in ("ANY", "VALIDATED"):
                self.bad_request(
                    ep,
                    cat,
                    "* GenerateContentRequest.tool_config.function_calling_config"
                    ".allowed_function_names: allowed_function_names can only be set when mode "
                    "is ANY or VALIDATED.\n",
                )

    def check_parts(self, parts: Any, path: Path) -> Problem | None:
        """``inlineData`` is a base64 ``data`` with its ``mimeType``; ``fileData`` a URI with
        one."""
        for position, part in enumerate(parts):
            for name, required in (("inlineData", "data"), ("fileData", "fileUri")):
                blob = _member(part, name)
                if blob is None:
                    continue
                where = (*path, "parts", position, name)
                for field in ("mimeType", required):
                    if not _member(blob, field):
                        return Problem("missing", (*where, field), _STRING, None)
                data = _member(blob, "data")
                if name == "inlineData" and _bytes(data) is None:
                    return Problem("value", (*where, "data"), _BYTES, data)
        return None

    def check_signatures(self, contents: list[Any], model: str, ep: str, cat: str) -> None:
        """A replayed ``functionCall`` part keeps the ``thoughtSignature`` this emulator gave
        it; Gemini 3 also requires one on the first call of each model turn in the current
        turn (after the last user text)."""
        current = 0
        for index, content in enumerate(contents):
            parts = content.get("parts") or ()
            if content.get("role", "user") == "user" and any(_member(p, "text") for p in parts):
                current = index
        for index, content in enumerate(contents):
            if content.get("role") != "model":
                continue
            first = True
            for part in content.get("parts") or ():
                call = _member(part, "functionCall")
                if call is None:
                    continue
                signature = _member(part, "thoughtSignature")
                if signature is None:
                    if first and index > current and model.startswith("gemini-3"):
                        self.bad_request(
                            ep,
                            cat,
                            "Function call is missing a thought_signature in functionCall "
                            "parts. This is required for tools to work correctly, and missing "
                            "thought_signature may lead to degraded model performance. "
                            f"Additional data, function call `default_api:{call.get('name')}` "
                            f", position {index + 1}. Please refer to {_SIGNATURES} for more "
                            "details.",
                        )
                elif _bytes(signature) != _bytes(
                    self.sign("functionCall", call.get("name"), call.get("args"))
                ):
                    self.bad_request(ep, cat, "Corrupted thought signature.")
                first = False

    def check_config(self, config: Mapping[str, Any], model: str, ep: str, cat: str) -> None:
        mime = _member(config, "responseMimeType")
        field = "* GenerateContentRequest.generation_config"
        if mime is not None and mime not in _MIME_TYPES:
            self.bad_request(
                ep,
                cat,
                f"{field}.response_mime_type: allowed mimetypes are `text/plain`, "
                "`application/json`, `application/xml`, `application/yaml` and `text/x.enum`.\n",
            )
        has_schema = _member(config, "responseSchema") is not None
        has_json_schema = _member(config, "responseJsonSchema") is not None
        if has_schema and has_json_schema:
            self.bad_request(
                ep,
                cat,
                f"{field}.response_json_schema: response_json_schema and response_schema "
                "cannot both be set.\n",
            )
        if (has_schema or has_json_schema) and mime not in ("application/json", "text/x.enum"):
            self.bad_request(
                ep,
                cat,
                f"{field}.response_mime_type: response_mime_type must be application/json or "
                "text/x.enum when a response schema is set.\n",
            )
        thinking = _member(config, "thinkingConfig")
        if thinking is None:
            return
        budget = _member(thinking, "thinkingBudget")
        level = _member(thinking, "thinkingLevel")
        if budget is not None and level is not None:
            self.bad_request(
                ep, cat, "You can only set only one of thinking budget and thinking level."
            )
        if level is not None and not model.startswith("gemini-3"):
            self.bad_request(ep, cat, "Thinking level is not supported for this model.")
        if budget is not None and int(float(budget)) == 0 and "pro" in model:
            self.bad_request(
                ep, cat, "Budget 0 is invalid. This model only works in thinking mode."
            )

    def invalid(self, problem: Problem) -> Rendered:
        """Google's JSON-parser wording, with the field in a BadRequest detail."""
        kind, path, spec, value = problem
        field = proto_path(path)
        if kind == "unknown":
            where = proto_path(path[:-1])
            at = f" at '{where}'" if where else ""
            message = (
                f'Invalid JSON payload received. Unknown name "{path[-1]}"{at}: Cannot find field.'
            )
            field = where
        elif kind == "missing":
            message = f"* {field}: {_snake(str(path[-1]))} is not specified\n"
        else:
            assert spec is not None
            shown = json.dumps(value, ensure_ascii=False)
            if spec is _BYTES:
                shown = f"Base64 decoding failed for {shown}"
            message = f"Invalid value at '{field}' ({spec.wire_type or 'TYPE_STRING'}), {shown}"
        violation = {"field": field, "description": message}
        details = [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        ]
        return self.error(400, message, details=details)

    # --- generation -----------------------------------------------------------------------

    def read_contents(
        self, body: Mapping[str, Any], ep: str, cat: str
    ) -> tuple[str, str, bool, list[ToolSpec], str | bool | None]:
        contents = body.get("contents")
        if contents is None:
            self.bad_request(
                ep, cat, "* GenerateContentRequest.contents: contents is not specified\n"
            )
        if isinstance(contents, Mapping):
            contents = [contents]
        if not isinstance(contents, list) or not contents:
            self.bad_request(
                ep, cat, "* GenerateContentRequest.contents: contents is not specified\n"
            )
        texts: list[str] = []
        system = body.get("systemInstruction", body.get("system_instruction"))
        if isinstance(system, Mapping):
            texts.append(text_of(system.get("parts")))
        last_user = ""
        tool_results = False
        for index, content in enumerate(contents):
            parts = content.get("parts") if isinstance(content, Mapping) else None
            if not isinstance(parts, list):
                self.bad_request(
                    ep,
                    cat,
                    f"* GenerateContentRequest.contents[{index}].parts: "
                    "contents.parts must not be empty.\n",
                )
            assert isinstance(content, Mapping)
            text = text_of(parts)
            texts.append(text)
            role = content.get("role", "user")  # check_generate admitted only user and model
            if role == "user":
                if any(_member(p, "functionResponse") is not None for p in parts):
                    tool_results = True
                elif text:
                    last_user, tool_results = text, False
        tools: list[ToolSpec] = []
        raw_tools = body.get("tools")
        if isinstance(raw_tools, list):
            for tool in raw_tools:
                for decl in _member(tool, "functionDeclarations") or ():
                    if isinstance(decl, Mapping) and isinstance(decl.get("name"), str):
                        params = _member(decl, "parametersJsonSchema") or _member(
                            decl, "parameters"
                        )
                        tools.append(
                            ToolSpec(decl["name"], params if isinstance(params, Mapping) else {})
                        )
        choice: str | bool | None = None
        calling = _member(_member(body, "toolConfig"), "functionCallingConfig")
        if calling is not None:
            mode = str(_member(calling, "mode") or "AUTO").upper()
            allowed = _member(calling, "allowedFunctionNames")
            if mode == "ANY":
                if allowed:
                    tools = [tool for tool in tools if tool.name in allowed]
                choice = tools[0].name if len(tools) == 1 else True
            elif mode == "NONE":
                tools = []
        return "\n".join(texts), last_user, tool_results, tools, choice

    def generate_content(
        self, request: HttpRequest, version: str, model: str, stream: bool
    ) -> Call:
        ep = "streamGenerateContent" if stream else "generateContent"
        cat = "generate"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check_generate(body, ep, cat, model)
        prompt, last_user, tool_results, tools, choice = self.read_contents(body, ep, cat)
        profile = self.model_profile(model, "chat", ep, cat)
        config = _member(body, "generationConfig") or {}
        max_tokens = None
        raw = _member(config, "maxOutputTokens")
        if raw is not None:
            raw = int(float(raw))  # the schema admitted 64, 64.0 and "64"
            if raw < 1:
                self.bad_request(
                    ep,
                    cat,
                    "* GenerateContentRequest.generation_config.max_output_tokens: "
                    "must be a positive integer\n",
                )
            max_tokens = raw
        schema = _member(config, "responseJsonSchema") or _member(config, "responseSchema")
        thinking = _member(config, "thinkingConfig")
        budget = _member(thinking, "thinkingBudget")
        thinks = thinking is not None and (budget is None or int(float(budget)) != 0)
        generation = self.generate(
            model=model,
            prompt=prompt,
            last_user_text=last_user,
            max_tokens=max_tokens,
            request_seed=_member(config, "seed"),
            tools=tools,
            tool_choice=choice,
            tool_results_present=tool_results,
            json_reply=_member(config, "responseMimeType") == "application/json",
            json_schema=schema if isinstance(schema, Mapping) else None,
            thinking=thinks,
        )
        self.check_context(profile, generation.input_tokens, ep, cat)
        sse = request.query_param("alt") == "sse"
        system = _member(body, "systemInstruction")
        contents = body["contents"] if isinstance(body["contents"], list) else [body["contents"]]
        segments = [
            Segment.of(json.dumps(c, sort_keys=True), text_of(c.get("parts")))
            for c in ([system] if isinstance(system, Mapping) else []) + contents
            if generation.input_tokens >= CACHE_MINIMUM  # else no prefix is cacheable
        ]
        scope = json.dumps([model, body.get("tools")], sort_keys=True)
        show_thoughts = bool(_member(thinking, "includeThoughts"))
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens + generation.reasoning_tokens,
            key_id=key,
            render=partial(
                self.render_generation,
                model,
                generation,
                stream,
                sse,
                show_thoughts,
                (scope, segments),
            ),
        )

    def usage(
        self, prompt: int, output: int | None, thoughts: int = 0, cached: int = 0
    ) -> dict[str, Any]:
        """``usageMetadata``: the prompt count includes the cached tokens; thoughts are counted
        apart from the candidates but in the total."""
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        if output is not None:
            usage["candidatesTokenCount"] = output
        if cached:
            usage["cachedContentTokenCount"] = cached
        usage["totalTokenCount"] = prompt + (output or 0) + thoughts
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        if cached:
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def call_parts(self, generation: Generation, signed: bool) -> list[dict[str, Any]]:
        """One whole ``functionCall`` part per call; the first carries the thought signature
        when the model thought."""
        parts: list[dict[str, Any]] = []
        for call in generation.tool_calls:
            part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
            if signed and not parts:
                part["thoughtSignature"] = self.sign("functionCall", call.name, call.arguments)
            parts.append(part)
        return parts

    def render_generation(
        self,
        model: str,
        generation: Generation,
        stream: bool,
        sse: bool,
        show_thoughts: bool,
        cache: tuple[str, Sequence[Segment]],
        ctx: Context,
    ) -> Rendered:
        response_id = self.reply_id(model, generation)[:22]
        finish = _FINISH[generation.finish]
        cached = self.cache.implicit(*cache, CACHE_MINIMUM)
        thoughts = generation.reasoning_tokens
        usage = self.usage(generation.input_tokens, generation.output_tokens, thoughts, cached)
        thought_parts = (
            [{"text": generation.thinking_text, "thought": True}]
            if show_thoughts and generation.thinking
            else []
        )
        calls = self.call_parts(generation, bool(generation.thinking))
        if not stream:
            parts = thought_parts + (calls or [{"text": generation.text}])
            body = {
                "candidates": [
                    {
                        "content": {"parts": parts, "role": "model"},
                        "finishReason": finish,
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
            return Rendered(200, _JSON_HEADERS, (json_bytes(body),))
        # Thoughts, then text a token per chunk; the last chunk has the last piece (or the
        # calls), the finish reason and the complete usage.
        streamed: list[tuple[dict[str, Any], int]] = []
        if show_thoughts:
            streamed += [({"text": piece, "thought": True}, 1) for piece in generation.thinking]
        streamed += [({"text": piece}, 1) for piece in generation.pieces[:-1]]
        if calls:
            last_parts: list[dict[str, Any]] = calls
        else:
            last_parts = [{"text": generation.pieces[-1] if generation.pieces else ""}]
        head = b'{"candidates":[{"content":{"parts":['
        tail = (
            b'],"role":"model"},"index":0}],"usageMetadata":'
            + json_bytes(self.usage(generation.input_tokens, None))
            + b',"modelVersion":'
            + json_bytes(model)
            + b',"responseId":'
            + json_bytes(response_id)
            + b"}"
        )
        chunks = [head + json_bytes(part) + tail for part, _ in streamed]
        final = {
            "candidates": [
                {
                    "content": {"parts": last_parts, "role": "model"},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        }
        chunks.append(json_bytes(final))
        tokens = [count for _, count in streamed] + [generation.output_tokens if calls else 1]
        if sse:
            events = tuple(b"data: " + chunk + b"\r\n\r\n" for chunk in chunks)
            return Rendered(200, _SSE_HEADERS, events, streaming=True, tokens=tuple(tokens))
        # Without alt=sse the endpoint streams one JSON array.
        events_list = [b"[" + chunks[0]] + [b",\r\n" + chunk for chunk in chunks[1:]]
        events_list[-1] += b"]"
        return Rendered(
            200, _JSON_HEADERS, tuple(events_list), streaming=True, tokens=tuple(tokens)
        )

    # --- embeddings -----------------------------------------------------------------------

    def content_text(self, content: object, ep: str, where: str) -> str:
        parts = content.get("parts") if isinstance(content, Mapping) else None
        if not isinstance(parts, list) or not parts:
            self.bad_request(ep, "embed", f"* {where}.content: content is not specified\n")
        return text_of(parts)

    def embed(self, request: HttpRequest, version: str, model: str, batch: bool) -> Call:
        ep, cat = ("batchEmbedContents" if batch else "embedContent"), "embed"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check(BATCH_EMBED_FIELDS if batch else EMBED_FIELDS, body, ep, cat)
        entries: list[Mapping[str, Any]]
        if batch:
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                self.bad_request(
                    ep, cat, "* BatchEmbedContentsRequest.requests: requests is not specified\n"
                )
            entries = []
            for index, entry in enumerate(requests):
                if not isinstance(entry, Mapping):
                    self.bad_request(
                        ep,
                        cat,
                        f"* BatchEmbedContentsRequest.requests[{index}]: must be an object\n",
                    )
                entry_model = entry.get("model")
                if entry_model is not None and entry_model not in (model, f"models/{model}"):
                    self.bad_request(
                        ep,
                        cat,
                        f"* BatchEmbedContentsRequest.requests[{index}].model: the model must be "
                        f"models/{model}, as in the URL\n",
                    )
                entries.append(entry)
        else:
            entries = [body]
        profile = self.model_profile(model, "embedding", ep, cat)
        texts = []
        dims = []
        for index, entry in enumerate(entries):
            where = (
                f"BatchEmbedContentsRequest.requests[{index}]" if batch else "EmbedContentRequest"
            )
            texts.append(self.content_text(entry.get("content"), ep, where))
            requested = entry.get("outputDimensionality", entry.get("output_dimensionality"))
            if requested is not None:
                requested = int(float(requested))
            dims.append(self.embedding_dims(profile, requested, ep))
        tokens = sum(max(1, count_tokens(text)) for text in texts)
        for text in texts:
            self.check_context(profile, count_tokens(text), ep, cat)
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            profile=profile,
            input_tokens=tokens,
            key_id=key,
            render=partial(self.render_embeddings, model, texts, dims, batch),
        )

    def render_embeddings(
        self, model: str, texts: list[str], dims: list[int], batch: bool, ctx: Context
    ) -> Rendered:
        seed = self.settings.seed
        vectors = [
            {"values": embedding_vector(text, model, dim, seed)}
            for text, dim in zip(texts, dims, strict=True)
        ]
        body = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
        return Rendered(200, _JSON_HEADERS, (json_bytes(body),))

    def count_tokens(self, request: HttpRequest, version: str, model: str) -> Call:
        ep, cat = "countTokens", "other"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        inner = body.get("generateContentRequest")
        prompt, *_ = self.read_contents(inner if isinstance(inner, Mapping) else body, ep, cat)
        self.model_profile(model, "chat", ep, cat)
        tokens = max(1, count_tokens(prompt))
        rendered = Rendered(
            200,
            _JSON_HEADERS,
            (
                json_bytes(
                    {
                        "totalTokens": tokens,
                        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
                    }
                ),
            ),
        )
        return Call(endpoint=ep, category=cat, model=model, key_id=key, render=lambda ctx: rendered)

    # --- models ---------------------------------------------------------------------------

    def model_object(self, profile: ModelProfile) -> dict[str, Any]:
        methods = (
            ["embedContent", "batchEmbedContents"]
            if profile.kind == "embedding"
            else ["generateContent", "streamGenerateContent", "countTokens"]
        )
        return {
            "name": f"models/{profile.name}",
            "version": "001",
            "displayName": profile.display_name or profile.name,
            "inputTokenLimit": profile.context_window,
            "outputTokenLimit": profile.max_output_tokens,
            "supportedGenerationMethods": methods,
        }

    def list_models(self, request: HttpRequest) -> Call:
        ep, cat = "models", "models"
        key = self.authenticate(request, ep, cat)
        body = {"models": [self.model_object(p) for p in self.settings.models.values()]}
        rendered = Rendered(200, _JSON_HEADERS, (json_bytes(body),))
        return Call(endpoint=ep, category=cat, key_id=key, render=lambda ctx: rendered)

    def get_model(self, request: HttpRequest, name: str) -> Call:
        ep, cat = "models", "models"
        key = self.authenticate(request, ep, cat)
        profile = self.find_model(name)
        if profile is None:
            self.fail(
                ep, cat, self.error(404, f"models/{name} is not found for API version v1beta.")
            )
        rendered = Rendered(200, _JSON_HEADERS, (json_bytes(self.model_object(profile)),))
        return Call(endpoint=ep, category=cat, model=name, key_id=key, render=lambda ctx: rendered)
