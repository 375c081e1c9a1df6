"""Anthropic Messages API (``POST /v1/messages``; no embeddings).

Wire format (``docs/providers.md`` section 2): SSE with named events ``message_start``,
``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``, ``ping``
and ``error``. Usage follows the official SDK: input (and cache) counts from
``message_start``, then every ``message_delta`` *replaces* the counts it carries (it does not
add), so the final usage is input from the start plus output from the last delta.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import ContentFilterError, ProtocolError, UnsupportedError
from ..types import (
    OPTIONAL_PARAMS,
    EmbeddingResult,
    EmbedRequest,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    StreamEvent,
    ToolCall,
    Usage,
)
from .base import AdapterSettings
from .errormap import success_body
from .http import HttpAdapter, ResponseMeta, StreamContext
from .wire.decoders import SSEStreamDecoder, parse_tool_arguments
from .wire.fields import merge_extra, opt_int, opt_str, tool_function
from .wire.sse import ServerSentEvent

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicAdapter",
    "AnthropicStreamDecoder",
    "anthropic_finish_reason",
    "build_messages_body",
    "parse_message",
]

ANTHROPIC_VERSION = "2023-06-01"
#: ``max_tokens`` is required by the Messages API; used when the request does not say.
DEFAULT_MAX_TOKENS = 4096

_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
    "pause_turn": FinishReason.OTHER,
}


def anthropic_finish_reason(raw: str | None) -> FinishReason:
    if raw is None:
        return FinishReason.OTHER
    return _FINISH.get(raw, FinishReason.OTHER)


def _usage(payload: Any, previous: Usage | None = None) -> Usage | None:
    """Usage from a ``usage`` object; counts it carries replace those of ``previous``."""
    if not isinstance(payload, dict):
        return previous
    base = previous or Usage()
    input_tokens = opt_int(payload.get("input_tokens"))
    output_tokens = opt_int(payload.get("output_tokens"))
    return Usage(
        input_tokens=base.input_tokens if input_tokens is None else input_tokens,
        output_tokens=base.output_tokens if output_tokens is None else output_tokens,
    )


def build_messages_body(request: GenerateRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The ``/v1/messages`` body. System turns go to ``system``; tool results become
    ``tool_result`` blocks in a user turn; assistant tool calls become ``tool_use`` blocks."""
    system: list[str] = [request.system_prompt] if request.system_prompt else []
    messages: list[dict[str, Any]] = []
    for m in request.all_messages():
        if m.role == "system":
            system.append(m.content)
        elif m.role == "tool":
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": m.tool_call_id or "",
                            "content": m.content,
                        }
                    ],
                }
            )
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": m.content}] if m.content else []
            )
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in m.tool_calls
            )
            messages.append({"role": "assistant", "content": blocks})
        else:
            messages.append({"role": m.role, "content": m.content})
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.tools:
        tools = []
        for tool in request.tools:
            function = tool_function(tool)
            if function is None:
                tools.append(dict(tool))
            else:
                converted = {"name": function["name"], "input_schema": function["parameters"]}
                if "description" in function:
                    converted["description"] = function["description"]
                tools.append(converted)
        body["tools"] = tools
    if stream:
        body["stream"] = True
    merge_extra(body, request.extra)
    return body


def parse_message(
    payload: Any, *, provider: str, model: str, meta: ResponseMeta | None = None
) -> GenerateResult:
    """A ``message`` body as a :class:`GenerateResult` (or its typed error)."""
    request_id = meta.request_id if meta else None
    payload = success_body(
        payload, what="message", provider=provider, model=model, request_id=request_id
    )
    blocks = payload.get("content")
    if not isinstance(blocks, list):
        raise ProtocolError(
            "message has no content list", provider=provider, model=model, request_id=request_id
        )
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise ProtocolError(
                f"content[{index}] is not an object", provider=provider, model=model
            )
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            text.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif kind == "tool_use":
            name = block.get("name")
            if not isinstance(name, str):
                raise ProtocolError(
                    f"content[{index}] tool_use has no name", provider=provider, model=model
                )
            calls.append(
                ToolCall(
                    id=opt_str(block.get("id")) or f"call_{index}",
                    name=name,
                    arguments=parse_tool_arguments(
                        block.get("input"), provider=provider, model=model, name=name
                    ),
                )
            )
    raw = opt_str(payload.get("stop_reason"))
    finish = anthropic_finish_reason(raw)
    content = "".join(text)
    if finish is FinishReason.CONTENT_FILTER and not content and not calls:
        raise ContentFilterError(
            f"the model refused ({raw})", provider=provider, model=model, request_id=request_id
        )
    return GenerateResult(
        content=content,
        provider=provider,
        model=opt_str(payload.get("model")) or model,
        finish_reason=finish,
        raw_finish_reason=raw,
        usage=_usage(payload.get("usage")) or Usage(),
        thought_content="".join(thoughts) if thoughts else None,
        tool_calls=tuple(calls),
        latency=meta.latency if meta else 0.0,
        request_id=request_id,
        rate_limit=meta.rate_limit if meta else None,
    )


class AnthropicStreamDecoder(SSEStreamDecoder):
    """Messages SSE events to stream events (see the module docstring for usage rules).

    Tool calls are emitted at their ``content_block_stop``, with the joined
    ``input_json_delta`` fragments parsed once. The stream ends at ``message_stop``; a body
    that ends after a ``message_delta`` with a stop reason is accepted, earlier is a cut.
    """

    def __init__(self, *, provider: str, model: str, request_id: str | None = None) -> None:
        super().__init__(provider=provider, model=model, request_id=request_id)
        self._raw_finish: str | None = None
        self._tools: dict[int, list[Any]] = {}  # index -> [id, name, [json fragments], input]

    def on_event(self, event: ServerSentEvent, out: list[StreamEvent]) -> None:
        data = event.data
        if not data:
            return
        payload = self.load(data)
        if not isinstance(payload, dict):
            raise self.protocol_error(f"event data is not a JSON object: {data[:200]!r}")
        kind = payload.get("type") or event.event
        index = payload.get("index", -1)
        if not isinstance(index, int):
            raise self.protocol_error(f"{kind} event has a non-integer index: {index!r}")
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if not isinstance(delta, dict):
                raise self.protocol_error("content_block_delta without a delta object")
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                if text:
                    out.append(self.text(str(text)))
            elif dtype == "input_json_delta":
                # Server tools (web search, ...) stream their input too; only tool_use blocks
                # are calls for the caller to run.
                slot = self._tools.get(index)
                fragment = delta.get("partial_json")
                if slot is not None and isinstance(fragment, str):
                    slot[2].append(fragment)
            elif dtype == "thinking_delta":
                thinking = delta.get("thinking")
                if thinking:
                    out.append(self.thought(str(thinking)))
        elif kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                self.response_model = opt_str(message.get("model"))
                self.response_id = opt_str(message.get("id"))
                self.usage = _usage(message.get("usage"), self.usage)
        elif kind == "content_block_start":
            block = payload.get("content_block")
            if not isinstance(block, dict):
                raise self.protocol_error("content_block_start without a content_block")
            btype = block.get("type")
            if btype == "tool_use":
                self._tools[index] = [
                    block.get("id"),
                    block.get("name"),
                    [],
                    block.get("input"),
                ]
            elif btype == "text" and block.get("text"):
                out.append(self.text(str(block["text"])))
            elif btype == "thinking" and block.get("thinking"):
                out.append(self.thought(str(block["thinking"])))
        elif kind == "content_block_stop":
            slot = self._tools.pop(index, None)
            if slot is not None:
                call_id, name, fragments, initial = slot
                if not isinstance(name, str) or not name:
                    raise self.protocol_error("tool_use block has no name")
                arguments = "".join(fragments) if fragments else initial
                out.append(self.tool_call(str(call_id or f"call_{index}"), name, arguments))
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._raw_finish = str(delta["stop_reason"])
            self.usage = _usage(payload.get("usage"), self.usage)
        elif kind == "message_stop":
            self._end(out)
        elif kind == "error":
            error = self.payload_error(payload)
            if error is None:
                raise self.protocol_error(f"unrecognised error event: {data[:200]!r}")
            raise error
        # ping and unknown event types are ignored, as the SDK does

    def _end(self, out: list[StreamEvent]) -> None:
        raw = self._raw_finish
        reason = anthropic_finish_reason(raw) if raw is not None else FinishReason.STOP
        self.finish(out, reason, raw)

    def on_eof(self, out: list[StreamEvent]) -> None:
        if self._raw_finish is None:
            raise self.cut_error()
        self._end(out)


class AnthropicAdapter(HttpAdapter):
    """Anthropic Messages. Auth: ``x-api-key`` plus ``anthropic-version``. The base URL is the
    host (``https://api.anthropic.com``, as the SDK's ``ANTHROPIC_BASE_URL``); one ending in
    ``/v1`` also works."""

    supports_embeddings = False
    rate_limit_dialect = "anthropic"
    #: the sampling parameters the API defines (Anthropic has no seed nor penalties)
    supported_params = frozenset(OPTIONAL_PARAMS) - {
        "seed",
        "presence_penalty",
        "frequency_penalty",
    }

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        provider: str = "anthropic",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings, provider=provider, http_client=http_client, transport=transport)
        path = urlsplit(self.base_url).path.rstrip("/")
        prefix = "" if path.endswith("/v1") else "v1/"
        self.messages_path = f"{prefix}messages"
        self.health_path = f"{prefix}models"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        return headers

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        model = self.model_for(request.model)
        body = build_messages_body(request, model, stream=False)
        payload, meta = await self.call_json("POST", self.messages_path, body, model=model)
        return parse_message(payload, provider=self.provider, model=model, meta=meta)

    def stream(self, request: GenerateRequest) -> StreamContext:
        model = self.model_for(request.model)
        body = build_messages_body(request, model, stream=True)
        decoder = AnthropicStreamDecoder(provider=self.provider, model=model)
        return self.open_stream(self.messages_path, body, model=model, decoder=decoder)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        raise UnsupportedError(
            "Anthropic has no embeddings API", provider=self.provider, model=request.model
        )
