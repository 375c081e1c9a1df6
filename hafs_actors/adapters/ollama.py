"""Ollama's native API: ``/api/chat`` and ``/api/embed``, with the older ``/api/generate`` and
``/api/embeddings`` shapes understood too.

Wire format (``docs/providers.md`` section 4): streams are NDJSON, one JSON object per line;
text is ``message.content`` (chat) or ``response`` (generate); the last line has ``done: true``,
``done_reason`` and the counts ``prompt_eval_count``/``eval_count``. Go omits zero counts, so
a done line with one count means the other is 0, and one with neither means usage is unknown.
An error mid-stream is a ``{"error": "..."}`` line with HTTP status 200.

Old servers: a 404 that is not "model not found" means the endpoint does not exist; the adapter
then falls back (``/api/chat`` -> ``/api/generate``, ``/api/embed`` -> ``/api/embeddings``) and
remembers it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from ..errors import NotFoundError, ProtocolError, ProviderError
from ..types import (
    FEATURE_PARAMS,
    OPTIONAL_PARAMS,
    EmbeddingResult,
    EmbedRequest,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    Message,
    StreamEvent,
    ToolCall,
    Usage,
)
from .base import AdapterSettings
from .errormap import error_from_detail, extract_error, success_body
from .features import check_structured_output, ignored
from .http import EventStream, HttpAdapter, ResponseMeta
from .wire.decoders import StreamDecoder, parse_tool_arguments
from .wire.fields import merge_extra, opt_int, opt_str, tool_function
from .wire.ndjson import NDJSONParser

__all__ = [
    "OllamaAdapter",
    "OllamaStreamDecoder",
    "build_chat_body",
    "build_generate_body",
    "ollama_finish_reason",
    "ollama_usage",
    "parse_embed_response",
    "parse_response",
]

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}


def ollama_finish_reason(raw: str | None, *, tool_calls: bool = False) -> FinishReason:
    """``done_reason``; absent on older servers, where ``done: true`` means a normal stop."""
    reason = FinishReason.STOP if raw is None else _FINISH.get(raw, FinishReason.OTHER)
    if reason is FinishReason.STOP and tool_calls:
        return FinishReason.TOOL_CALLS
    return reason


def ollama_usage(payload: dict[str, Any]) -> Usage | None:
    """Counts of a done line (zero counts are omitted by the server; none at all: unknown)."""
    prompt = opt_int(payload.get("prompt_eval_count"))
    output = opt_int(payload.get("eval_count"))
    if prompt is None and output is None:
        return None
    return Usage(input_tokens=prompt or 0, output_tokens=output or 0)


def _options(request: GenerateRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.stop:
        options["stop"] = list(request.stop)
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.seed is not None:
        options["seed"] = request.seed
    if request.presence_penalty is not None:
        options["presence_penalty"] = request.presence_penalty
    if request.frequency_penalty is not None:
        options["frequency_penalty"] = request.frequency_penalty
    return options


def _images(message: Message) -> list[str]:
    """Inline images as the base64 Ollama takes (URLs never reach here: routing skips a
    request with one, or drops them with ``drop_unsupported_params``; none is fetched)."""
    return [inline[1] for image in message.images if (inline := image.inline) is not None]


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.text}
    images = _images(message)
    if images:
        out["images"] = images
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
        ]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    return out


def build_chat_body(request: GenerateRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The ``/api/chat`` body (``extra["options"]`` is merged into ``options``)."""
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.extend(_message(m) for m in request.all_messages())
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    options = _options(request)
    if options:
        body["options"] = options
    if request.tools:
        tools = []
        for tool in request.tools:
            function = tool_function(tool)
            tools.append(
                dict(tool) if function is None else {"type": "function", "function": function}
            )
        body["tools"] = tools
    _features(body, request, model)
    merge_extra(body, request.extra, nested="options")
    return body


def _features(body: dict[str, Any], request: GenerateRequest, model: str) -> None:
    """``format`` (a JSON schema, or ``"json"``) and ``think`` (gpt-oss takes a level, other
    thinking models only on/off)."""
    fmt = request.response_format
    if fmt is not None:
        body["format"] = dict(fmt.schema) if fmt.schema is not None else "json"
    effort = request.reasoning_effort
    if effort is not None:
        body["think"] = effort if model.rsplit("/", 1)[-1].startswith("gpt-oss") else True


def build_generate_body(request: GenerateRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The older ``/api/generate`` body: the conversation flattened into ``prompt``."""
    flat = GenerateRequest(model=model, prompt=request.prompt, messages=request.messages)
    body: dict[str, Any] = {"model": model, "prompt": flat.flattened_prompt(), "stream": stream}
    if request.system_prompt:
        body["system"] = request.system_prompt
    images = [image for m in request.all_messages() for image in _images(m)]
    if images:
        body["images"] = images
    options = _options(request)
    if options:
        body["options"] = options
    _features(body, request, model)
    merge_extra(body, request.extra, nested="options")
    return body


def _tool_calls(raw: Any, *, provider: str, model: str, start: int = 0) -> list[ToolCall]:
    if not isinstance(raw, list):
        return []
    calls = []
    for offset, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(name := function.get("name"), str):
            raise ProtocolError(
                "tool_calls item has no function name", provider=provider, model=model
            )
        calls.append(
            ToolCall(
                id=opt_str(item.get("id")) or f"call_{start + offset}",
                name=name,
                arguments=parse_tool_arguments(
                    function.get("arguments"), provider=provider, model=model, name=name
                ),
            )
        )
    return calls


def _pieces(payload: dict[str, Any]) -> tuple[str | None, str | None, Any]:
    """(text, thinking, tool_calls) of a chat line or a generate line."""
    message = payload.get("message")
    if isinstance(message, dict):
        return (
            message.get("content"),
            message.get("thinking"),
            message.get("tool_calls"),
        )
    return payload.get("response"), payload.get("thinking"), None


def parse_response(
    payload: Any, *, provider: str, model: str, meta: ResponseMeta | None = None
) -> GenerateResult:
    """A non-streamed ``/api/chat`` or ``/api/generate`` body as a :class:`GenerateResult`."""
    request_id = meta.request_id if meta else None
    payload = success_body(
        payload, what="response", provider=provider, model=model, request_id=request_id
    )
    text, thinking, raw_calls = _pieces(payload)
    if text is not None and not isinstance(text, str):
        raise ProtocolError("response text is not a string", provider=provider, model=model)
    if text is None and "message" not in payload and "response" not in payload:
        raise ProtocolError(
            "response has neither 'message' nor 'response'", provider=provider, model=model
        )
    calls = _tool_calls(raw_calls, provider=provider, model=model)
    raw = opt_str(payload.get("done_reason"))
    return GenerateResult(
        content=text or "",
        provider=provider,
        model=opt_str(payload.get("model")) or model,
        finish_reason=ollama_finish_reason(raw, tool_calls=bool(calls)),
        raw_finish_reason=raw,
        usage=ollama_usage(payload) or Usage(),
        thought_content=opt_str(thinking),
        tool_calls=tuple(calls),
        latency=meta.latency if meta else 0.0,
        request_id=request_id,
        rate_limit=meta.rate_limit if meta else None,
    )


def parse_embed_response(
    payload: Any, *, provider: str, model: str
) -> tuple[list[list[float]], Usage]:
    """An ``/api/embed`` body (``embeddings``, ``prompt_eval_count``) or a legacy
    ``/api/embeddings`` body (one ``embedding``, no usage)."""
    if isinstance(payload, dict) and "embeddings" in payload:
        raw, count = payload["embeddings"], opt_int(payload.get("prompt_eval_count"))
        usage = Usage(input_tokens=count, total_tokens=count)
    elif isinstance(payload, dict) and "embedding" in payload:
        raw, usage = [payload["embedding"]], Usage()
    else:
        detail = extract_error(payload)
        if detail is not None:
            raise error_from_detail(detail, provider=provider, model=model, status=None)
        raise ProtocolError(
            "embed response has neither 'embeddings' nor 'embedding'",
            provider=provider,
            model=model,
        )
    if not isinstance(raw, list) or not all(
        isinstance(v, list)
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        for v in raw
    ):
        raise ProtocolError("embeddings are not lists of numbers", provider=provider, model=model)
    return raw, usage


class OllamaStreamDecoder(StreamDecoder):
    """NDJSON lines (chat or generate shape) to stream events; ends at the ``done`` line."""

    def __init__(self, *, provider: str, model: str, request_id: str | None = None) -> None:
        super().__init__(provider=provider, model=model, request_id=request_id)
        self._lines = NDJSONParser()
        self._calls = 0

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self.finished:
            return []
        out: list[StreamEvent] = []
        try:
            for line in self._lines.feed(data):
                if self._line(line, out):
                    break  # the done line: anything after it is ignored
        except ProviderError:
            self.undelivered = out
            raise
        return out

    def close(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        try:
            if not self.finished:
                for line in self._lines.close():
                    self._line(line, out)
            if not self.finished:
                raise self.cut_error()
        except ProviderError:
            self.undelivered = out
            raise
        return out

    def _line(self, line: bytes, out: list[StreamEvent]) -> bool:
        """Decode one line; True once the stream is finished."""
        try:
            payload = json.loads(line)
        except ValueError:
            raise self.protocol_error(f"malformed JSON line in stream: {line[:200]!r}") from None
        if not isinstance(payload, dict):
            raise self.protocol_error(f"stream line is not a JSON object: {line[:200]!r}")
        if "error" in payload:
            error = self.payload_error(payload)
            if error is not None:
                raise error
        if self.response_model is None:
            self.response_model = opt_str(payload.get("model"))
        text, thinking, raw_calls = _pieces(payload)
        if thinking and isinstance(thinking, str):
            out.append(self.thought(thinking))
        if text:
            if not isinstance(text, str):
                raise self.protocol_error("stream text is not a string")
            out.append(self.text(text))
        if raw_calls:
            try:
                calls = _tool_calls(
                    raw_calls, provider=self.provider, model=self.model, start=self._calls
                )
            except ProtocolError as exc:
                raise self.fail(exc) from None
            for offset, call in enumerate(calls):
                arguments = json.dumps(call.arguments)
                out.append(self.tool_delta(self._calls + offset, call.id, call.name, arguments))
                out.append(self.tool_call(call.id, call.name, call.arguments))
            self._calls += len(calls)
        if payload.get("done") is True:
            self.usage = ollama_usage(payload)
            raw = opt_str(payload.get("done_reason"))
            self.finish(out, ollama_finish_reason(raw, tool_calls=self._calls > 0), raw)
        return self.finished


class OllamaAdapter(HttpAdapter):
    """Ollama's native API (default ``http://localhost:11434``; ``OLLAMA_HOST`` without a
    scheme such as ``127.0.0.1:11434`` is accepted). No key locally; with one (ollama.com) it
    is sent as a bearer token."""

    embed_batch_limit = 256
    #: the sampling parameters and features the API defines: no tool_choice, no switch for
    #: parallel calls, images only inline (base64; the adapter fetches no URL)
    supported_params = frozenset(OPTIONAL_PARAMS + FEATURE_PARAMS) - {
        "tool_choice",
        "parallel_tool_calls",
        "image_urls",
    }
    health_path = "api/version"

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        provider: str = "ollama",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings, provider=provider, http_client=http_client, transport=transport)
        self._legacy_chat = False
        self._legacy_embed = False

    def normalize_base_url(self, url: str) -> str:
        url = super().normalize_base_url(url)
        return url[: -len("/api")] if url.endswith("/api") else url

    @staticmethod
    def _missing_endpoint(error: NotFoundError) -> bool:
        """A 404 for the endpoint itself (old server), not for the model."""
        return "model" not in error.message.lower()

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        model = self.model_for(request.model)
        ignored(self.provider, request, why="the server keeps its own prompt cache")
        if not self._legacy_chat:
            body = build_chat_body(request, model, stream=False)
            try:
                payload, meta = await self.call_json("POST", "api/chat", body, model=model)
            except NotFoundError as exc:
                if not self._missing_endpoint(exc):
                    raise
                self._legacy_chat = True
            else:
                result = parse_response(payload, provider=self.provider, model=model, meta=meta)
                return check_structured_output(request, result, provider=self.provider, model=model)
        body = build_generate_body(request, model, stream=False)
        payload, meta = await self.call_json("POST", "api/generate", body, model=model)
        result = parse_response(payload, provider=self.provider, model=model, meta=meta)
        return check_structured_output(request, result, provider=self.provider, model=model)

    def stream(self, request: GenerateRequest) -> _OllamaStreamContext:
        ignored(self.provider, request, why="the server keeps its own prompt cache")
        return _OllamaStreamContext(self, request, self.model_for(request.model))

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        async def call(model: str, texts: Sequence[str]) -> tuple[list[list[float]], Usage]:
            if not self._legacy_embed:
                body: dict[str, Any] = {"model": model, "input": list(texts)}
                if request.dimensions is not None:
                    body["dimensions"] = request.dimensions
                merge_extra(body, request.extra, nested="options")
                try:
                    payload, _ = await self.call_json("POST", "api/embed", body, model=model)
                except NotFoundError as exc:
                    if not self._missing_endpoint(exc):
                        raise
                    self._legacy_embed = True
                else:
                    return parse_embed_response(payload, provider=self.provider, model=model)
            vectors = []
            for text in texts:
                legacy: dict[str, Any] = {"model": model, "prompt": text}
                merge_extra(legacy, request.extra, nested="options")
                payload, _ = await self.call_json("POST", "api/embeddings", legacy, model=model)
                got, _ = parse_embed_response(payload, provider=self.provider, model=model)
                vectors.extend(got)
            return vectors, Usage()

        return await self.embed_in_batches(request, call)


class _OllamaStreamContext:
    """A stream on ``/api/chat``, or on ``/api/generate`` for servers without it."""

    def __init__(self, adapter: OllamaAdapter, request: GenerateRequest, model: str) -> None:
        self._adapter = adapter
        self._request = request
        self._model = model
        self._inner: Any = None

    async def __aenter__(self) -> EventStream:
        adapter, request, model = self._adapter, self._request, self._model
        if not adapter._legacy_chat:
            inner = adapter.open_stream(
                "api/chat",
                build_chat_body(request, model, stream=True),
                model=model,
                decoder=self._decoder(),
            )
            try:
                events = await inner.__aenter__()
            except NotFoundError as exc:
                if not adapter._missing_endpoint(exc):
                    raise
                adapter._legacy_chat = True
            else:
                self._inner = inner
                return events
        inner = adapter.open_stream(
            "api/generate",
            build_generate_body(request, model, stream=True),
            model=model,
            decoder=self._decoder(),
        )
        events = await inner.__aenter__()
        self._inner = inner
        return events

    def _decoder(self) -> OllamaStreamDecoder:
        decoder = OllamaStreamDecoder(provider=self._adapter.provider, model=self._model)
        decoder.response_format = self._request.response_format
        decoder.invalid_output = self._request.invalid_output
        return decoder

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._inner is not None:
            await self._inner.__aexit__(*exc_info)
