"""Anthropic Messages API (``POST /v1/messages``; no embeddings).

Wire format (``docs/providers.md`` section 2): SSE with named events ``message_start``,
``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``, ``ping``
and ``error``. Usage follows the official SDK: input (and cache) counts from
``message_start``, then every ``message_delta`` *replaces* the counts it carries (it does not
add), so the final usage is input from the start plus output from the last delta. Anthropic
counts cached input apart from ``input_tokens``; the normalized ``input_tokens`` includes it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import ContentFilterError, ProtocolError, UnsupportedError
from ..types import (
    FEATURE_PARAMS,
    HINT_PARAMS,
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
from .errormap import success_body
from .features import THINKING_BUDGETS, check_structured_output
from .http import HttpAdapter, ResponseMeta, StreamContext
from .wire.decoders import SSEStreamDecoder, parse_tool_arguments
from .wire.fields import merge_extra, opt_int, opt_str, tool_function
from .wire.sse import ServerSentEvent

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "DIALECT",
    "AnthropicAdapter",
    "AnthropicStreamDecoder",
    "anthropic_finish_reason",
    "anthropic_usage",
    "build_messages_body",
    "parse_message",
]

ANTHROPIC_VERSION = "2023-06-01"
#: the :class:`~hafs_actors.types.ProviderTurn` dialect of Messages API content blocks
DIALECT = "anthropic"
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


_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _usage_counts(payload: Any, counts: dict[str, int] | None = None) -> dict[str, int]:
    """The raw counts of a ``usage`` object; those it carries replace the ones in ``counts``."""
    counts = dict(counts or {})
    if isinstance(payload, dict):
        for key in _USAGE_KEYS:
            value = opt_int(payload.get(key))
            if value is not None:
                counts[key] = value
    return counts


def anthropic_usage(counts: dict[str, int]) -> Usage | None:
    """Normalized usage. Anthropic's ``input_tokens`` leaves out the cached tokens; here they
    are added back, so ``input_tokens`` counts every input token as the other providers do."""
    if not counts:
        return None
    read = counts.get("cache_read_input_tokens")
    write = counts.get("cache_creation_input_tokens")
    uncached = counts.get("input_tokens")
    total_input = None if uncached is None else uncached + (read or 0) + (write or 0)
    return Usage(
        input_tokens=total_input,
        output_tokens=counts.get("output_tokens"),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


_EPHEMERAL = {"type": "ephemeral"}


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ImagePart):
            inline = part.inline
            source = (
                {"type": "url", "url": part.url}
                if inline is None
                else {"type": "base64", "media_type": inline[0], "data": inline[1]}
            )
            blocks.append({"type": "image", "source": source})
        else:
            blocks.append({"type": "text", "text": part.text})
    return blocks


def _content(message: Message) -> str | list[dict[str, Any]]:
    """A message's content: a plain string when it can be, blocks otherwise (images, or a cache
    breakpoint, which goes on the last block)."""
    if isinstance(message.content, str) and not message.cache:
        return message.content
    blocks = _blocks(message) or [{"type": "text", "text": ""}]
    if message.cache:
        blocks[-1] = {**blocks[-1], "cache_control": _EPHEMERAL}
    return blocks


def _turn(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": m.tool_call_id or "",
            "content": m.text,
        }
        if m.cache:
            result["cache_control"] = _EPHEMERAL
        return {"role": "user", "content": [result]}
    if m.role == "assistant" and m.native is not None and m.native.dialect == DIALECT:
        return {"role": "assistant", "content": [dict(b) for b in m.native.blocks]}
    if m.role == "assistant" and m.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
        blocks.extend(
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
            for c in m.tool_calls
        )
        if m.cache:
            blocks[-1] = {**blocks[-1], "cache_control": _EPHEMERAL}
        return {"role": "assistant", "content": blocks}
    return {"role": m.role, "content": _content(m)}


def _tools(request: GenerateRequest) -> list[dict[str, Any]]:
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
    fmt = request.response_format
    if fmt is not None:
        tools.append(
            {
                "name": fmt.name,
                "description": "Give the answer as this tool's input (structured output).",
                "input_schema": dict(fmt.schema or {"type": "object"}),
            }
        )
    return tools


def _tool_choice(request: GenerateRequest) -> dict[str, Any] | None:
    """``tool_choice``. ``response_format`` forces its tool, or any tool when the model may
    call one of the caller's tools first (the answer then comes in a later turn)."""
    choice = request.tool_choice
    fmt = request.response_format
    out: dict[str, Any] | None = None
    if isinstance(choice, NamedToolChoice):
        out = {"type": "tool", "name": choice.name}
    elif fmt is not None:
        calls_allowed = bool(request.tools) and choice != "none"
        out = {"type": "any"} if calls_allowed else {"type": "tool", "name": fmt.name}
    elif choice is not None:
        out = {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}
    if request.parallel_tool_calls is False:
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


#: "claude-sonnet-4-5-20250929": family, major, minor (a date is not a minor version)
_FAMILY = re.compile(r"claude-(opus|sonnet|haiku)-(\d{1,2})(?:-(\d{1,2}))?(?!\d)")
#: the first version of each family that refuses temperature and top_p together
_ONE_KNOB_SINCE = {"opus": (4, 1), "sonnet": (4, 5), "haiku": (4, 5)}


def _one_sampling_knob(model: str) -> bool:
    """Newer Claude models accept temperature or top_p, and reject a request with both."""
    found = _FAMILY.search(model)
    if found is None:
        return False
    family, major, minor = found.group(1), int(found.group(2)), int(found.group(3) or 0)
    return (major, minor) >= _ONE_KNOB_SINCE[family]


def build_messages_body(request: GenerateRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The ``/v1/messages`` body. System turns go to ``system``; tool results become
    ``tool_result`` blocks in a user turn; assistant tool calls become ``tool_use`` blocks; an
    assistant turn from Anthropic itself is replayed as it came (thinking signatures).

    Raises :class:`UnsupportedError` for what the API rejects: thinking with a forced tool.
    """
    system: list[str] = [request.system_prompt] if request.system_prompt else []
    messages: list[dict[str, Any]] = []
    for m in request.all_messages():
        if m.role == "system":
            system.append(m.text)
        else:
            messages.append(_turn(m))
    max_tokens = request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
    if system:
        text = "\n\n".join(system)
        body["system"] = (
            [{"type": "text", "text": text, "cache_control": _EPHEMERAL}]
            if request.cache_system
            else text
        )
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.top_p is not None:
        if request.temperature is not None and _one_sampling_knob(model):
            raise UnsupportedError(
                "this model takes temperature or top_p, not both",
                provider="anthropic",
                model=model,
            )
        body["top_p"] = request.top_p
    tools = _tools(request)
    if tools:
        body["tools"] = tools
    choice = _tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice
    if request.reasoning_effort is not None:
        if choice is not None and choice["type"] in ("any", "tool"):
            raise UnsupportedError(
                "Anthropic cannot think with a forced tool (tool_choice or response_format)",
                provider="anthropic",
                model=model,
            )
        budget = THINKING_BUDGETS[request.reasoning_effort]
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = max_tokens + budget  # max_tokens counts the thinking too
    if stream:
        body["stream"] = True
    merge_extra(body, request.extra)
    return body


def parse_message(
    payload: Any,
    *,
    provider: str,
    model: str,
    meta: ResponseMeta | None = None,
    response_tool: str | None = None,
) -> GenerateResult:
    """A ``message`` body as a :class:`GenerateResult` (or its typed error). The input of
    ``response_tool`` (the forced tool of ``response_format``) is the reply's content."""
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
    signed = False
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
            signed = True
        elif kind == "redacted_thinking":
            signed = True
        elif kind == "tool_use":
            name = block.get("name")
            if not isinstance(name, str):
                raise ProtocolError(
                    f"content[{index}] tool_use has no name", provider=provider, model=model
                )
            arguments = parse_tool_arguments(
                block.get("input"), provider=provider, model=model, name=name
            )
            if name == response_tool:
                text.append(json.dumps(arguments))
                continue
            call_id = opt_str(block.get("id")) or f"call_{index}"
            calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    raw = opt_str(payload.get("stop_reason"))
    finish = anthropic_finish_reason(raw)
    if finish is FinishReason.TOOL_CALLS and not calls:
        finish = FinishReason.STOP  # only the structured-output tool was called
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
        usage=anthropic_usage(_usage_counts(payload.get("usage"))) or Usage(),
        thought_content="".join(thoughts) if thoughts else None,
        tool_calls=tuple(calls),
        latency=meta.latency if meta else 0.0,
        request_id=request_id,
        rate_limit=meta.rate_limit if meta else None,
        native=ProviderTurn(DIALECT, tuple(blocks)) if signed else None,
    )


class AnthropicStreamDecoder(SSEStreamDecoder):
    """Messages SSE events to stream events (see the module docstring for usage rules).

    A ``tool_use`` block is a ``ToolCallDelta`` at its start and one per ``input_json_delta``
    (``index`` counts tool calls, not blocks); the call itself is emitted at its
    ``content_block_stop``, the joined fragments parsed once. The input of ``response_tool``
    (``response_format``'s forced tool) streams as text instead. Every block is also rebuilt as
    sent, so a turn with thinking ends with a ``TurnEvent`` carrying the signatures. The stream
    ends at ``message_stop``; a body that ends after a ``message_delta`` with a stop reason is
    accepted, earlier is a cut.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        request_id: str | None = None,
        response_tool: str | None = None,
    ) -> None:
        super().__init__(provider=provider, model=model, request_id=request_id)
        self._raw_finish: str | None = None
        self._response_tool = response_tool
        self._counts: dict[str, int] = {}
        self._blocks: dict[int, dict[str, Any]] = {}  # block index -> the block as sent
        self._tools: dict[int, list[Any]] = {}  # block index -> [call index, [json fragments]]
        self._calls = 0
        self._signed = False
        self._other_calls = False

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
            self._delta(index, delta, out)
        elif kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                self.response_model = opt_str(message.get("model"))
                self.response_id = opt_str(message.get("id"))
                self._set_usage(message.get("usage"))
        elif kind == "content_block_start":
            block = payload.get("content_block")
            if not isinstance(block, dict):
                raise self.protocol_error("content_block_start without a content_block")
            self._start(index, block, out)
        elif kind == "content_block_stop":
            self._stop(index, out)
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._raw_finish = str(delta["stop_reason"])
            self._set_usage(payload.get("usage"))
        elif kind == "message_stop":
            self._end(out)
        elif kind == "error":
            error = self.payload_error(payload)
            if error is None:
                raise self.protocol_error(f"unrecognised error event: {data[:200]!r}")
            raise error
        # ping and unknown event types are ignored, as the SDK does

    def _set_usage(self, payload: Any) -> None:
        self._counts = _usage_counts(payload, self._counts)
        self.usage = anthropic_usage(self._counts)

    def _start(self, index: int, block: dict[str, Any], out: list[StreamEvent]) -> None:
        btype = block.get("type")
        self._blocks[index] = dict(block)
        if btype == "tool_use":
            name = block.get("name")
            if not isinstance(name, str) or not name:
                raise self.protocol_error("tool_use block has no name")
            call_id = opt_str(block.get("id")) or f"call_{index}"
            self._blocks[index]["id"] = call_id
            self._tools[index] = [self._calls, []]
            if name != self._response_tool:
                out.append(self.tool_delta(self._calls, call_id, name, ""))
                self._other_calls = True
            self._calls += 1
        elif btype == "text" and block.get("text"):
            out.append(self.text(str(block["text"])))
        elif btype == "thinking":
            self._signed = True
            if block.get("thinking"):
                out.append(self.thought(str(block["thinking"])))
        elif btype == "redacted_thinking":
            self._signed = True

    def _delta(self, index: int, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        dtype = delta.get("type")
        block = self._blocks.get(index)
        if dtype == "text_delta":
            text = delta.get("text")
            if text:
                out.append(self.text(str(text)))
                if block is not None:
                    block["text"] = str(block.get("text") or "") + str(text)
        elif dtype == "input_json_delta":
            # Server tools (web search, ...) stream their input too; only tool_use blocks
            # are calls for the caller to run.
            slot = self._tools.get(index)
            fragment = delta.get("partial_json")
            if slot is None or not isinstance(fragment, str) or block is None:
                return
            slot[1].append(fragment)
            if block.get("name") == self._response_tool:
                if fragment:
                    out.append(self.text(fragment))
            elif fragment:
                out.append(self.tool_delta(slot[0], block["id"], block["name"], fragment))
        elif dtype == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking:
                out.append(self.thought(str(thinking)))
                if block is not None:
                    block["thinking"] = str(block.get("thinking") or "") + str(thinking)
        elif dtype == "signature_delta" and block is not None:
            block["signature"] = str(block.get("signature") or "") + str(
                delta.get("signature") or ""
            )

    def _stop(self, index: int, out: list[StreamEvent]) -> None:
        slot = self._tools.pop(index, None)
        block = self._blocks.get(index)
        if slot is None or block is None:
            return
        fragments = slot[1]
        arguments = "".join(fragments) if fragments else block.get("input")
        event = self.tool_call(block["id"], block["name"], arguments)
        block["input"] = event.tool_call.arguments
        if block["name"] != self._response_tool:
            out.append(event)

    def _end(self, out: list[StreamEvent]) -> None:
        raw = self._raw_finish
        reason = anthropic_finish_reason(raw) if raw is not None else FinishReason.STOP
        if reason is FinishReason.TOOL_CALLS and not self._other_calls:
            reason = FinishReason.STOP  # only the structured-output tool was called
        if self._signed:
            blocks = tuple(self._blocks[i] for i in sorted(self._blocks))
            out.append(TurnEvent(ProviderTurn(DIALECT, blocks)))
        self.finish(out, reason, raw)

    def on_eof(self, out: list[StreamEvent]) -> None:
        if self._raw_finish is None:
            raise self.cut_error()
        self._end(out)


def _response_tool(request: GenerateRequest) -> str | None:
    fmt = request.response_format
    return None if fmt is None else fmt.name


class AnthropicAdapter(HttpAdapter):
    """Anthropic Messages. Auth: ``x-api-key`` plus ``anthropic-version``. The base URL is the
    host (``https://api.anthropic.com``, as the SDK's ``ANTHROPIC_BASE_URL``); one ending in
    ``/v1`` also works."""

    supports_embeddings = False
    rate_limit_dialect = "anthropic"
    #: the sampling parameters and features the API defines (no seed nor penalties)
    supported_params = frozenset(OPTIONAL_PARAMS + FEATURE_PARAMS + HINT_PARAMS) - {
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
        body = self._body(request, model, stream=False)
        payload, meta = await self.call_json("POST", self.messages_path, body, model=model)
        result = parse_message(
            payload,
            provider=self.provider,
            model=model,
            meta=meta,
            response_tool=_response_tool(request),
        )
        return check_structured_output(request, result, provider=self.provider, model=model)

    def stream(self, request: GenerateRequest) -> StreamContext:
        model = self.model_for(request.model)
        body = self._body(request, model, stream=True)
        decoder = AnthropicStreamDecoder(
            provider=self.provider, model=model, response_tool=_response_tool(request)
        )
        decoder.response_format = request.response_format
        decoder.invalid_output = request.invalid_output
        return self.open_stream(self.messages_path, body, model=model, decoder=decoder)

    def _body(self, request: GenerateRequest, model: str, *, stream: bool) -> dict[str, Any]:
        try:
            return build_messages_body(request, model, stream=stream)
        except UnsupportedError as exc:
            exc.provider = self.provider
            raise

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        raise UnsupportedError(
            "Anthropic has no embeddings API", provider=self.provider, model=request.model
        )
