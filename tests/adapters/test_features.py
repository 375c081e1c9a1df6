"""Tools, structured output, images, prompt caching and reasoning, per provider, through the
public adapter API: recorded payloads served by ``httpx.MockTransport``, and the bodies the
adapters send (docs/providers.md, "Features")."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import pytest

from hafs_actors.adapters import (
    AdapterSettings,
    ProviderAdapter,
    StructuredOutputError,
    ToolArgumentsError,
    create_adapter,
)
from hafs_actors.errors import StreamInterruptedError, UnsupportedError
from hafs_actors.types import (
    FinishReason,
    GenerateRequest,
    GenerateResult,
    ImagePart,
    Message,
    NamedToolChoice,
    ResponseFormat,
    StreamEvent,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallEvent,
    TurnEvent,
)
from tests._paths import FIXTURES

BASE = {
    "openai": "https://api.openai.com/v1",
    "openai_compatible": "https://gateway.example/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "ollama": "http://localhost:11434",
    "llamacpp": "http://127.0.0.1:8080",
}
WEATHER = Tool(
    "get_weather",
    "The weather now",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}},
    "required": ["city", "temperature_c"],
    "additionalProperties": False,
}
PNG = "data:image/png;base64,iVBORw0KGgo="
MODELS = {
    "openai": "gpt-4o",
    "openai_compatible": "gpt-4o",
    "anthropic": "claude-sonnet-4-20250514",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2",
    "llamacpp": "qwen",
}


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


class Recorder:
    """A MockTransport answering every request with one canned reply, keeping the bodies."""

    def __init__(self, reply: bytes | dict[str, Any] | None = None, *, sse: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.reply = reply
        self.sse = sse

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        if isinstance(self.reply, bytes):
            kind = "text/event-stream" if self.sse else "application/x-ndjson"
            return httpx.Response(200, content=self.reply, headers={"content-type": kind})
        return httpx.Response(200, json=self.reply or {})

    @property
    def body(self) -> dict[str, Any]:
        return self.bodies[-1]


def adapter(kind: str, recorder: Callable[[httpx.Request], httpx.Response]) -> ProviderAdapter:
    settings = AdapterSettings(base_url=BASE[kind], api_key="k-test-123456")
    return create_adapter(kind, settings, transport=httpx.MockTransport(recorder))


def request(kind: str, **kw: Any) -> GenerateRequest:
    return GenerateRequest(model=MODELS[kind], **kw)


async def stream_events(kind: str, payload: bytes, **kw: Any) -> list[StreamEvent]:
    rec = Recorder(payload, sse=kind not in ("ollama",))
    async with adapter(kind, rec).stream(request(kind, prompt="hi", **kw)) as events:
        return [event async for event in events]


async def sent_body(kind: str, req: GenerateRequest) -> dict[str, Any]:
    """The body an adapter sends for ``req`` (the reply is an error: only the body matters)."""

    def reject(request: httpx.Request) -> httpx.Response:
        rec.bodies.append(json.loads(request.content))
        return httpx.Response(400, json={"error": {"message": "recorded", "type": "x"}})

    rec = Recorder()
    with pytest.raises(Exception, match="recorded"):
        await adapter(kind, reject).generate(req)
    return rec.body


# --- recorded payloads: tool-call deltas, cache usage, signatures ------------------------------


async def test_openai_parallel_tool_call_deltas_and_cached_usage() -> None:
    events = await stream_events("openai", fixture("openai/chat_stream_parallel_tool_calls.sse"))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    calls = [e.tool_call for e in events if isinstance(e, ToolCallEvent)]
    assert [(d.index, d.arguments_delta) for d in deltas] == [
        (0, ""),
        (0, '{"lo'),
        (0, 'cation": "Pa'),
        (0, 'ris"}'),
        (1, ""),
        (1, '{"location": '),
        (1, '"Tokyo"}'),
    ]
    assert {d.id for d in deltas if d.index == 0} == {calls[0].id}
    assert calls == [
        ToolCall("call_Xk2d9Pq1VhB7rTz0nJm4sLcE", "get_weather", {"location": "Paris"}),
        ToolCall("call_R8yWq3Nf0aZc5Lk1bHe7uTgD", "get_weather", {"location": "Tokyo"}),
    ]
    usage = next(e.usage for e in events if hasattr(e, "usage"))
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        2006,
        1920,
        None,
    )


async def test_llamacpp_tool_call_deltas() -> None:
    events = await stream_events("llamacpp", fixture("llamacpp/chat_stream_tool_call.sse"))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert "".join(d.arguments_delta for d in deltas) == '{"location":"Paris"}'
    assert {(d.index, d.id, d.name) for d in deltas} == {
        (0, "W2fFq8ZcLk5vVt1N0yXh9sRpGd3aJm7e", "get_weather")
    }
    (call,) = [e.tool_call for e in events if isinstance(e, ToolCallEvent)]
    assert call.arguments == {"location": "Paris"}


async def test_anthropic_tool_use_stream_deltas_and_cache_fields() -> None:
    events = await stream_events("anthropic", fixture("anthropic/messages_stream_tool_use.sse"))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {(d.index, d.id, d.name) for d in deltas} == {
        (0, "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather")
    }
    assert "".join(d.arguments_delta for d in deltas) == '{"location": "Paris"}'
    (call,) = [e.tool_call for e in events if isinstance(e, ToolCallEvent)]
    assert call.arguments == {"location": "Paris"}
    usage = next(e.usage for e in events if hasattr(e, "usage"))
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (377, 0, 0)
    assert not any(isinstance(e, TurnEvent) for e in events)  # no thinking: nothing to replay


async def test_anthropic_thinking_stream_keeps_the_signature() -> None:
    payload = fixture("anthropic/messages_stream_thinking_tool_use.sse")
    events = await stream_events("anthropic", payload)
    (turn,) = [e.turn for e in events if isinstance(e, TurnEvent)]
    thinking, tool_use = turn.blocks
    assert thinking["type"] == "thinking"
    assert thinking["thinking"].startswith("The user wants the weather in Paris.")
    assert thinking["signature"].startswith("EqQBCgIYAhIM")
    assert tool_use == {
        "type": "tool_use",
        "id": "toolu_01D7FLrfh4GYq7yT1ULFeyMV",
        "name": "get_weather",
        "input": {"location": "Paris"},
    }
    usage = next(e.usage for e in events if hasattr(e, "usage"))
    # input_tokens counts the cached tokens too (Anthropic reports them apart)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (2201, 2159, 89)


async def test_gemini_function_call_stream_with_thought_signature() -> None:
    payload = fixture("gemini/stream_thinking_function_call_signature.sse")
    events = await stream_events("gemini", payload)
    (delta,) = [e for e in events if isinstance(e, ToolCallDelta)]
    (call,) = [e.tool_call for e in events if isinstance(e, ToolCallEvent)]
    assert (delta.index, delta.id, delta.name, delta.arguments_delta) == (0, call.id, "now", "{}")
    (turn,) = [e.turn for e in events if isinstance(e, TurnEvent)]
    thought, function_call = turn.blocks  # the two thought chunks joined into one part
    assert thought["thought"] is True
    assert thought["text"].startswith("**Calculating the Days**")
    assert function_call["thoughtSignature"].startswith("CiIBVKhc7vB")
    finish = events[-1]
    assert getattr(finish, "finish_reason", None) is FinishReason.TOOL_CALLS


async def test_ollama_whole_tool_call_is_one_delta() -> None:
    events = await stream_events("ollama", fixture("ollama/chat_stream_tool_call.ndjson"))
    (delta,) = [e for e in events if isinstance(e, ToolCallDelta)]
    (call,) = [e.tool_call for e in events if isinstance(e, ToolCallEvent)]
    assert (delta.index, delta.id, delta.name) == (0, call.id, "get_weather")
    assert json.loads(delta.arguments_delta) == call.arguments == {"location": "Paris"}
    assert call.id  # invented: Ollama gives none


async def test_anthropic_message_with_thinking_and_cache_usage() -> None:
    payload = json.loads(fixture("anthropic/message_thinking_tool_use_cached.json"))
    result = await adapter("anthropic", Recorder(payload)).generate(
        request("anthropic", prompt="w")
    )
    assert result.tool_calls == (
        ToolCall("toolu_01D7FLrfh4GYq7yT1ULFeyMV", "get_weather", {"location": "Paris"}),
    )
    assert result.usage.input_tokens == 42 + 1024 + 2159
    assert (result.usage.cache_read_tokens, result.usage.cache_write_tokens) == (2159, 1024)
    assert result.native is not None
    assert [b["type"] for b in result.native.blocks] == [
        "thinking",
        "redacted_thinking",
        "tool_use",
    ]


# --- the thinking round trip --------------------------------------------------------------------


async def test_the_anthropic_signature_goes_back_to_anthropic_and_never_to_openai() -> None:
    payload = json.loads(fixture("anthropic/message_thinking_tool_use_cached.json"))
    first = await adapter("anthropic", Recorder(payload)).generate(
        request("anthropic", prompt="Weather in Paris?", tools=(WEATHER.to_openai(),))
    )
    history = (
        Message("user", "Weather in Paris?"),
        first.message,
        Message("tool", '{"temp_c": 18}', tool_call_id=first.tool_calls[0].id),
    )
    anthropic_body = await sent_body("anthropic", request("anthropic", messages=history))
    replayed = anthropic_body["messages"][1]["content"]
    assert replayed == list(payload["content"])  # exactly as received, signature included
    openai_body = await sent_body("openai", request("openai", messages=history))
    assistant = openai_body["messages"][1]
    assert assistant["content"] is None
    assert "signature" not in json.dumps(openai_body)
    assert "The user wants" not in json.dumps(openai_body)  # thinking is never text
    assert assistant["tool_calls"][0]["id"] == "toolu_01D7FLrfh4GYq7yT1ULFeyMV"
    assert openai_body["messages"][2]["tool_call_id"] == "toolu_01D7FLrfh4GYq7yT1ULFeyMV"


async def test_the_gemini_signature_goes_back_to_gemini() -> None:
    payload = fixture("gemini/stream_thinking_function_call_signature.sse")
    rec = Recorder(payload, sse=True)
    async with adapter("gemini", rec).stream(request("gemini", prompt="days?")) as events:
        (turn,) = [e.turn async for e in events if isinstance(e, TurnEvent)]
    result = GenerateResult(
        content="",
        provider="gemini",
        model="m",
        tool_calls=(ToolCall("call_0", "now"),),
        native=turn,
    )
    message = result.message
    history = (Message("user", "days?"), message, Message("tool", "2025-07-28", "now", "call_0"))
    body = await sent_body("gemini", request("gemini", messages=history))
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"] == list(turn.blocks)
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "now"
    other = await sent_body("anthropic", request("anthropic", messages=history))
    assert "thoughtSignature" not in json.dumps(other)


# --- placement in each provider's body ----------------------------------------------------------


async def test_tools_and_tool_choice_placement() -> None:
    tools = (WEATHER.to_openai(),)
    named = NamedToolChoice("get_weather")
    body = await sent_body(
        "openai",
        request("openai", prompt="w", tools=tools, tool_choice=named, parallel_tool_calls=False),
    )
    assert body["tools"] == [WEATHER.to_openai()]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False

    body = await sent_body(
        "anthropic",
        request(
            "anthropic", prompt="w", tools=tools, tool_choice="required", parallel_tool_calls=False
        ),
    )
    assert body["tools"][0]["input_schema"] == WEATHER.parameters
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    body = await sent_body(
        "anthropic", request("anthropic", prompt="w", tools=tools, tool_choice="none")
    )
    assert body["tool_choice"] == {"type": "none"}

    body = await sent_body("gemini", request("gemini", prompt="w", tools=tools, tool_choice=named))
    assert body["tools"] == [{"functionDeclarations": [WEATHER.to_openai()["function"]]}]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    body = await sent_body("gemini", request("gemini", prompt="w", tools=tools, tool_choice="none"))
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}

    body = await sent_body("ollama", request("ollama", prompt="w", tools=tools))
    assert body["tools"] == [WEATHER.to_openai()]
    assert "tool_choice" not in body


async def test_response_format_placement() -> None:
    fmt = ResponseFormat("json_schema", SCHEMA, name="weather", strict=True)
    body = await sent_body("openai", request("openai", prompt="w", response_format=fmt))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
    }
    body = await sent_body("llamacpp", request("llamacpp", prompt="w", response_format=fmt))
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA

    body = await sent_body("gemini", request("gemini", prompt="w", response_format=fmt))
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    # additionalProperties is kept (Gemini takes it); what it rejects is removed
    assert config["responseJsonSchema"]["required"] == ["city", "temperature_c"]
    odd = ResponseFormat("json_schema", {**SCHEMA, "$comment": "x", "oneOf": [{"type": "object"}]})
    config = (await sent_body("gemini", request("gemini", prompt="w", response_format=odd)))[
        "generationConfig"
    ]
    assert "$comment" not in config["responseJsonSchema"]
    assert config["responseJsonSchema"]["anyOf"] == [{"type": "object"}]

    body = await sent_body("anthropic", request("anthropic", prompt="w", response_format=fmt))
    assert body["tools"][-1]["name"] == "weather"
    assert body["tools"][-1]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}

    body = await sent_body("ollama", request("ollama", prompt="w", response_format=fmt))
    assert body["format"] == SCHEMA
    body = await sent_body(
        "ollama", request("ollama", prompt="w", response_format=ResponseFormat("json_object"))
    )
    assert body["format"] == "json"


async def test_images_placement() -> None:
    content = (TextPart("What is this?"), ImagePart(PNG), ImagePart("https://x.test/cat.webp"))
    msgs = (Message("user", content),)
    body = await sent_body("openai", request("openai", messages=msgs))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.webp"}},
    ]
    body = await sent_body("anthropic", request("anthropic", messages=msgs))
    assert body["messages"][0]["content"][1:] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.webp"}},
    ]
    body = await sent_body("gemini", request("gemini", messages=msgs))
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/cat.webp"}},
    ]
    inline = (Message("user", (TextPart("What is this?"), ImagePart(PNG))),)
    body = await sent_body("ollama", request("ollama", messages=inline))
    assert body["messages"][0] == {
        "role": "user",
        "content": "What is this?",
        "images": ["iVBORw0KGgo="],
    }


async def test_reasoning_effort_placement() -> None:
    body = await sent_body("openai", request("openai", prompt="w", reasoning_effort="high"))
    assert body["reasoning_effort"] == "high"
    body = await sent_body(
        "anthropic", request("anthropic", prompt="w", reasoning_effort="medium", max_tokens=1000)
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 1000 + 8192  # the answer still gets its 1000 tokens
    body = await sent_body("gemini", request("gemini", prompt="w", reasoning_effort="low"))
    assert body["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    g3 = GenerateRequest(model="gemini-3-pro-preview", prompt="w", reasoning_effort="high")
    body = await sent_body("gemini", g3)
    assert body["generationConfig"]["thinkingConfig"]["thinkingLevel"] == "high"
    body = await sent_body("ollama", request("ollama", prompt="w", reasoning_effort="low"))
    assert body["think"] is True
    oss = GenerateRequest(model="gpt-oss:20b", prompt="w", reasoning_effort="low")
    assert (await sent_body("ollama", oss))["think"] == "low"


async def test_anthropic_cannot_think_with_a_forced_tool() -> None:
    forced = request(
        "anthropic",
        prompt="w",
        reasoning_effort="low",
        response_format=ResponseFormat("json_object"),
    )
    with pytest.raises(UnsupportedError, match="forced tool"):
        await adapter("anthropic", Recorder()).generate(forced)


async def test_cache_breakpoints_reach_anthropic_only() -> None:
    msgs = (Message("user", "long document", cache=True), Message("assistant", "ok"))
    req = request("anthropic", system_prompt="Be terse.", cache_system=True, messages=msgs)
    body = await sent_body("anthropic", req)
    assert body["system"] == [
        {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "long document", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"][1]["content"] == "ok"
    body = await sent_body("openai", attrs.evolve(req, model="gpt-4o"))
    assert "cache_control" not in json.dumps(body)


# --- structured output: parsed, and the typed error -------------------------------------------


async def test_parsed_holds_the_validated_object() -> None:
    payload = json.loads(fixture("openai/chat_completion_json_schema_cached.json"))
    fmt = ResponseFormat("json_schema", {**SCHEMA, "additionalProperties": True}, name="weather")
    result = await adapter("openai", Recorder(payload)).generate(
        request("openai", prompt="w", response_format=fmt)
    )
    assert result.parsed == {"city": "Paris", "temperature_c": 18.5, "conditions": "partly cloudy"}
    assert (result.usage.input_tokens, result.usage.cache_read_tokens) == (1524, 1408)


async def test_anthropic_structured_output_comes_from_the_forced_tool() -> None:
    payload = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "weather",
                "input": {"city": "Paris", "temperature_c": 18.5},
            }
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    fmt = ResponseFormat("json_schema", SCHEMA, name="weather")
    result = await adapter("anthropic", Recorder(payload)).generate(
        request("anthropic", prompt="w", response_format=fmt)
    )
    assert result.parsed == {"city": "Paris", "temperature_c": 18.5}
    assert json.loads(result.content) == result.parsed
    assert result.tool_calls == ()
    assert result.finish_reason is FinishReason.STOP


def _ollama_reply(text: str) -> dict[str, Any]:
    return {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
    }


async def test_a_reply_that_does_not_validate_is_a_typed_error() -> None:
    fmt = ResponseFormat("json_schema", SCHEMA)
    bad = Recorder(_ollama_reply('{"city": "Paris"}'))
    with pytest.raises(StructuredOutputError, match="temperature_c") as info:
        await adapter("ollama", bad).generate(request("ollama", prompt="w", response_format=fmt))
    assert info.value.raw_text == '{"city": "Paris"}'
    assert not info.value.retryable
    retry = request("ollama", prompt="w", response_format=fmt, invalid_output="retry")
    with pytest.raises(StructuredOutputError) as info:
        await adapter("ollama", bad).generate(retry)
    assert info.value.retryable
    keep = request("ollama", prompt="w", response_format=fmt, invalid_output="return")
    result = await adapter("ollama", bad).generate(keep)
    assert result.parsed is None
    assert result.content == '{"city": "Paris"}'


async def test_a_streamed_reply_that_does_not_validate_interrupts_the_stream() -> None:
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "not json"}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True},
    ]
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
    with pytest.raises(StreamInterruptedError) as info:
        await stream_events("ollama", payload, response_format=ResponseFormat("json_object"))
    assert isinstance(info.value.cause, StructuredOutputError)
    assert info.value.cause.raw_text == "not json"


async def test_malformed_tool_arguments_keep_the_raw_text() -> None:
    payload = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"location": '},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    with pytest.raises(ToolArgumentsError) as info:
        await adapter("openai", Recorder(payload)).generate(request("openai", prompt="w"))
    assert info.value.raw_arguments == '{"location": '
    assert info.value.tool_name == "get_weather"


# --- what each adapter says it supports ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("openai", set()),
        ("openai_compatible", set()),
        ("anthropic", {"seed", "presence_penalty", "frequency_penalty"}),
        ("gemini", {"parallel_tool_calls"}),
        ("ollama", {"tool_choice", "parallel_tool_calls", "image_urls"}),
        ("llamacpp", {"reasoning_effort", "image_urls"}),
    ],
)
def test_unsupported_features_are_declared(kind: str, missing: set[str]) -> None:
    from hafs_actors.types import FEATURE_PARAMS, OPTIONAL_PARAMS

    supported = adapter(kind, Recorder()).supported_params  # type: ignore[attr-defined]
    assert set(OPTIONAL_PARAMS + FEATURE_PARAMS) - supported == missing
