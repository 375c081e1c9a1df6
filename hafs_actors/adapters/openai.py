"""OpenAI Chat Completions and Embeddings, and every OpenAI-compatible server.

Wire format (docs/providers.md): ``POST chat/completions``
(``stream: true`` switches to SSE with ``data:`` lines only, ending in ``data: [DONE]``) and
``POST embeddings``, relative to a base URL that includes ``/v1``. Usage of a stream comes
from the chunk that carries ``usage`` (OpenAI: the last one, with empty ``choices``, asked for
with ``stream_options.include_usage``; llama.cpp: the finish chunk).
"""

from __future__ import annotations

import base64
import json
import sys
from array import array
from collections.abc import Sequence
from typing import Any

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
    StreamEvent,
    ToolCall,
    Usage,
)
from .base import AdapterSettings
from .errormap import error_from_detail, extract_error, success_body
from .features import check_structured_output, ignored
from .http import HttpAdapter, ResponseMeta, StreamContext
from .wire.decoders import SSEStreamDecoder, parse_tool_arguments
from .wire.fields import merge_extra, opt_int, opt_str, tool_function
from .wire.sse import ServerSentEvent

__all__ = [
    "OpenAIAdapter",
    "OpenAICompatibleAdapter",
    "OpenAIStreamDecoder",
    "build_chat_body",
    "openai_finish_reason",
    "openai_usage",
    "parse_chat_completion",
    "parse_embeddings",
]

_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
}


def openai_finish_reason(raw: str | None) -> FinishReason:
    if raw is None:
        return FinishReason.OTHER
    return _FINISH.get(raw, FinishReason.OTHER)


def openai_usage(payload: Any, timings: Any = None) -> Usage | None:
    """``usage`` of a completion or chunk; llama.cpp ``timings`` stand in when it is absent."""
    if isinstance(payload, dict):
        details = payload.get("completion_tokens_details")
        prompt = payload.get("prompt_tokens_details")
        return Usage(
            input_tokens=opt_int(payload.get("prompt_tokens")),
            output_tokens=opt_int(payload.get("completion_tokens")),
            total_tokens=opt_int(payload.get("total_tokens")),
            reasoning_tokens=(
                opt_int(details.get("reasoning_tokens")) if isinstance(details, dict) else None
            ),
            # prompt_tokens includes the cached ones; OpenAI caches by itself (no writes billed)
            cache_read_tokens=(
                opt_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None
            ),
        )
    if isinstance(timings, dict):
        prompt, predicted = opt_int(timings.get("prompt_n")), opt_int(timings.get("predicted_n"))
        if prompt is not None or predicted is not None:
            return Usage(input_tokens=prompt, output_tokens=predicted)
    return None


def _text_of(content: Any) -> Any:
    """Some compatible servers send content as a list of ``{"type":"text","text":...}`` parts;
    join their text. Anything else is returned as is (and checked by the caller)."""
    if isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in content
    ):
        return "".join(p.get("text", "") for p in content)
    return content


def _content(message: Message) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            image: dict[str, Any] = {"url": part.url}
            if part.detail:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append({"type": "text", "text": part.text})
    return parts


def _message(message: Message) -> dict[str, Any]:
    content = message.text if message.role == "tool" else _content(message)
    out: dict[str, Any] = {"role": message.role, "content": content}
    if message.name:
        out["name"] = message.name
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
        if not message.content:
            out["content"] = None
    return out


def _tool(tool: Any) -> Any:
    function = tool_function(tool)
    return dict(tool) if function is None else {"type": "function", "function": function}


def build_chat_body(
    request: GenerateRequest,
    model: str,
    *,
    stream: bool,
    max_tokens_field: str = "max_tokens",
) -> dict[str, Any]:
    """The ``chat/completions`` body for a request (``extra`` is merged last)."""
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.extend(_message(m) for m in request.all_messages())
    body: dict[str, Any] = {"model": model, "messages": messages}
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop"] = list(request.stop)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.seed is not None:
        body["seed"] = request.seed
    if request.presence_penalty is not None:
        body["presence_penalty"] = request.presence_penalty
    if request.frequency_penalty is not None:
        body["frequency_penalty"] = request.frequency_penalty
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if isinstance(choice, NamedToolChoice)
            else choice
        )
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        else:
            schema: dict[str, Any] = {"name": fmt.name, "schema": dict(fmt.schema or {})}
            if fmt.strict is not None:
                schema["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    merge_extra(body, request.extra)
    return body


def _tool_calls(raw: Any, *, provider: str, model: str) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        return ()
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ProtocolError(
                f"tool_calls[{index}] has no function name", provider=provider, model=model
            )
        name = function["name"]
        calls.append(
            ToolCall(
                id=opt_str(item.get("id")) or f"call_{index}",
                name=name,
                arguments=parse_tool_arguments(
                    function.get("arguments"), provider=provider, model=model, name=name
                ),
            )
        )
    return tuple(calls)


def parse_chat_completion(
    payload: Any, *, provider: str, model: str, meta: ResponseMeta | None = None
) -> GenerateResult:
    """A ``chat.completion`` body as a :class:`GenerateResult` (or its typed error)."""
    request_id = meta.request_id if meta else None
    payload = success_body(
        payload, what="completion", provider=provider, model=model, request_id=request_id
    )
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProtocolError(
            "completion has no choices", provider=provider, model=model, request_id=request_id
        )
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ProtocolError(
            "choices[0] has no message", provider=provider, model=model, request_id=request_id
        )
    content = _text_of(message.get("content"))
    if content is not None and not isinstance(content, str):
        raise ProtocolError(
            f"choices[0].message.content is {type(content).__name__}, expected a string",
            provider=provider,
            model=model,
            request_id=request_id,
        )
    tool_calls = _tool_calls(message.get("tool_calls"), provider=provider, model=model)
    raw = opt_str(choice.get("finish_reason"))
    finish = openai_finish_reason(raw)
    refusal = opt_str(message.get("refusal"))
    if not content and not tool_calls and (refusal or finish is FinishReason.CONTENT_FILTER):
        raise ContentFilterError(
            f"refused: {refusal}" if refusal else f"blocked by the content filter ({raw})",
            provider=provider,
            model=model,
            request_id=request_id,
        )
    thought = opt_str(message.get("reasoning_content")) or opt_str(message.get("reasoning"))
    return GenerateResult(
        content=content or "",
        provider=provider,
        model=opt_str(payload.get("model")) or model,
        finish_reason=finish,
        raw_finish_reason=raw,
        usage=openai_usage(payload.get("usage"), payload.get("timings")) or Usage(),
        thought_content=thought,
        tool_calls=tool_calls,
        latency=meta.latency if meta else 0.0,
        request_id=request_id,
        rate_limit=meta.rate_limit if meta else None,
    )


def _decode_base64_vector(text: str) -> list[float]:
    values = array("f")
    values.frombytes(base64.b64decode(text))
    if sys.byteorder == "big":  # the wire format is little-endian float32
        values.byteswap()
    return values.tolist()


def parse_embeddings(
    payload: Any, *, provider: str, model: str, count: int
) -> tuple[list[list[float]], Usage]:
    """An ``embeddings`` body: vectors in input order (by ``index``) and usage."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        detail = extract_error(payload)
        if detail is not None:
            raise error_from_detail(detail, provider=provider, model=model, status=None)
        raise ProtocolError("embeddings response has no data list", provider=provider, model=model)
    slots: list[list[float] | None] = [None] * count
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise ProtocolError(
                f"data[{position}] is not an object", provider=provider, model=model
            )
        index = opt_int(item.get("index"))
        index = position if index is None else index
        vector = item.get("embedding")
        if isinstance(vector, str):
            try:
                vector = _decode_base64_vector(vector)
            except ValueError:
                raise ProtocolError(
                    f"data[{position}].embedding is not valid base64 float32",
                    provider=provider,
                    model=model,
                ) from None
        if not 0 <= index < count or slots[index] is not None:
            raise ProtocolError(
                f"data[{position}] has index {index} (expected {count} distinct indexes)",
                provider=provider,
                model=model,
            )
        if not isinstance(vector, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector
        ):
            raise ProtocolError(
                f"data[{position}].embedding is not a list of numbers",
                provider=provider,
                model=model,
            )
        slots[index] = vector
    missing = [i for i, v in enumerate(slots) if v is None]
    if missing:
        raise ProtocolError(
            f"embeddings missing for inputs {missing[:10]}", provider=provider, model=model
        )
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if isinstance(usage, dict):
        parsed = Usage(
            input_tokens=opt_int(usage.get("prompt_tokens")),
            total_tokens=opt_int(usage.get("total_tokens")),
        )
    else:
        parsed = Usage()
    return [v for v in slots if v is not None], parsed


class OpenAIStreamDecoder(SSEStreamDecoder):
    """``chat.completion.chunk`` SSE events to stream events.

    Text and reasoning (``reasoning_content``/``reasoning``, as llama.cpp and other compatible
    servers send) stream as they arrive; each tool-call fragment is a ``ToolCallDelta`` (by
    ``index``, once the call's name is known), and the fragments joined by ``index`` are parsed
    and emitted as ``ToolCallEvent`` once the choice finishes. Usage is the last ``usage`` seen
    (or llama.cpp ``timings``). The stream ends at ``[DONE]``; a body that ends after a
    ``finish_reason`` but without ``[DONE]`` is accepted, one that ends before is a cut
    connection.
    """

    def __init__(self, *, provider: str, model: str, request_id: str | None = None) -> None:
        super().__init__(provider=provider, model=model, request_id=request_id)
        self._raw_finish: str | None = None
        # index -> [id, name, [argument fragments], fragments sent as deltas, announced]
        self._tools: dict[int, list[Any]] = {}
        self._refusal: list[str] = []

    def on_event(self, event: ServerSentEvent, out: list[StreamEvent]) -> None:
        data = event.data
        if not data:
            return
        if data.startswith("[DONE]"):
            self._end(out)
            return
        chunk = self.load(data)
        if not isinstance(chunk, dict):
            raise self.protocol_error(f"stream chunk is not a JSON object: {data[:200]!r}")
        if "error" in chunk or event.event == "error":
            error = self.payload_error(chunk)
            if error is None:
                raise self.protocol_error(f"unrecognised error event: {data[:200]!r}")
            raise error
        if self.response_model is None:
            self.response_model = opt_str(chunk.get("model"))
            self.response_id = opt_str(chunk.get("id"))
        usage = chunk.get("usage")
        if usage is not None or "timings" in chunk:
            parsed = openai_usage(usage, chunk.get("timings"))
            if parsed is not None:
                self.usage = parsed
        choices = chunk.get("choices")
        if not choices:
            return
        if not isinstance(choices, list):
            raise self.protocol_error("chunk 'choices' is not a list")
        for choice in choices:
            if not isinstance(choice, dict):
                raise self.protocol_error("chunk choice is not an object")
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            raw = choice.get("finish_reason")
            if raw:
                self._raw_finish = str(raw)
                self._flush_tools(out)

    def _delta(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        content = _text_of(delta.get("content"))
        if content:
            if not isinstance(content, str):
                raise self.protocol_error("delta.content is not a string")
            out.append(self.text(content))
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            out.append(self.thought(reasoning))
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._refusal.append(refusal)
        calls = delta.get("tool_calls")
        if calls:
            if not isinstance(calls, list):
                raise self.protocol_error("delta.tool_calls is not a list")
            for call in calls:
                if not isinstance(call, dict):
                    raise self.protocol_error("delta.tool_calls item is not an object")
                index = call.get("index", 0)
                if not isinstance(index, int):
                    raise self.protocol_error(f"tool call index is not an integer: {index!r}")
                slot = self._tools.get(index)
                if slot is None:
                    # the id is fixed by the first fragment (invented if it has none)
                    call_id = call.get("id")
                    slot = self._tools[index] = [
                        call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                        None,
                        [],
                        0,
                        False,
                    ]
                function = call.get("function")
                if isinstance(function, dict):
                    if function.get("name") and not slot[1]:
                        slot[1] = str(function["name"])
                    fragment = function.get("arguments")
                    if isinstance(fragment, str):
                        slot[2].append(fragment)
                    elif isinstance(fragment, dict):  # some servers send the object whole
                        slot[2].append(json.dumps(fragment))
                if slot[1]:
                    pending = "".join(slot[2][slot[3] :])
                    if pending or not slot[4]:  # the first delta announces the call
                        out.append(self.tool_delta(index, slot[0], slot[1], pending))
                        slot[3], slot[4] = len(slot[2]), True

    def _flush_tools(self, out: list[StreamEvent]) -> None:
        for index in sorted(self._tools):
            call_id, name, fragments, _, _ = self._tools[index]
            if not isinstance(name, str) or not name:
                raise self.protocol_error(f"tool call {index} has no function name")
            out.append(self.tool_call(call_id, name, "".join(fragments)))
        self._tools.clear()

    def _end(self, out: list[StreamEvent]) -> None:
        self._flush_tools(out)
        raw = self._raw_finish
        reason = openai_finish_reason(raw) if raw is not None else FinishReason.STOP
        if self._refusal and not self.has_output:
            reason = FinishReason.CONTENT_FILTER
            raw = raw or "refusal"
        detail = f": {''.join(self._refusal)}" if self._refusal else ""
        self.finish(out, reason, raw, filtered_detail=detail)

    def on_eof(self, out: list[StreamEvent]) -> None:
        if self._raw_finish is None:
            raise self.cut_error()
        self._end(out)


class OpenAIAdapter(HttpAdapter):
    """OpenAI's API. ``max_tokens`` goes as ``max_completion_tokens``, which OpenAI takes for
    every model (its reasoning models refuse ``max_tokens``)."""

    #: where the output-token cap goes in the body
    max_tokens_field = "max_completion_tokens"
    embed_batch_limit = 2048
    #: the sampling parameters and features the API defines
    supported_params = frozenset(OPTIONAL_PARAMS + FEATURE_PARAMS)
    health_path = "models"
    chat_path = "chat/completions"
    embed_path = "embeddings"

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        provider: str = "openai",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings, provider=provider, http_client=http_client, transport=transport)

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        model = self.model_for(request.model)
        ignored(self.provider, request, why="prompt caching is automatic")
        body = build_chat_body(request, model, stream=False, max_tokens_field=self.max_tokens_field)
        payload, meta = await self.call_json("POST", self.chat_path, body, model=model)
        result = parse_chat_completion(payload, provider=self.provider, model=model, meta=meta)
        return check_structured_output(request, result, provider=self.provider, model=model)

    def stream(self, request: GenerateRequest) -> StreamContext:
        model = self.model_for(request.model)
        ignored(self.provider, request, why="prompt caching is automatic")
        body = build_chat_body(request, model, stream=True, max_tokens_field=self.max_tokens_field)
        decoder = OpenAIStreamDecoder(provider=self.provider, model=model)
        decoder.response_format = request.response_format
        decoder.invalid_output = request.invalid_output
        return self.open_stream(self.chat_path, body, model=model, decoder=decoder)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        async def call(model: str, texts: Sequence[str]) -> tuple[list[list[float]], Usage]:
            body: dict[str, Any] = {
                "model": model,
                "input": list(texts),
                "encoding_format": "float",
            }
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
            merge_extra(body, request.extra)
            payload, _ = await self.call_json("POST", self.embed_path, body, model=model)
            return parse_embeddings(payload, provider=self.provider, model=model, count=len(texts))

        return await self.embed_in_batches(request, call)


class OpenAICompatibleAdapter(OpenAIAdapter):
    """Any server that speaks OpenAI's chat dialect (vLLM, LiteLLM's proxy, a gateway): the
    widely supported ``max_tokens``."""

    max_tokens_field = "max_tokens"
