"""Every recorded payload in tests/fixtures parses to the result its README states,
both fed from memory (sans-IO parsers) and served over a real loopback socket (adapters)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hafs_actors.adapters import (
    AnthropicAdapter,
    AnthropicStreamDecoder,
    GeminiAdapter,
    GeminiStreamDecoder,
    LlamaCppAdapter,
    OllamaAdapter,
    OllamaStreamDecoder,
    OpenAIAdapter,
    OpenAIStreamDecoder,
    StreamCollector,
    StreamDecoder,
    error_from_body,
)
from hafs_actors.adapters.anthropic import parse_message
from hafs_actors.adapters.gemini import parse_generate_response
from hafs_actors.adapters.ollama import parse_embed_response, parse_response
from hafs_actors.adapters.openai import parse_chat_completion
from hafs_actors.errors import (
    OverloadedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from hafs_actors.types import (
    EmbedRequest,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    StreamStart,
    Usage,
)
from tests._paths import FIXTURES

OPENAI_STREAM_TEXT = (
    "I'm unable to provide real-time weather updates. To get the current weather in San "
    "Francisco, I recommend checking a reliable weather website or a weather app."
)
OPENAI_TEXT = (
    "I'm unable to provide real-time weather updates. To get the current weather in San "
    "Francisco, I recommend checking a reliable weather website or app like the Weather Channel"
    " or a local news station."
)
GEMINI_TEXT = (
    "Google's headquarters, also known as the Googleplex, is located in **Mountain View, "
    "California**.\n"
)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode_all(decoder: StreamDecoder, data: bytes) -> GenerateResult:
    collector = StreamCollector(provider=decoder.provider, model=decoder.model)
    for event in decoder.feed(data):
        collector.add(event)
    for event in decoder.close():
        collector.add(event)
    return collector.result()


def per_event(data: bytes) -> list[bytes | float]:
    """A recorded SSE body as one chunk per event, as a server would flush them."""
    parts = data.split(b"\n\n")
    chunks: list[bytes | float] = [p + b"\n\n" for p in parts[:-1]]
    if parts[-1]:
        chunks.append(parts[-1])
    return chunks


async def stream_all(adapter: Any, request: GenerateRequest) -> tuple[GenerateResult, list[Any]]:
    collector = StreamCollector(provider=adapter.provider, model=request.model)
    events = []
    async with adapter.stream(request) as stream:
        async for event in stream:
            events.append(event)
            collector.add(event)
    return collector.result(), events


async def call(adapter: Any, request: GenerateRequest, *, stream: bool) -> GenerateResult:
    if stream:
        return (await stream_all(adapter, request))[0]
    result: GenerateResult = await adapter.generate(request)
    return result


def test_fixture_inventory_is_covered() -> None:
    """A new fixture file must get a test here."""
    covered = {
        "openai/chat_stream_with_usage.sse",
        "openai/chat_completion.json",
        "openai/error_429_rate_limit.json",
        "anthropic/messages_stream.sse",
        "anthropic/error_overloaded_529.json",
        "gemini/stream.sse",
        "gemini/generate_content.json",
        "gemini/stream_error_midstream_vertex.sse",
        "gemini/error_quota_exceeded_429_vertex.json",
        "ollama/generate_stream.ndjson",
        "ollama/error.json",
        "ollama/chat_nonstream.json",
        "ollama/embed.json",
        "llamacpp/health_loading_503.json",
        # tools, caching, signatures: tests/adapters/test_features.py
        "openai/chat_stream_parallel_tool_calls.sse",
        "openai/chat_completion_json_schema_cached.json",
        "anthropic/messages_stream_tool_use.sse",
        "anthropic/messages_stream_thinking_tool_use.sse",
        "anthropic/message_thinking_tool_use_cached.json",
        "gemini/stream_thinking_function_call_signature.sse",
        "ollama/chat_stream_tool_call.ndjson",
        "llamacpp/chat_stream_tool_call.sse",
    }
    present = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file()} - {
        "README.md"
    }
    assert present == covered


# --- from memory ------------------------------------------------------------------------------


def test_openai_stream_from_memory() -> None:
    decoder = OpenAIStreamDecoder(provider="openai", model="gpt-4o")
    events = decoder.feed(raw("openai/chat_stream_with_usage.sse"))
    assert decoder.finished  # [DONE] seen before end of body
    collector = StreamCollector(provider="openai", model="gpt-4o")
    for event in [*events, *decoder.close()]:
        collector.add(event)
    result = collector.result()
    assert result.content == OPENAI_STREAM_TEXT
    assert result.finish_reason is FinishReason.STOP
    assert result.raw_finish_reason == "stop"
    assert result.usage == Usage(
        input_tokens=14, output_tokens=30, total_tokens=44, reasoning_tokens=0
    )
    assert decoder.response_model == "gpt-4o-2024-08-06"


def test_openai_completion_from_memory() -> None:
    result = parse_chat_completion(
        json.loads(raw("openai/chat_completion.json")), provider="openai", model="gpt-4o"
    )
    assert result.content == OPENAI_TEXT
    assert result.finish_reason is FinishReason.STOP
    assert (result.usage.input_tokens, result.usage.output_tokens) == (14, 37)
    assert result.usage.total_tokens == 51
    assert result.tokens_used == 51
    assert result.model == "gpt-4o-2024-08-06"


def test_openai_429_from_memory() -> None:
    error = error_from_body(
        raw("openai/error_429_rate_limit.json"),
        provider="openai",
        model="gpt-4",
        status=429,
        headers={"x-request-id": "req_abc"},
    )
    assert isinstance(error, RateLimitError)
    assert error.status == 429
    assert error.retryable
    assert error.request_id == "req_abc"
    assert "Please try again in 6ms" in error.message
    assert "rate_limit_exceeded" in error.message
    assert "tokens" in error.message


def test_anthropic_stream_from_memory() -> None:
    data = raw("anthropic/messages_stream.sse")
    assert not data.endswith(b"\n\n")  # the recorded file has no final blank line
    decoder = AnthropicStreamDecoder(provider="anthropic", model="claude")
    result = decode_all(decoder, data)
    assert result.content == "Hello there!"
    assert result.finish_reason is FinishReason.STOP
    assert result.raw_finish_reason == "end_turn"
    assert result.usage == Usage(input_tokens=11, output_tokens=6)
    assert decoder.response_id == "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"
    assert decoder.response_model == "claude-3-opus-latest"


def test_anthropic_last_event_needs_the_eof_flush() -> None:
    decoder = AnthropicStreamDecoder(provider="anthropic", model="claude")
    events = decoder.feed(raw("anthropic/messages_stream.sse"))
    assert not decoder.finished  # message_stop is only complete at EOF
    assert not any(type(e).__name__ == "FinishEvent" for e in events)
    assert type(decoder.close()[-1]).__name__ == "FinishEvent"


def test_anthropic_529_from_memory() -> None:
    error = error_from_body(
        raw("anthropic/error_overloaded_529.json"),
        provider="anthropic",
        model="claude",
        status=529,
        headers={"request-id": "req_01RCc7MbLyQNtGKzBTv8VCep", "x-should-retry": "true"},
    )
    assert isinstance(error, OverloadedError)
    assert error.status == 529
    assert error.retryable
    assert error.request_id == "req_01RCc7MbLyQNtGKzBTv8VCep"
    assert "overloaded_error" in error.message
    assert "Overloaded" in error.message


def test_gemini_stream_from_memory() -> None:
    decoder = GeminiStreamDecoder(provider="gemini", model="gemini-2.0-flash")
    result = decode_all(decoder, raw("gemini/stream.sse"))
    assert result.content == "The capital of Wyoming is **Cheyenne**.\n"
    assert result.raw_finish_reason == "STOP"
    assert result.finish_reason is FinishReason.STOP
    assert result.usage == Usage(input_tokens=7, output_tokens=10, total_tokens=17)


def test_gemini_generate_from_memory() -> None:
    result = parse_generate_response(
        json.loads(raw("gemini/generate_content.json")), provider="gemini", model="g"
    )
    assert result.content == GEMINI_TEXT
    assert result.raw_finish_reason == "STOP"
    assert result.usage == Usage(input_tokens=7, output_tokens=22, total_tokens=29)
    assert result.model == "gemini-2.0-flash"


def test_gemini_midstream_bare_json_error_from_memory() -> None:
    decoder = GeminiStreamDecoder(provider="gemini", model="g")
    texts = [
        e.text
        for e in decoder.feed(raw("gemini/stream_error_midstream_vertex.sse"))
        if hasattr(e, "text")
    ]
    assert "".join(texts) == "First Second "
    with pytest.raises(StreamInterruptedError) as info:
        decoder.close()
    error = info.value
    assert error.partial_text == "First Second "
    assert isinstance(error.cause, ProviderError)
    assert error.cause.status == 499
    assert "CANCELLED" in error.message
    assert "The operation was cancelled." in error.message


def test_gemini_429_from_memory() -> None:
    error = error_from_body(
        raw("gemini/error_quota_exceeded_429_vertex.json"),
        provider="gemini",
        model="g",
        status=429,
        headers={},
    )
    assert isinstance(error, RateLimitError)
    assert error.retryable
    assert error.retry_after is None  # no RetryInfo in this body
    assert "RESOURCE_EXHAUSTED" in error.message


def test_ollama_generate_stream_from_memory() -> None:
    result = decode_all(
        OllamaStreamDecoder(provider="ollama", model="gemma3"),
        raw("ollama/generate_stream.ndjson"),
    )
    assert result.content == "That's a fantastic question!"
    assert result.raw_finish_reason == "stop"
    assert result.finish_reason is FinishReason.STOP
    assert result.usage == Usage()  # absent: unknown, not zero
    assert not result.usage.known


def test_ollama_error_from_memory() -> None:
    error = error_from_body(
        raw("ollama/error.json"), provider="ollama", model="m", status=500, headers={}
    )
    assert isinstance(error, ServerError)
    assert error.message == "the model failed to generate a response"


def test_ollama_error_line_midstream_from_memory() -> None:
    decoder = OllamaStreamDecoder(provider="ollama", model="m")
    first = b'{"model":"m","response":"Hi","done":false}\n'
    decoder.feed(first)
    with pytest.raises(StreamInterruptedError) as info:
        decoder.feed(raw("ollama/error.json").replace(b"\n", b"") + b"\n")
    assert info.value.partial_text == "Hi"
    assert "the model failed to generate a response" in info.value.message


def test_ollama_chat_from_memory() -> None:
    result = parse_response(
        json.loads(raw("ollama/chat_nonstream.json")), provider="ollama", model="llama3.2"
    )
    assert result.content == "Hello! How are you today?"
    assert result.finish_reason is FinishReason.STOP
    assert result.raw_finish_reason is None
    assert result.usage == Usage(input_tokens=26, output_tokens=298)


def test_ollama_embed_from_memory() -> None:
    vectors, usage = parse_embed_response(
        json.loads(raw("ollama/embed.json")), provider="ollama", model="all-minilm"
    )
    assert len(vectors) == 1
    assert len(vectors[0]) == 10
    assert vectors[0][0] == pytest.approx(0.010071029)
    assert usage.input_tokens == 8


def test_llamacpp_loading_from_memory() -> None:
    error = error_from_body(
        raw("llamacpp/health_loading_503.json"),
        provider="llamacpp",
        model="",
        status=503,
        headers={},
    )
    assert isinstance(error, OverloadedError)
    assert error.status == 503
    assert "Loading model" in error.message
    assert "unavailable_error" in error.message


def test_anthropic_message_parse_from_memory() -> None:
    payload = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    result = parse_message(payload, provider="anthropic", model="c")
    assert result.content == "Hello world"
    assert result.finish_reason is FinishReason.LENGTH
    assert result.usage.total_tokens == 5


# --- over loopback ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", ["per_event", "whole"])
async def test_openai_stream_over_loopback(replay: Any, chunking: str) -> None:
    data = raw("openai/chat_stream_with_usage.sse")
    body = per_event(data) if chunking == "per_event" else [data]
    replay.route(
        "POST",
        "/v1/chat/completions",
        replay.Reply.sse(
            body,
            headers=[
                ("x-request-id", "req_42"),
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
        ),
    )
    adapter = OpenAIAdapter(replay.settings(base_url=replay.base_url + "/v1"))
    try:
        result, events = await stream_all(adapter, GenerateRequest(model="gpt-4o", prompt="hi"))
    finally:
        await adapter.aclose()
    start = events[0]
    assert isinstance(start, StreamStart)
    assert start.request_id == "req_42"
    assert start.rate_limit is not None
    assert start.rate_limit.requests_remaining == 59
    assert start.rate_limit.tokens_reset == 360.0
    assert result.content == OPENAI_STREAM_TEXT
    assert result.finish_reason is FinishReason.STOP
    assert result.usage.total_tokens == 44


async def test_openai_completion_over_loopback(replay: Any) -> None:
    replay.route(
        "POST",
        "/v1/chat/completions",
        replay.Reply(
            headers=[("content-type", "application/json"), ("x-request-id", "req_7")],
            body=raw("openai/chat_completion.json"),
        ),
    )
    adapter = OpenAIAdapter(replay.settings(base_url=replay.base_url + "/v1"))
    try:
        result = await adapter.generate(GenerateRequest(model="gpt-4o", prompt="weather?"))
    finally:
        await adapter.aclose()
    assert result.content == OPENAI_TEXT
    assert result.usage == Usage(
        input_tokens=14, output_tokens=37, total_tokens=51, reasoning_tokens=0
    )
    assert result.request_id == "req_7"
    assert result.provider == "openai"


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_429_over_loopback(replay: Any, stream: bool) -> None:
    replay.route(
        "POST",
        "/v1/chat/completions",
        replay.Reply(
            status=429,
            headers=[
                ("content-type", "application/json"),
                ("retry-after-ms", "6"),
                ("x-request-id", "req_rl"),
                ("x-ratelimit-remaining-tokens", "0"),
            ],
            body=raw("openai/error_429_rate_limit.json"),
        ),
    )
    adapter = OpenAIAdapter(replay.settings(base_url=replay.base_url + "/v1"))
    request = GenerateRequest(model="gpt-4", prompt="x")
    try:
        with pytest.raises(RateLimitError) as info:
            await call(adapter, request, stream=stream)
    finally:
        await adapter.aclose()
    error = info.value
    assert error.status == 429
    assert error.retry_after == pytest.approx(0.006)
    assert error.request_id == "req_rl"
    assert error.rate_limit is not None
    assert error.rate_limit.tokens_remaining == 0
    assert "Please try again in 6ms" in error.message


@pytest.mark.parametrize("chunking", ["per_event", "whole"])
async def test_anthropic_stream_over_loopback(replay: Any, chunking: str) -> None:
    data = raw("anthropic/messages_stream.sse")
    replay.route(
        "POST",
        "/v1/messages",
        replay.Reply.sse(per_event(data) if chunking == "per_event" else [data]),
    )
    adapter = AnthropicAdapter(replay.settings())
    try:
        result, _ = await stream_all(adapter, GenerateRequest(model="claude", prompt="hi"))
    finally:
        await adapter.aclose()
    assert result.content == "Hello there!"
    assert result.raw_finish_reason == "end_turn"
    assert result.usage == Usage(input_tokens=11, output_tokens=6)


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_529_over_loopback(replay: Any, stream: bool) -> None:
    replay.route(
        "POST",
        "/v1/messages",
        replay.Reply(
            status=529,
            headers=[
                ("content-type", "application/json"),
                ("request-id", "req_01RCc7MbLyQNtGKzBTv8VCep"),
                ("x-should-retry", "true"),
            ],
            body=raw("anthropic/error_overloaded_529.json"),
        ),
    )
    adapter = AnthropicAdapter(replay.settings())
    request = GenerateRequest(model="claude", prompt="x")
    try:
        with pytest.raises(OverloadedError) as info:
            await call(adapter, request, stream=stream)
    finally:
        await adapter.aclose()
    assert info.value.status == 529
    assert info.value.retryable
    assert info.value.request_id == "req_01RCc7MbLyQNtGKzBTv8VCep"


@pytest.mark.parametrize("chunking", ["per_event", "whole"])
async def test_gemini_stream_over_loopback(replay: Any, chunking: str) -> None:
    data = raw("gemini/stream.sse")
    path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    replay.route(
        "POST", path, replay.Reply.sse(per_event(data) if chunking == "per_event" else [data])
    )
    adapter = GeminiAdapter(replay.settings())
    try:
        result, _ = await stream_all(
            adapter, GenerateRequest(model="gemini-2.0-flash", prompt="capital of Wyoming?")
        )
    finally:
        await adapter.aclose()
    assert replay.requests[0].target.endswith(":streamGenerateContent?alt=sse")
    assert result.content == "The capital of Wyoming is **Cheyenne**.\n"
    assert result.raw_finish_reason == "STOP"
    assert result.usage == Usage(input_tokens=7, output_tokens=10, total_tokens=17)


async def test_gemini_generate_over_loopback(replay: Any) -> None:
    replay.route(
        "POST",
        "/v1beta/models/gemini-2.0-flash:generateContent",
        replay.Reply(
            headers=[("content-type", "application/json")], body=raw("gemini/generate_content.json")
        ),
    )
    adapter = GeminiAdapter(replay.settings())
    try:
        result = await adapter.generate(GenerateRequest(model="gemini-2.0-flash", prompt="?"))
    finally:
        await adapter.aclose()
    assert result.content == GEMINI_TEXT
    assert result.usage == Usage(input_tokens=7, output_tokens=22, total_tokens=29)


@pytest.mark.parametrize("chunking", ["per_event", "whole"])
async def test_gemini_midstream_error_over_loopback(replay: Any, chunking: str) -> None:
    data = raw("gemini/stream_error_midstream_vertex.sse")
    path = "/v1beta/models/g:streamGenerateContent"
    replay.route(
        "POST", path, replay.Reply.sse(per_event(data) if chunking == "per_event" else [data])
    )
    adapter = GeminiAdapter(replay.settings())
    try:
        with pytest.raises(StreamInterruptedError) as info:
            await stream_all(adapter, GenerateRequest(model="g", prompt="?"))
    finally:
        await adapter.aclose()
    assert info.value.partial_text == "First Second "
    assert info.value.status == 499
    assert "The operation was cancelled." in info.value.message


async def test_gemini_429_over_loopback(replay: Any) -> None:
    replay.route(
        "POST",
        "/v1beta/models/g:generateContent",
        replay.Reply(
            status=429,
            headers=[("content-type", "application/json")],
            body=raw("gemini/error_quota_exceeded_429_vertex.json"),
        ),
    )
    adapter = GeminiAdapter(replay.settings())
    try:
        with pytest.raises(RateLimitError) as info:
            await adapter.generate(GenerateRequest(model="g", prompt="?"))
    finally:
        await adapter.aclose()
    assert info.value.status == 429
    assert info.value.retryable
    assert info.value.retry_after is None


@pytest.mark.parametrize("chunking", ["per_line", "whole", "bytewise_first"])
async def test_ollama_generate_stream_over_loopback(replay: Any, chunking: str) -> None:
    data = raw("ollama/generate_stream.ndjson")
    if chunking == "per_line":
        body: list[bytes | float] = [line + b"\n" for line in data.split(b"\n") if line]
    elif chunking == "whole":
        body = [data]
    else:
        body = [data[i : i + 1] for i in range(40)] + [data[40:]]
    # an old server without /api/chat: the adapter falls back to /api/generate
    replay.route("POST", "/api/chat", replay.Reply(status=404, body=b"404 page not found"))
    replay.route(
        "POST",
        "/api/generate",
        replay.Reply(headers=[("content-type", "application/x-ndjson")], body=body),
    )
    adapter = OllamaAdapter(replay.settings(api_key=None))
    try:
        result, _ = await stream_all(adapter, GenerateRequest(model="gemma3", prompt="Why?"))
    finally:
        await adapter.aclose()
    assert result.content == "That's a fantastic question!"
    assert result.raw_finish_reason == "stop"
    assert not result.usage.known
    assert replay.requests[-1].json()["prompt"] == "Why?"


async def test_ollama_error_over_loopback(replay: Any) -> None:
    replay.route(
        "POST",
        "/api/chat",
        replay.Reply(
            status=500,
            headers=[("content-type", "application/json")],
            body=raw("ollama/error.json"),
        ),
    )
    adapter = OllamaAdapter(replay.settings(api_key=None))
    try:
        with pytest.raises(ServerError) as info:
            await adapter.generate(GenerateRequest(model="m", prompt="?"))
    finally:
        await adapter.aclose()
    assert info.value.message == "the model failed to generate a response"
    assert info.value.status == 500


async def test_ollama_chat_over_loopback(replay: Any) -> None:
    replay.route(
        "POST",
        "/api/chat",
        replay.Reply(
            headers=[("content-type", "application/json")], body=raw("ollama/chat_nonstream.json")
        ),
    )
    adapter = OllamaAdapter(replay.settings(api_key=None))
    try:
        result = await adapter.generate(GenerateRequest(model="llama3.2", prompt="hello"))
    finally:
        await adapter.aclose()
    assert result.content == "Hello! How are you today?"
    assert result.usage == Usage(input_tokens=26, output_tokens=298)
    assert replay.requests[0].json()["stream"] is False


async def test_ollama_embed_over_loopback(replay: Any) -> None:
    replay.route(
        "POST",
        "/api/embed",
        replay.Reply(headers=[("content-type", "application/json")], body=raw("ollama/embed.json")),
    )
    adapter = OllamaAdapter(replay.settings(api_key=None))
    try:
        result = await adapter.embed(EmbedRequest(model="all-minilm", texts=("hello",)))
    finally:
        await adapter.aclose()
    assert len(result.vectors) == 1
    assert len(result.vector) == 10
    assert result.vector[0] == pytest.approx(0.010071029)
    assert result.usage.input_tokens == 8


async def test_llamacpp_health_over_loopback(replay: Any) -> None:
    replay.route(
        "GET",
        "/health",
        replay.Reply(
            status=503,
            headers=[("content-type", "application/json")],
            body=raw("llamacpp/health_loading_503.json"),
        ),
        replay.Reply.json({"status": "ok"}),
    )
    adapter = LlamaCppAdapter(replay.settings(base_url=replay.base_url + "/v1", api_key=None))
    try:
        loading = await adapter.health()
        ready = await adapter.health()
    finally:
        await adapter.aclose()
    assert not loading.ok
    assert "Loading model" in loading.detail
    assert ready.ok
