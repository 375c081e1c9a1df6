"""The adapters over real loopback sockets: request shapes, tool calls, thinking, timeouts
(MockClock), cut connections, cancellation, batching and legacy endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from hafs_actors.adapters import (
    AdapterSettings,
    AnthropicAdapter,
    GeminiAdapter,
    LlamaCppAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    OpenAICompatibleAdapter,
    ProviderAdapter,
    StreamCollector,
    create_adapter,
)
from hafs_actors.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContentFilterError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    UnsupportedError,
)
from hafs_actors.types import (
    EmbedRequest,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    Message,
    StreamStart,
    TextDelta,
    ToolCall,
    Usage,
)

KEY = "sk-test-SECRETKEY0123456789"


def sse(*payloads: Any, names: list[str] | None = None) -> list[bytes | float]:
    chunks: list[bytes | float] = []
    for index, payload in enumerate(payloads):
        data = payload if isinstance(payload, str) else json.dumps(payload)
        head = f"event: {names[index]}\n" if names else ""
        chunks.append(f"{head}data: {data}\n\n".encode())
    return chunks


def oa_chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    out: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    return out


async def call(adapter: Any, request: GenerateRequest, *, stream: bool) -> GenerateResult:
    """generate(), or stream() collected into the same result."""
    if stream:
        return await collect(adapter, request)
    result: GenerateResult = await adapter.generate(request)
    return result


async def drain(adapter: Any, request: GenerateRequest, seen: list[Any]) -> None:
    async with adapter.stream(request) as events:
        async for event in events:
            seen.append(event)


async def collect(adapter: Any, request: GenerateRequest) -> GenerateResult:
    collector = StreamCollector(provider=adapter.provider, model=request.model)
    async with adapter.stream(request) as events:
        async for event in events:
            collector.add(event)
    return collector.result()


REQ = GenerateRequest(
    model="m",
    prompt="And now?",
    messages=(Message(role="user", content="Hi"), Message(role="assistant", content="Hello")),
    system_prompt="Be brief.",
    max_tokens=50,
    temperature=0.2,
    stop=("END",),
)


# --- construction and request shapes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("openai", OpenAIAdapter),
        ("openai_compatible", OpenAICompatibleAdapter),
        ("anthropic", AnthropicAdapter),
        ("gemini", GeminiAdapter),
        ("ollama", OllamaAdapter),
        ("llamacpp", LlamaCppAdapter),
    ],
)
def test_create_adapter(name: str, cls: type) -> None:
    adapter = create_adapter(name, AdapterSettings(base_url="http://127.0.0.1:1", api_key=KEY))
    assert type(adapter) is cls
    assert adapter.provider == name
    assert isinstance(adapter, ProviderAdapter)
    assert KEY not in repr(adapter)


def test_create_adapter_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        create_adapter("nope", AdapterSettings(base_url="http://x"))


async def test_openai_request_shape_and_one_pooled_client(replay: Any, make: Any) -> None:
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "model": "m",
    }
    replay.route("POST", "/v1/chat/completions", replay.Reply.json(completion))
    adapter = make(
        OpenAICompatibleAdapter,
        base_url=replay.base_url + "/v1",
        provider="vllm",
        extra_headers={"x-team": "a"},
    )
    await adapter.initialize()
    client = adapter.client
    for _ in range(3):
        result = await adapter.generate(REQ)
        assert result.content == "ok"
        assert result.provider == "vllm"
    assert adapter.client is client
    assert replay.connections == 1  # keep-alive: every request reused one connection
    sent = replay.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-team"] == "a"
    body = sent.json()
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "And now?"},
    ]
    assert body["max_tokens"] == 50  # compatible servers get max_tokens
    assert body["temperature"] == 0.2
    assert body["stop"] == ["END"]


async def test_both_transports_send_the_same_request(replay: Any, make: Any) -> None:
    """The project transport gets prepared requests straight from the adapter, the httpx one
    through the full client: the server must see the same head and body either way."""
    completion = {"choices": [{"message": {"role": "assistant", "content": "ok"}}], "model": "m"}
    replay.route("POST", "/v1/chat/completions", replay.Reply.json(completion))
    for transport in ("hafs", "httpx"):
        adapter = make(
            OpenAIAdapter,
            base_url=replay.base_url + "/v1",
            transport=transport,
            extra_headers={"x-team": "a"},
        )
        assert (await adapter.generate(REQ)).content == "ok"
        await adapter.aclose()
    direct, full = replay.requests
    assert direct.headers == full.headers
    assert direct.body == full.body
    assert direct.headers["host"] == f"127.0.0.1:{replay.port}"
    assert direct.headers["content-length"] == str(len(direct.body))
    assert direct.headers["authorization"] == f"Bearer {KEY}"
    assert direct.headers["x-team"] == "a"


def test_openai_gets_max_completion_tokens_compatible_servers_max_tokens() -> None:
    """OpenAI's reasoning models refuse ``max_tokens``, whatever host serves the API (a proxy,
    the emulator); other servers of the dialect widely take only ``max_tokens``."""
    for url in ("https://api.openai.com/v1", "http://127.0.0.1:9000/v1"):
        assert OpenAIAdapter(AdapterSettings(base_url=url)).max_tokens_field == (
            "max_completion_tokens"
        )
    compatible = OpenAICompatibleAdapter(AdapterSettings(base_url="http://127.0.0.1:9000/v1"))
    assert compatible.max_tokens_field == "max_tokens"


async def test_anthropic_request_shape(replay: Any, make: Any) -> None:
    message = {
        "type": "message",
        "model": "m",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    replay.route("POST", "/v1/messages", replay.Reply.json(message))
    adapter = make(AnthropicAdapter)
    await adapter.generate(REQ)
    await adapter.generate(GenerateRequest(model="m", prompt="x"))
    sent = replay.requests[0]
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.json()
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 50
    assert body["stop_sequences"] == ["END"]
    assert body["messages"][-1] == {"role": "user", "content": "And now?"}
    assert replay.requests[1].json()["max_tokens"] == 4096  # required field, documented default


async def test_gemini_request_shape_key_in_header_not_url(replay: Any, make: Any) -> None:
    response = {
        "candidates": [
            {"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP"}
        ]
    }
    replay.route("POST", "/v1beta/models/gemini-x:generateContent", replay.Reply.json(response))
    adapter = make(GeminiAdapter, api_key="AIzaSyTESTKEY_0123456789abcdefghij")
    await adapter.generate(attrs_evolve(REQ, model="models/gemini-x"))
    sent = replay.requests[0]
    assert "key=" not in sent.target
    assert sent.headers["x-goog-api-key"] == "AIzaSyTESTKEY_0123456789abcdefghij"
    body = sent.json()
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {
        "maxOutputTokens": 50,
        "temperature": 0.2,
        "stopSequences": ["END"],
    }


async def test_ollama_request_shape(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/api/chat",
        replay.Reply.json(
            {
                "model": "m",
                "message": {"role": "assistant", "content": "ok"},
                "done": True,
                "done_reason": "stop",
                "eval_count": 3,
            }
        ),
    )
    adapter = make(OllamaAdapter, base_url=f"127.0.0.1:{replay.port}", api_key=None)
    result = await adapter.generate(
        attrs_evolve(REQ, extra={"options": {"num_ctx": 8192}, "keep_alive": "5m"})
    )
    body = replay.requests[0].json()
    assert body["options"] == {
        "temperature": 0.2,
        "num_predict": 50,
        "stop": ["END"],
        "num_ctx": 8192,
    }
    assert body["keep_alive"] == "5m"
    assert body["stream"] is False
    assert "authorization" not in replay.requests[0].headers
    # Go omits zero counts: one count present means the other was zero
    assert result.usage == Usage(input_tokens=0, output_tokens=3)


def attrs_evolve(request: GenerateRequest, **changes: Any) -> GenerateRequest:
    import attrs

    return attrs.evolve(request, **changes)


async def test_no_model_is_a_bad_request(replay: Any, make: Any) -> None:
    adapter = make(OpenAIAdapter)
    with pytest.raises(BadRequestError, match="no model"):
        await adapter.generate(GenerateRequest(model="", prompt="x"))
    defaulted = make(OpenAIAdapter, default_model="dflt")
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply.json({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}),
    )
    await defaulted.generate(GenerateRequest(model="", prompt="x"))
    assert replay.requests[0].json()["model"] == "dflt"


# --- tool calls and thinking ------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TOOL_REQ = GenerateRequest(model="m", prompt="Weather in Paris?", tools=(WEATHER_TOOL,))
PARIS = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})


async def test_openai_tool_calls(replay: Any, make: Any) -> None:
    completion = {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
            }
        ],
    }
    stream = sse(
        oa_chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            }
        ),
        oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        oa_chunk({}, "tool_calls"),
        oa_chunk(usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
        "[DONE]",
    )
    replay.route(
        "POST", "/chat/completions", replay.Reply.json(completion), replay.Reply.sse(stream)
    )
    adapter = make(OpenAIAdapter)
    result = await adapter.generate(TOOL_REQ)
    assert result.tool_calls == (PARIS,)
    assert result.finish_reason is FinishReason.TOOL_CALLS
    streamed = await collect(adapter, TOOL_REQ)
    assert streamed.tool_calls == (PARIS,)
    assert streamed.finish_reason is FinishReason.TOOL_CALLS
    assert streamed.usage.total_tokens == 12
    assert replay.requests[0].json()["tools"] == [WEATHER_TOOL]
    assert replay.requests[1].json()["stream_options"] == {"include_usage": True}


async def test_anthropic_tool_use_and_thinking(replay: Any, make: Any) -> None:
    message = {
        "type": "message",
        "model": "m",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 20},
        "content": [
            {"type": "thinking", "thinking": "Need weather.", "signature": "s"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "model": "m",
                "content": [],
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Need weather."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "s"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "call_1",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 20},
        },
        {"type": "message_stop"},
    ]
    replay.route(
        "POST",
        "/v1/messages",
        replay.Reply.json(message),
        replay.Reply.sse(sse(*events, names=[e["type"] for e in events])),
    )
    adapter = make(AnthropicAdapter)
    result = await adapter.generate(TOOL_REQ)
    assert result.tool_calls == (PARIS,)
    assert result.thought_content == "Need weather."
    assert result.content == "Checking."
    assert result.finish_reason is FinishReason.TOOL_CALLS
    streamed = await collect(adapter, TOOL_REQ)
    assert streamed.tool_calls == (PARIS,)
    assert streamed.thought_content == "Need weather."
    assert streamed.usage == Usage(input_tokens=10, output_tokens=20)
    tools = replay.requests[0].json()["tools"]
    assert tools == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]


async def test_gemini_function_call_and_thought(replay: Any, make: Any) -> None:
    chunk1 = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "thinking...", "thought": True}]}}
        ]
    }
    chunk2 = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 5,
            "totalTokenCount": 15,
            "thoughtsTokenCount": 6,
        },
    }
    replay.route("POST", "/v1beta/models/m:generateContent", replay.Reply.json(chunk2))
    replay.route(
        "POST", "/v1beta/models/m:streamGenerateContent", replay.Reply.sse(sse(chunk1, chunk2))
    )
    adapter = make(GeminiAdapter)
    expected = ToolCall(id="call_0", name="get_weather", arguments={"city": "Paris"})
    result = await adapter.generate(TOOL_REQ)
    assert result.tool_calls == (expected,)
    assert result.finish_reason is FinishReason.TOOL_CALLS
    assert result.raw_finish_reason == "STOP"
    streamed = await collect(adapter, TOOL_REQ)
    assert streamed.tool_calls == (expected,)
    assert streamed.thought_content == "thinking..."
    assert streamed.usage == Usage(
        input_tokens=4, output_tokens=5, total_tokens=15, reasoning_tokens=6
    )
    assert replay.requests[0].json()["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": WEATHER_TOOL["function"]["parameters"],
                }
            ]
        }
    ]


async def test_ollama_tool_calls_and_thinking(replay: Any, make: Any) -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    lines = [
        {
            "model": "m",
            "message": {"role": "assistant", "content": "", "thinking": "hmm"},
            "done": False,
        },
        {
            "model": "m",
            "message": {"role": "assistant", "content": "", "tool_calls": [call]},
            "done": False,
        },
        {
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 9,
            "eval_count": 4,
        },
    ]
    body: list[bytes | float] = [(json.dumps(line) + "\n").encode() for line in lines]
    replay.route(
        "POST",
        "/api/chat",
        replay.Reply(headers=[("content-type", "application/x-ndjson")], body=body),
    )
    adapter = make(OllamaAdapter, api_key=None)
    streamed = await collect(adapter, TOOL_REQ)
    assert streamed.tool_calls == (
        ToolCall(id="call_0", name="get_weather", arguments={"city": "Paris"}),
    )
    assert streamed.thought_content == "hmm"
    assert streamed.finish_reason is FinishReason.TOOL_CALLS
    assert streamed.usage == Usage(input_tokens=9, output_tokens=4)


async def test_llamacpp_finish_chunk_usage_and_reasoning(replay: Any, make: Any) -> None:
    final = oa_chunk(
        {}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    )
    final["timings"] = {"prompt_n": 3, "predicted_n": 2}
    body = [
        b": ping\n\n",
        *sse(
            oa_chunk({"reasoning_content": "think"}), oa_chunk({"content": "Hi"}), final, "[DONE]"
        ),
    ]
    replay.route("POST", "/v1/chat/completions", replay.Reply.sse(body))
    adapter = make(LlamaCppAdapter, api_key=None)
    streamed = await collect(adapter, GenerateRequest(model="local", prompt="x"))
    assert streamed.content == "Hi"
    assert streamed.thought_content == "think"
    assert streamed.usage.total_tokens == 5
    assert streamed.finish_reason is FinishReason.STOP


# --- errors in streams and bodies -------------------------------------------------------------


@pytest.mark.parametrize("transport", ["hafs", "httpx"])
async def test_anthropic_error_event_before_and_after_output(
    replay: Any, make: Any, transport: str
) -> None:
    start = {
        "type": "message_start",
        "message": {"model": "m", "content": [], "usage": {"input_tokens": 3}},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Par"},
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    replay.route(
        "POST",
        "/v1/messages",
        replay.Reply.sse(sse(start, error, names=["message_start", "error"])),
        replay.Reply.sse(
            sse(start, delta, error, names=["message_start", "content_block_delta", "error"])
        ),
    )
    adapter = make(AnthropicAdapter, transport=transport)
    with pytest.raises(OverloadedError):
        await collect(adapter, GenerateRequest(model="m", prompt="x"))
    with pytest.raises(StreamInterruptedError) as info:
        await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert info.value.partial_text == "Par"
    assert info.value.usage == Usage(input_tokens=3)
    assert isinstance(info.value.cause, OverloadedError)
    assert info.value.retryable


async def test_openai_error_payload_midstream(replay: Any, make: Any) -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    replay.route(
        "POST", "/chat/completions", replay.Reply.sse(sse(oa_chunk({"content": "Hel"}), error))
    )
    adapter = make(OpenAIAdapter)
    with pytest.raises(StreamInterruptedError) as info:
        await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert info.value.partial_text == "Hel"
    assert "The server had an error" in info.value.message


async def test_events_sharing_a_read_with_an_error_are_yielded_before_it(
    replay: Any, make: Any
) -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    one_write = b"".join(
        bytes(chunk)
        for chunk in sse(oa_chunk({"content": "Hel"}), oa_chunk({"content": "lo"}), error)
        if isinstance(chunk, bytes)
    )
    replay.route("POST", "/chat/completions", replay.Reply.sse([one_write]))
    adapter = make(OpenAIAdapter)
    async with adapter.stream(GenerateRequest(model="m", prompt="x")) as events:
        assert isinstance(await events.__anext__(), StreamStart)
        assert await events.__anext__() == TextDelta("Hel")
        assert await events.__anext__() == TextDelta("lo")
        assert events.ttft is not None
        with pytest.raises(StreamInterruptedError) as info:
            await events.__anext__()
        with pytest.raises(StopAsyncIteration):  # the error ended the stream
            await events.__anext__()
    assert info.value.partial_text == "Hello"
    assert isinstance(info.value.cause, ServerError)


async def test_malformed_json_body_and_event(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply(headers=[("content-type", "application/json")], body=b'{"choi'),
        replay.Reply.sse([b"data: {not json\n\n"]),
    )
    adapter = make(OpenAIAdapter)
    with pytest.raises(ProtocolError, match="not JSON"):
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    with pytest.raises(ProtocolError, match="malformed JSON"):
        await collect(adapter, GenerateRequest(model="m", prompt="x"))


@pytest.mark.parametrize("stream", [False, True])
async def test_content_filter_without_output(replay: Any, make: Any, stream: bool) -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    replay.route("POST", "/v1beta/models/m:generateContent", replay.Reply.json(blocked))
    replay.route("POST", "/v1beta/models/m:streamGenerateContent", replay.Reply.sse(sse(blocked)))
    adapter = make(GeminiAdapter)
    with pytest.raises(ContentFilterError, match="SAFETY"):
        await call(adapter, GenerateRequest(model="m", prompt="x"), stream=stream)


async def test_content_filter_after_output_is_a_finish_reason(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply.sse(
            sse(oa_chunk({"content": "Some"}), oa_chunk({}, "content_filter"), "[DONE]")
        ),
        replay.Reply.json(
            {"choices": [{"message": {"content": None}, "finish_reason": "content_filter"}]}
        ),
    )
    adapter = make(OpenAIAdapter)
    result = await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert result.content == "Some"
    assert result.finish_reason is FinishReason.CONTENT_FILTER
    with pytest.raises(ContentFilterError):
        await adapter.generate(GenerateRequest(model="m", prompt="x"))


async def test_anthropic_refusal_without_output(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/v1/messages",
        replay.Reply.json(
            {
                "type": "message",
                "content": [],
                "stop_reason": "refusal",
                "usage": {"input_tokens": 1, "output_tokens": 0},
            }
        ),
    )
    with pytest.raises(ContentFilterError):
        await make(AnthropicAdapter).generate(GenerateRequest(model="m", prompt="x"))


async def test_rate_limit_with_http_date_and_reset_headers(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply.json(
            {"error": {"message": "slow", "type": "requests"}},
            429,
            [("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
        ),
        replay.Reply.json(
            {"error": {"message": "slow", "type": "requests"}},
            429,
            [("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "1m30s")],
        ),
    )
    adapter = make(OpenAIAdapter)
    with pytest.raises(RateLimitError) as past:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert past.value.retry_after == 0.0  # a date in the past: retry now
    with pytest.raises(RateLimitError) as reset:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert reset.value.retry_after == 90.0


async def test_anthropic_has_no_embeddings(make: Any) -> None:
    adapter = make(AnthropicAdapter)
    assert not adapter.supports_embeddings
    with pytest.raises(UnsupportedError):
        await adapter.embed(EmbedRequest(model="m", texts=("x",)))


# --- timeouts (MockClock), cut connections, cancellation --------------------------------------


async def test_generate_read_timeout(replay: Any, make: Any, autojump_clock: Any) -> None:
    replay.route("POST", "/chat/completions", replay.Reply(action="hang"))
    adapter = make(OpenAIAdapter, read_timeout=3.0)
    start = trio.current_time()
    with pytest.raises(ProviderTimeoutError) as info:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert info.value.phase == "read"
    assert info.value.retryable
    assert trio.current_time() - start == pytest.approx(3.0, abs=0.1)


async def test_stream_ttft_timeout_before_headers(
    replay: Any, make: Any, autojump_clock: Any
) -> None:
    replay.route("POST", "/chat/completions", replay.Reply(action="hang"))
    adapter = make(OpenAIAdapter, stream_ttft_timeout=5.0, read_timeout=100.0)
    with pytest.raises(ProviderTimeoutError) as info:
        await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert info.value.phase == "ttft"


async def test_stream_ttft_timeout_after_a_contentless_chunk(
    replay: Any, make: Any, autojump_clock: Any
) -> None:
    role_only = sse(oa_chunk({"role": "assistant", "content": ""}))
    replay.route("POST", "/chat/completions", replay.Reply.sse(role_only, action="stall"))
    adapter = make(OpenAIAdapter, stream_ttft_timeout=5.0, read_timeout=100.0)
    start = trio.current_time()
    with pytest.raises(ProviderTimeoutError) as info:
        await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert info.value.phase == "ttft"
    assert trio.current_time() - start == pytest.approx(5.0, abs=0.1)


async def test_stream_idle_gap_after_output(replay: Any, make: Any, autojump_clock: Any) -> None:
    body = [*sse(oa_chunk({"content": "Hel"})), 1.0, *sse(oa_chunk({"content": "lo"}))]
    replay.route("POST", "/chat/completions", replay.Reply.sse(body, action="stall"))
    adapter = make(OpenAIAdapter, stream_ttft_timeout=5.0, read_timeout=2.0)
    seen: list[Any] = []
    with pytest.raises(StreamInterruptedError) as info:
        await drain(adapter, GenerateRequest(model="m", prompt="x"), seen)
    assert info.value.partial_text == "Hello"
    assert isinstance(info.value.cause, ProviderTimeoutError)
    assert info.value.cause.phase == "idle"
    assert isinstance(seen[0], StreamStart)


async def test_slow_chunks_within_the_idle_budget_are_fine(
    replay: Any, make: Any, autojump_clock: Any
) -> None:
    body = [
        *sse(oa_chunk({"content": "a"})),
        1.5,
        *sse(oa_chunk({"content": "b"})),
        1.5,
        *sse(oa_chunk({}, "stop"), "[DONE]"),
    ]
    replay.route("POST", "/chat/completions", replay.Reply.sse(body))
    adapter = make(OpenAIAdapter, stream_ttft_timeout=1.0, read_timeout=2.0)
    result = await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert result.content == "ab"  # 3 s in total: neither TTFT nor idle applies after output


@pytest.mark.parametrize("after_output", [False, True])
async def test_cut_connection(replay: Any, make: Any, after_output: bool) -> None:
    chunks = sse(oa_chunk({"content": "Par"})) if after_output else []
    replay.route("POST", "/chat/completions", replay.Reply.sse(chunks, action="cut"))
    adapter = make(OpenAIAdapter)
    expected = StreamInterruptedError if after_output else ProviderConnectionError
    with pytest.raises(expected) as info:
        await collect(adapter, GenerateRequest(model="m", prompt="x"))
    if after_output:
        assert isinstance(info.value, StreamInterruptedError)
        assert info.value.partial_text == "Par"
        assert isinstance(info.value.cause, ProviderConnectionError)


async def test_clean_eof_without_end_marker_is_a_cut(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/v1/messages",
        replay.Reply(
            headers=[("content-type", "text/event-stream")],
            body=b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"Hi"}}\n\n',
        ),
    )
    with pytest.raises(StreamInterruptedError) as info:
        await collect(make(AnthropicAdapter), GenerateRequest(model="m", prompt="x"))
    assert info.value.partial_text == "Hi"


async def test_connection_refused(make: Any) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = make(OpenAIAdapter, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderConnectionError) as info:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert info.value.retryable
    assert (await adapter.health()).ok is False


@pytest.mark.parametrize("transport", ["hafs", "httpx"])
async def test_cancelled_generate_closes_the_connection(
    replay: Any, make: Any, transport: str, autojump_clock: Any
) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply(action="hang"),
        replay.Reply.json({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}),
    )
    adapter = make(OpenAIAdapter, read_timeout=1000.0, transport=transport)
    with trio.move_on_after(1.0) as scope:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert scope.cancelled_caught
    with trio.fail_after(1.0):
        while replay.disconnects < 1:
            await replay.wait_disconnect()
    result = await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert result.content == "ok"  # the same client is still usable


@pytest.mark.parametrize("transport", ["hafs", "httpx"])
async def test_cancelled_stream_closes_the_connection(
    replay: Any, make: Any, transport: str, autojump_clock: Any
) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply.sse(sse(oa_chunk({"content": "a"})), action="stall"),
        replay.Reply.sse(sse(oa_chunk({"content": "b"}), oa_chunk({}, "stop"), "[DONE]")),
    )
    adapter = make(OpenAIAdapter, read_timeout=1000.0, transport=transport)
    got: list[str] = []
    with trio.move_on_after(1.0) as scope:
        async with adapter.stream(GenerateRequest(model="m", prompt="x")) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    got.append(event.text)
    assert scope.cancelled_caught
    assert got == ["a"]
    with trio.fail_after(1.0):
        while replay.disconnects < 1:
            await replay.wait_disconnect()
    result = await collect(adapter, GenerateRequest(model="m", prompt="x"))
    assert result.content == "b"


@pytest.mark.parametrize("transport", ["hafs", "httpx"])
async def test_leaving_a_stream_early_closes_it(
    replay: Any, make: Any, transport: str, autojump_clock: Any
) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply.sse(sse(oa_chunk({"content": "a"})), action="stall"),
    )
    adapter = make(OpenAIAdapter, transport=transport)
    async with adapter.stream(GenerateRequest(model="m", prompt="x")) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    with trio.fail_after(1.0):
        while replay.disconnects < 1:
            await replay.wait_disconnect()


# --- embeddings: batching and legacy endpoints ------------------------------------------------


async def test_openai_embeddings_batched_and_reordered(replay: Any, make: Any) -> None:
    def answer(request: Any) -> Any:
        inputs = request.json()["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
            for i, t in enumerate(inputs)
        ]
        data.reverse()  # servers may answer out of order: the index decides
        return replay.Reply.json(
            {
                "object": "list",
                "data": data,
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )

    replay.route("POST", "/embeddings", answer)
    adapter = make(OpenAIAdapter, embed_batch_size=2)
    texts = tuple("x" * n for n in range(1, 6))
    result = await adapter.embed(EmbedRequest(model="e", texts=texts, dimensions=2))
    assert result.vectors == [[float(n), 1.0] for n in range(1, 6)]
    assert [len(r.json()["input"]) for r in replay.requests] == [2, 2, 1]
    assert replay.requests[0].json()["dimensions"] == 2
    assert replay.requests[0].json()["encoding_format"] == "float"
    assert result.usage.input_tokens == 5


async def test_openai_base64_embeddings(replay: Any, make: Any) -> None:
    import base64
    import struct

    encoded = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    replay.route(
        "POST", "/embeddings", replay.Reply.json({"data": [{"index": 0, "embedding": encoded}]})
    )
    result = await make(OpenAIAdapter).embed(EmbedRequest(model="e", texts=("x",)))
    assert result.vector == [0.5, -1.0, 2.0]


async def test_gemini_embeddings_split_at_100(replay: Any, make: Any) -> None:
    def answer(request: Any) -> Any:
        entries = request.json()["requests"]
        return replay.Reply.json(
            {"embeddings": [{"values": [float(e["content"]["parts"][0]["text"])]} for e in entries]}
        )

    replay.route("POST", "/v1beta/models/text-embedding-004:batchEmbedContents", answer)
    adapter = make(GeminiAdapter)
    texts = tuple(str(i) for i in range(250))
    result = await adapter.embed(EmbedRequest(model="text-embedding-004", texts=texts))
    assert result.vectors == [[float(i)] for i in range(250)]
    assert [len(r.json()["requests"]) for r in replay.requests] == [100, 100, 50]
    assert replay.requests[0].json()["requests"][0]["model"] == "models/text-embedding-004"


async def test_ollama_embed_falls_back_to_legacy_endpoint(replay: Any, make: Any) -> None:
    replay.route("POST", "/api/embed", replay.Reply(status=404, body=b"404 page not found"))
    replay.route(
        "POST",
        "/api/embeddings",
        lambda r: replay.Reply.json({"embedding": [float(len(r.json()["prompt"]))]}),
    )
    adapter = make(OllamaAdapter, api_key=None)
    first = await adapter.embed(EmbedRequest(model="e", texts=("a", "bb")))
    second = await adapter.embed(EmbedRequest(model="e", texts=("ccc",)))
    assert first.vectors == [[1.0], [2.0]]
    assert second.vectors == [[3.0]]
    paths = [r.path for r in replay.requests]
    assert paths == ["/api/embed", "/api/embeddings", "/api/embeddings", "/api/embeddings"]


async def test_ollama_missing_model_is_not_a_missing_endpoint(replay: Any, make: Any) -> None:
    replay.route("POST", "/api/embed", replay.Reply.json({"error": "model 'nomic' not found"}, 404))
    replay.route(
        "POST",
        "/api/chat",
        replay.Reply.json({"error": "model 'llama9' not found, try pulling it first"}, 404),
    )
    adapter = make(OllamaAdapter, api_key=None)
    with pytest.raises(NotFoundError):
        await adapter.embed(EmbedRequest(model="nomic", texts=("a",)))
    with pytest.raises(NotFoundError):
        await adapter.generate(GenerateRequest(model="llama9", prompt="x"))
    assert [r.path for r in replay.requests] == ["/api/embed", "/api/chat"]


async def test_ollama_legacy_generate_nonstream(replay: Any, make: Any) -> None:
    replay.route("POST", "/api/chat", replay.Reply(status=404, body=b"404 page not found"))
    replay.route(
        "POST",
        "/api/generate",
        replay.Reply.json(
            {
                "model": "m",
                "response": "Old but fine",
                "done": True,
                "done_reason": "length",
                "prompt_eval_count": 2,
                "eval_count": 3,
            }
        ),
    )
    adapter = make(OllamaAdapter, api_key=None)
    result = await adapter.generate(REQ)
    assert result.content == "Old but fine"
    assert result.finish_reason is FinishReason.LENGTH
    body = replay.requests[-1].json()
    assert body["system"] == "Be brief."
    assert body["prompt"] == "user: Hi\n\nassistant: Hello\n\nuser: And now?"


# --- keys never leak --------------------------------------------------------------------------


async def test_key_not_in_errors_or_reprs(replay: Any, make: Any) -> None:
    replay.route(
        "POST",
        "/chat/completions",
        replay.Reply.json(
            {
                "error": {
                    "message": f"Incorrect API key provided: {KEY}",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            401,
        ),
    )
    adapter = make(OpenAIAdapter)
    with pytest.raises(AuthenticationError) as info:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)
    assert KEY not in repr(adapter)
    assert KEY not in repr(adapter.settings)


async def test_echoed_key_of_any_shape_is_scrubbed(replay: Any, make: Any) -> None:
    plain = "plainsecretvalue123"  # no known key shape: only the adapter knows it is a key
    replay.route("POST", "/api/chat", replay.Reply.json({"error": f"bad token {plain}"}, 401))
    adapter = make(OllamaAdapter, api_key=plain)
    with pytest.raises(AuthenticationError) as info:
        await adapter.generate(GenerateRequest(model="m", prompt="x"))
    assert plain not in str(info.value)
    assert plain not in repr(info.value)
    assert "[REDACTED]" in str(info.value)
    assert replay.requests[0].headers["authorization"] == f"Bearer {plain}"


def test_anthropic_models_that_take_one_sampling_knob_refuse_both_before_sending() -> None:
    from hafs_actors.adapters.anthropic import build_messages_body
    from hafs_actors.errors import UnsupportedError

    both = GenerateRequest(model="", prompt="hi", temperature=0.5, top_p=0.9)
    body = build_messages_body(both, "claude-sonnet-4-20250514", stream=False)
    assert (body["temperature"], body["top_p"]) == (0.5, 0.9)
    for model in ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5"):
        with pytest.raises(UnsupportedError, match="not both"):
            build_messages_body(both, model, stream=False)
    one = GenerateRequest(model="", prompt="hi", top_p=0.9)
    assert build_messages_body(one, "claude-sonnet-4-5-20250929", stream=False)["top_p"] == 0.9
