"""Gemini Developer API (``generativelanguage.googleapis.com``).

Wire format (``docs/providers.md`` section 3): ``models/{model}:generateContent``,
``models/{model}:streamGenerateContent?alt=sse`` (``data:`` events, each a whole
``GenerateContentResponse``; no event names, no end marker: the stream just ends) and
``models/{model}:batchEmbedContents``. The key goes in the ``x-goog-api-key`` header, never
in the URL. Usage of a stream is the *last* chunk's ``usageMetadata`` (earlier chunks carry
partial counts). A failed stream may end with a bare, multi-line JSON error object without
``data:`` (docs/design.md): it becomes its typed error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import ContentFilterError, ProtocolError
from ..types import (
    FEATURE_PARAMS,
    OPTIONAL_PARAMS,
    EmbeddingResult,
    EmbedRequest,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    ImagePart,
    Message,
    NamedToolChoice,
    ProviderTurn,
    StreamEvent,
    ToolCall,
    TurnEvent,
    Usage,
)
from .base import AdapterSettings
from .errormap import error_from_detail, extract_error, success_body
from .features import THINKING_BUDGETS, check_structured_output, gemini_json_schema, ignored
from .http import HttpAdapter, ResponseMeta, StreamContext
from .wire.decoders import SSEStreamDecoder, parse_tool_arguments
from .wire.fields import merge_extra, opt_int, opt_str, tool_function
from .wire.sse import ServerSentEvent

__all__ = [
    "DIALECT",
    "GeminiAdapter",
    "GeminiStreamDecoder",
    "build_generate_body",
    "gemini_finish_reason",
    "gemini_usage",
    "parse_batch_embed_response",
    "parse_generate_response",
]

#: the :class:`~hafs_actors.types.ProviderTurn` dialect of ``generateContent`` parts
DIALECT = "gemini"

_FINISH = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
    "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "IMAGE_RECITATION": FinishReason.CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
    "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
    "TOO_MANY_TOOL_CALLS": FinishReason.ERROR,
}


def gemini_finish_reason(raw: str | None, *, tool_calls: bool = False) -> FinishReason:
    """Normalized finish; ``STOP`` with function calls is ``tool_calls`` (as OpenAI says)."""
    if raw is None:
        return FinishReason.OTHER
    reason = _FINISH.get(raw, FinishReason.OTHER)
    if reason is FinishReason.STOP and tool_calls:
        return FinishReason.TOOL_CALLS
    return reason


def gemini_usage(payload: Any) -> Usage | None:
    """``usageMetadata``; ``promptTokenCount`` already includes ``cachedContentTokenCount``."""
    if not isinstance(payload, dict):
        return None
    return Usage(
        input_tokens=opt_int(payload.get("promptTokenCount")),
        output_tokens=opt_int(payload.get("candidatesTokenCount")),
        total_tokens=opt_int(payload.get("totalTokenCount")),
        reasoning_tokens=opt_int(payload.get("thoughtsTokenCount")),
        cache_read_tokens=opt_int(payload.get("cachedContentTokenCount")),
    )


_MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
}


def _user_parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ImagePart):
            inline = part.inline
            if inline is not None:
                parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            else:
                # fileData needs a MIME type: the URL's suffix tells it, JPEG otherwise
                suffix = "." + urlsplit(part.url).path.rpartition(".")[2].lower()
                mime = _MIME_BY_SUFFIX.get(suffix, "image/jpeg")
                parts.append({"fileData": {"mimeType": mime, "fileUri": part.url}})
        else:
            parts.append({"text": part.text})
    return parts or [{"text": ""}]


def _tool_config(request: GenerateRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if isinstance(choice, NamedToolChoice):
        config: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    else:
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}
    return {"functionCallingConfig": config}


def _thinking(request: GenerateRequest, model: str) -> dict[str, Any] | None:
    """``thinkingConfig``: Gemini 3 takes a level, 2.5 a token budget."""
    effort = request.reasoning_effort
    if effort is None:
        return None
    if _model_name(model).startswith("gemini-3"):
        return {"thinkingLevel": effort, "includeThoughts": True}
    return {"thinkingBudget": THINKING_BUDGETS[effort], "includeThoughts": True}


def _model_name(model: str) -> str:
    return model[len("models/") :] if model.startswith("models/") else model


def build_generate_body(request: GenerateRequest, model: str) -> dict[str, Any]:
    """The ``generateContent`` body: ``contents`` (assistant is ``model``; one that came from
    Gemini is replayed with its thought signatures), tool results as ``functionResponse``
    parts, images as ``inlineData``/``fileData``, system turns in ``systemInstruction``,
    options, structured output and thinking in ``generationConfig``
    (``extra["generationConfig"]`` is merged into it), ``tool_choice`` in ``toolConfig``."""
    system: list[str] = [request.system_prompt] if request.system_prompt else []
    contents: list[dict[str, Any]] = []
    names_by_id: dict[str, str] = {}
    for m in request.all_messages():
        if m.role == "system":
            system.append(m.text)
        elif m.role == "tool":
            name = m.name or names_by_id.get(m.tool_call_id or "", "")
            response: dict[str, Any] = {"name": name, "response": {"content": m.text}}
            if m.tool_call_id:
                response["id"] = m.tool_call_id
            contents.append({"role": "user", "parts": [{"functionResponse": response}]})
        elif m.role == "assistant":
            for call in m.tool_calls:
                names_by_id[call.id] = call.name
            if m.native is not None and m.native.dialect == DIALECT:
                contents.append({"role": "model", "parts": [dict(p) for p in m.native.blocks]})
                continue
            parts: list[dict[str, Any]] = [{"text": m.text}] if m.text else []
            parts.extend(
                {"functionCall": {"name": c.name, "args": c.arguments}} for c in m.tool_calls
            )
            contents.append({"role": "model", "parts": parts or [{"text": ""}]})
        else:
            contents.append({"role": "user", "parts": _user_parts(m)})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.seed is not None:
        config["seed"] = request.seed
    if request.presence_penalty is not None:
        config["presencePenalty"] = request.presence_penalty
    if request.frequency_penalty is not None:
        config["frequencyPenalty"] = request.frequency_penalty
    fmt = request.response_format
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        if fmt.schema is not None:
            config["responseJsonSchema"] = gemini_json_schema(fmt.schema)
    thinking = _thinking(request, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if config:
        body["generationConfig"] = config
    if request.tools:
        declarations = []
        native = []
        for tool in request.tools:
            function = tool_function(tool)
            if function is None:
                native.append(dict(tool))
            else:
                declarations.append(function)
        body["tools"] = ([{"functionDeclarations": declarations}] if declarations else []) + native
    tool_config = _tool_config(request)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    merge_extra(body, request.extra, nested="generationConfig")
    return body


def _candidate(payload: dict[str, Any]) -> dict[str, Any] | None:
    candidates = payload.get("candidates")
    if not candidates:
        return None
    if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
        raise ValueError("candidates is not a list of objects")
    first: dict[str, Any] = candidates[0]
    return first


def _block_reason(payload: dict[str, Any]) -> str | None:
    feedback = payload.get("promptFeedback")
    if isinstance(feedback, dict):
        return opt_str(feedback.get("blockReason"))
    return None


def _parts(candidate: dict[str, Any]) -> list[Any]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if parts is None:
        return []
    if not isinstance(parts, list):
        raise ValueError("content.parts is not a list")
    return parts


def parse_generate_response(
    payload: Any, *, provider: str, model: str, meta: ResponseMeta | None = None
) -> GenerateResult:
    """A ``GenerateContentResponse`` as a :class:`GenerateResult` (or its typed error)."""
    request_id = meta.request_id if meta else None
    payload = success_body(
        payload, what="response", provider=provider, model=model, request_id=request_id
    )
    request_id = request_id or opt_str(payload.get("responseId"))
    blocked = _block_reason(payload)
    if blocked:
        raise ContentFilterError(
            f"prompt blocked ({blocked})", provider=provider, model=model, request_id=request_id
        )
    try:
        candidate = _candidate(payload)
        parts = _parts(candidate) if candidate is not None else []
    except ValueError as exc:
        raise ProtocolError(str(exc), provider=provider, model=model) from None
    if candidate is None:
        raise ProtocolError(
            "response has no candidates", provider=provider, model=model, request_id=request_id
        )
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    signed = False
    for index, part in enumerate(parts):
        if not isinstance(part, dict):
            raise ProtocolError(f"parts[{index}] is not an object", provider=provider, model=model)
        signed = signed or "thoughtSignature" in part
        if isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            calls.append(_function_call(call, len(calls), provider=provider, model=model))
    raw = opt_str(candidate.get("finishReason"))
    finish = gemini_finish_reason(raw, tool_calls=bool(calls))
    content = "".join(text)
    if finish is FinishReason.CONTENT_FILTER and not content and not calls:
        raise ContentFilterError(
            f"response blocked ({raw})", provider=provider, model=model, request_id=request_id
        )
    return GenerateResult(
        content=content,
        provider=provider,
        model=opt_str(payload.get("modelVersion")) or model,
        finish_reason=finish,
        raw_finish_reason=raw,
        usage=gemini_usage(payload.get("usageMetadata")) or Usage(),
        thought_content="".join(thoughts) if thoughts else None,
        tool_calls=tuple(calls),
        latency=meta.latency if meta else 0.0,
        request_id=request_id,
        rate_limit=meta.rate_limit if meta else None,
        native=ProviderTurn(DIALECT, tuple(parts)) if signed else None,
    )


def _function_call(call: dict[str, Any], index: int, *, provider: str, model: str) -> ToolCall:
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError("functionCall has no name", provider=provider, model=model)
    return ToolCall(
        id=opt_str(call.get("id")) or f"call_{index}",
        name=name,
        arguments=parse_tool_arguments(call.get("args"), provider=provider, model=model, name=name),
    )


def parse_batch_embed_response(payload: Any, *, provider: str, model: str) -> list[list[float]]:
    """``batchEmbedContents``: ``{"embeddings": [{"values": [...]}, ...]}`` in request order."""
    embeddings = payload.get("embeddings") if isinstance(payload, dict) else None
    if not isinstance(embeddings, list):
        detail = extract_error(payload)
        if detail is not None:
            raise error_from_detail(detail, provider=provider, model=model, status=None)
        raise ProtocolError(
            "batchEmbedContents response has no embeddings list", provider=provider, model=model
        )
    vectors = []
    for index, item in enumerate(embeddings):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in values
        ):
            raise ProtocolError(
                f"embeddings[{index}].values is not a list of numbers",
                provider=provider,
                model=model,
            )
        vectors.append(values)
    return vectors


class GeminiStreamDecoder(SSEStreamDecoder):
    """``alt=sse`` chunks to stream events. The stream has no end marker: it is complete when
    the body ends after a chunk with a ``finishReason``; the final usage and finish events are
    emitted then (so a trailing error object still fails the stream).

    A ``functionCall`` part arrives whole: one ``ToolCallDelta`` with all its arguments, then
    its ``ToolCallEvent``. The parts are kept (adjacent text joined) so a turn with thought
    signatures ends with a ``TurnEvent`` to replay them."""

    def __init__(self, *, provider: str, model: str, request_id: str | None = None) -> None:
        super().__init__(provider=provider, model=model, request_id=request_id)
        self._raw_finish: str | None = None
        self._calls = 0
        self._parts: list[dict[str, Any]] = []
        self._signed = False

    def _keep(self, part: dict[str, Any]) -> None:
        """Keep a part for the replay: text continues the previous text part of the same kind
        until a signature closes it."""
        self._signed = self._signed or "thoughtSignature" in part
        last = self._parts[-1] if self._parts else None
        if (
            last is not None
            and isinstance(part.get("text"), str)
            and set(part) <= {"text", "thought", "thoughtSignature"}
            and isinstance(last.get("text"), str)
            and set(last) <= {"text", "thought"}
            and bool(last.get("thought")) == bool(part.get("thought"))
        ):
            last["text"] += part["text"]
            if "thoughtSignature" in part:
                last["thoughtSignature"] = part["thoughtSignature"]
        else:
            self._parts.append(dict(part))

    def on_event(self, event: ServerSentEvent, out: list[StreamEvent]) -> None:
        data = event.data
        if not data:
            return
        chunk = self.load(data)
        if isinstance(chunk, list) and len(chunk) == 1:
            chunk = chunk[0]
        if not isinstance(chunk, dict):
            raise self.protocol_error(f"stream chunk is not a JSON object: {data[:200]!r}")
        if "error" in chunk:
            error = self.payload_error(chunk)
            if error is not None:
                raise error
        if self.response_model is None:
            self.response_model = opt_str(chunk.get("modelVersion"))
            self.response_id = opt_str(chunk.get("responseId"))
        usage = chunk.get("usageMetadata")
        if usage is not None:
            self.usage = gemini_usage(usage)
        blocked = _block_reason(chunk)
        if blocked:
            raise self.fail(
                ContentFilterError(
                    f"prompt blocked ({blocked})", provider=self.provider, model=self.model
                )
            )
        try:
            candidate = _candidate(chunk)
            parts = _parts(candidate) if candidate is not None else []
        except ValueError as exc:
            raise self.protocol_error(str(exc)) from None
        if candidate is None:
            return
        for part in parts:
            if not isinstance(part, dict):
                raise self.protocol_error("content part is not an object")
            self._keep(part)
            text = part.get("text")
            if text and isinstance(text, str):
                out.append(self.thought(text) if part.get("thought") else self.text(text))
            call = part.get("functionCall")
            if isinstance(call, dict):
                name = call.get("name")
                if not isinstance(name, str) or not name:
                    raise self.protocol_error("functionCall has no name")
                index, self._calls = self._calls, self._calls + 1
                call_id = opt_str(call.get("id")) or f"call_{index}"
                args = call.get("args")
                call_event = self.tool_call(call_id, name, args)
                out.append(self.tool_delta(index, call_id, name, json.dumps(args or {})))
                out.append(call_event)
        raw = candidate.get("finishReason")
        if raw:
            self._raw_finish = str(raw)

    def on_eof(self, out: list[StreamEvent]) -> None:
        raw = self._raw_finish
        if raw is None:
            raise self.cut_error()
        reason = gemini_finish_reason(raw, tool_calls=self._calls > 0)
        if self._signed:
            out.append(TurnEvent(ProviderTurn(DIALECT, tuple(self._parts))))
        self.finish(out, reason, raw)


class GeminiAdapter(HttpAdapter):
    """Gemini Developer API. The base URL may include the API version (``.../v1beta``); without
    one, ``v1beta`` is appended (as python-genai does)."""

    embed_batch_limit = 100
    #: the sampling parameters and features the API defines (no switch for parallel calls)
    supported_params = frozenset(OPTIONAL_PARAMS + FEATURE_PARAMS) - {"parallel_tool_calls"}
    health_path = "models?pageSize=1"

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        provider: str = "gemini",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings, provider=provider, http_client=http_client, transport=transport)

    def normalize_base_url(self, url: str) -> str:
        url = super().normalize_base_url(url)
        last = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        if not (last.startswith("v") and last[1:2].isdigit()):
            url = f"{url}/v1beta"
        return url

    def auth_headers(self) -> dict[str, str]:
        key = self.settings.api_key
        return {"x-goog-api-key": key} if key else {}

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        model = self.model_for(request.model)
        path = f"models/{_model_name(model)}:generateContent"
        ignored(self.provider, request, why="implicit caching is automatic")
        payload, meta = await self.call_json(
            "POST", path, build_generate_body(request, model), model=model
        )
        result = parse_generate_response(payload, provider=self.provider, model=model, meta=meta)
        return check_structured_output(request, result, provider=self.provider, model=model)

    def stream(self, request: GenerateRequest) -> StreamContext:
        model = self.model_for(request.model)
        path = f"models/{_model_name(model)}:streamGenerateContent?alt=sse"
        ignored(self.provider, request, why="implicit caching is automatic")
        decoder = GeminiStreamDecoder(provider=self.provider, model=model)
        decoder.response_format = request.response_format
        decoder.invalid_output = request.invalid_output
        return self.open_stream(
            path, build_generate_body(request, model), model=model, decoder=decoder
        )

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        async def call(model: str, texts: Sequence[str]) -> tuple[list[list[float]], Usage]:
            name = f"models/{_model_name(model)}"
            entries = []
            for text in texts:
                entry: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
                if request.dimensions is not None:
                    entry["outputDimensionality"] = request.dimensions
                entry.update(request.extra)
                entries.append(entry)
            payload, _ = await self.call_json(
                "POST", f"{name}:batchEmbedContents", {"requests": entries}, model=model
            )
            return parse_batch_embed_response(payload, provider=self.provider, model=model), Usage()

        return await self.embed_in_batches(request, call)
