"""Gemini Developer API (``/v1beta``): generateContent, streamGenerateContent, embeddings, models.

Auth is ``x-goog-api-key`` or ``?key=``, checked as the real service does: no key is a 403
``PERMISSION_DENIED``, a wrong key a 400 ``INVALID_ARGUMENT`` with ErrorInfo reason
``API_KEY_INVALID``. Errors are ``google.rpc.Status`` objects, indented like Google prints them.
``?alt=sse`` streams whole ``GenerateContentResponse`` objects with no event names and no end
marker; only the last one carries ``finishReason`` and the complete usage. Without ``alt=sse``
the stream is a JSON array, as the real endpoint sends it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

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
PART_FIELDS = proto(
    text=_STRING,
    inlineData=_message("Blob"),
    fileData=_message("FileData"),
    functionCall=_message("FunctionCall"),
    functionResponse=_message("FunctionResponse"),
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
        proto(includeThoughts=_BOOL, thinkingBudget=_INT32, thinkingLevel=_STRING),
    ),
    imageConfig=_message("ImageConfig"),
    mediaResolution=_STRING,
)
# GenerateContentRequest, as google-genai builds it for the Developer API.
GENERATE_FIELDS = proto(
    model=_STRING,
    contents=Spec(("array", "object"), wire_type=_MESSAGE + "Content"),  # checked one by one
    systemInstruction=_message("Content", CONTENT_FIELDS),
    generationConfig=_message("GenerationConfig", GENERATION_CONFIG_FIELDS),
    tools=Spec(("array",), items=_message("Tool"), wire_type=_MESSAGE + "Tool"),
    toolConfig=_message("ToolConfig"),
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

    def check_generate(self, body: dict[str, Any], ep: str, cat: str) -> None:
        """The request schema, then each content: its fields and a role of user or model."""
        self.check(GENERATE_FIELDS, body, ep, cat)
        contents = body.get("contents")
        for index, content in enumerate(contents if isinstance(contents, list) else [contents]):
            if not isinstance(content, Mapping):
                continue  # read_contents reports it
            problem = check_fields(CONTENT_FIELDS, content, ("contents", index))
            if problem is not None:
                self.fail(ep, cat, self.invalid(problem))
            if content.get("role", "user") not in ("user", "model"):
                self.bad_request(ep, cat, "Please use a valid role: user, model.")

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
            message = f"* {field}: {path[-1]} is not specified\n"
        else:
            assert spec is not None
            shown = json.dumps(value, ensure_ascii=False)
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
                if any(isinstance(p, Mapping) and "functionResponse" in p for p in parts):
                    tool_results = True
                elif text:
                    last_user = text
        tools: list[ToolSpec] = []
        raw_tools = body.get("tools")
        if isinstance(raw_tools, list):
            for tool in raw_tools:
                declarations = (
                    tool.get("functionDeclarations") if isinstance(tool, Mapping) else None
                )
                for decl in declarations or ():
                    if isinstance(decl, Mapping) and isinstance(decl.get("name"), str):
                        params = decl.get("parameters")
                        tools.append(
                            ToolSpec(decl["name"], params if isinstance(params, Mapping) else {})
                        )
        choice: str | bool | None = None
        config = body.get("toolConfig")
        calling = config.get("functionCallingConfig") if isinstance(config, Mapping) else None
        if isinstance(calling, Mapping):
            mode = calling.get("mode")
            allowed = calling.get("allowedFunctionNames")
            if mode == "ANY":
                choice = allowed[0] if isinstance(allowed, list) and len(allowed) == 1 else True
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
        self.check_generate(body, ep, cat)
        prompt, last_user, tool_results, tools, choice = self.read_contents(body, ep, cat)
        profile = self.model_profile(model, "chat", ep, cat)
        config = body.get("generationConfig", body.get("generation_config"))
        max_tokens = None
        seed = None
        if isinstance(config, Mapping):
            raw = config.get("maxOutputTokens", config.get("max_output_tokens"))
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
            seed = config.get("seed")
        generation = self.generate(
            model=model,
            prompt=prompt,
            last_user_text=last_user,
            max_tokens=max_tokens,
            request_seed=seed,
            tools=tools,
            tool_choice=choice,
            tool_results_present=tool_results,
        )
        self.check_context(profile, generation.input_tokens, ep, cat)
        sse = request.query_param("alt") == "sse"
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            key_id=key,
            render=partial(self.render_generation, model, generation, stream, sse),
        )

    def usage(self, prompt: int, output: int | None) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        if output is not None:
            usage["candidatesTokenCount"] = output
        usage["totalTokenCount"] = prompt + (output or 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        return usage

    def render_generation(
        self, model: str, generation: Generation, stream: bool, sse: bool, ctx: Context
    ) -> Rendered:
        response_id = self.reply_id(model, generation)[:22]
        finish = _FINISH[generation.finish]
        call = generation.tool_call
        if call is not None:
            last_parts: list[dict[str, Any]] = [
                {"functionCall": {"name": call.name, "args": call.arguments}}
            ]
            pieces: tuple[str, ...] = ()
        else:
            last_parts = [{"text": generation.pieces[-1] if generation.pieces else ""}]
            pieces = generation.pieces[:-1]
        final = {
            "candidates": [
                {
                    "content": {"parts": last_parts, "role": "model"},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": self.usage(generation.input_tokens, generation.output_tokens),
            "modelVersion": model,
            "responseId": response_id,
        }
        if not stream:
            if call is None:
                final["candidates"][0]["content"]["parts"] = [{"text": generation.text}]  # type: ignore[index]
            return Rendered(200, _JSON_HEADERS, (json_bytes(final),))
        head = b'{"candidates":[{"content":{"parts":[{"text":'
        tail = (
            b'}],"role":"model"},"index":0}],"usageMetadata":'
            + json_bytes(self.usage(generation.input_tokens, None))
            + b',"modelVersion":'
            + json_bytes(model)
            + b',"responseId":'
            + json_bytes(response_id)
            + b"}"
        )
        chunks = [head + json_bytes(piece) + tail for piece in pieces]
        chunks.append(json_bytes(final))
        tokens = [1] * len(pieces) + [1 if call is None else generation.output_tokens]
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
