"""Tools, structured output, prompt caching and thinking through ``UnifiedOrchestrator``, the
real adapters and the in-process emulators (loopback sockets, MockClock): what each adapter
sends, the emulator accepts strictly, and what the emulator answers, the adapter parses."""

from __future__ import annotations

from typing import Any

import attrs
import jsonschema
import pytest
from trio.testing import MockClock

from hafs_actors.errors import AllProvidersFailed
from hafs_actors.types import (
    FinishReason,
    Message,
    ProviderTurn,
    Tool,
    ToolCallDelta,
    ToolCallEvent,
    TurnEvent,
)
from tests.orchestrator._helpers import running

WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 3},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit", "days"],
        "additionalProperties": False,
    },
)
TIME = Tool(
    "get_time",
    "The time in a zone",
    {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
)
SCHEMAS = {tool.name: tool.parameters for tool in (WEATHER, TIME)}
# Strict-mode compatible: every property required, no additional ones, at every level.
PLACE = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population": {"type": "integer", "minimum": 1000},
        "kind": {"type": "string", "enum": ["capital", "town"]},
        "districts": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "area": {"type": "number"}},
                "required": ["name", "area"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["city", "population", "kind", "districts"],
    "additionalProperties": False,
}
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2",
    "llamacpp": "local",
}
# Over 1024 tokens: long enough for OpenAI's, Gemini's and Claude Sonnet's prompt caches.
LONG_SYSTEM = " ".join(f"Rule {n}: answer briefly and cite the source." for n in range(200))


@pytest.mark.parametrize("provider", list(MODELS))
async def test_a_streamed_tool_call_arrives_as_deltas_then_the_assembled_call(
    autojump_clock: MockClock, provider: str
) -> None:
    """The prompt names two tools: both are called, each announced by its first delta."""
    async with running([provider]) as (orch, _):
        async with orch.stream(
            "Please call get_weather for Paris, then call get_time.",
            provider=provider,
            model=MODELS[provider],
            tools=[WEATHER, TIME],
        ) as stream:
            events = [event async for event in stream.events()]
        result = stream.result
        plain = await orch.generate(
            "Please call get_weather for Paris, then call get_time.",
            provider=provider,
            model=MODELS[provider],
            tools=[WEATHER, TIME],
        )
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    calls = [e.tool_call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert {d.index for d in deltas} == {0, 1}
    first = next(d for d in deltas if d.index == 0)
    assert (first.name, first.id) == ("get_weather", calls[0].id)
    assert events.index(first) < events.index(
        next(e for e in events if isinstance(e, ToolCallEvent))
    )
    for call in calls:
        jsonschema.validate(dict(call.arguments), dict(SCHEMAS[call.name]))
    assert result.tool_calls == tuple(calls)
    assert result.finish_reason is FinishReason.TOOL_CALLS
    assert [(c.name, c.arguments) for c in plain.tool_calls] == [
        (c.name, c.arguments) for c in calls
    ]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_parallel_tool_calls_off_keeps_one_call(
    autojump_clock: MockClock, provider: str
) -> None:
    async with running([provider]) as (orch, _):
        result = await orch.generate(
            "call get_weather and call get_time",
            provider=provider,
            model=MODELS[provider],
            tools=[WEATHER, TIME],
            parallel_tool_calls=False,
        )
    assert [c.name for c in result.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("stream", [False, True])
async def test_a_json_schema_request_gets_a_reply_that_validates(
    autojump_clock: MockClock, provider: str, stream: bool
) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": PLACE, "strict": True}}
    async with running([provider]) as (orch, _):
        kwargs: dict[str, Any] = {
            "provider": provider,
            "model": MODELS[provider],
            "response_format": fmt,
            "allow_fallback": False,
        }
        if stream:
            async with orch.stream("Describe Paris", **kwargs) as response:
                async for _ in response:
                    pass
            result = response.result
        else:
            result = await orch.generate("Describe Paris", **kwargs)
    jsonschema.validate(result.parsed, PLACE)
    assert len(result.parsed["districts"]) == 2


@pytest.mark.parametrize("provider", ["openai", "gemini", "ollama"])
async def test_a_json_object_request_gets_a_json_object(
    autojump_clock: MockClock, provider: str
) -> None:
    async with running([provider]) as (orch, _):
        result = await orch.generate(
            "Answer in JSON: where is Paris?",
            provider=provider,
            model=MODELS[provider],
            response_format={"type": "json_object"},
        )
    assert isinstance(result.parsed, dict)
    assert result.parsed


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_cache_usage_on_the_second_identical_request(
    autojump_clock: MockClock, provider: str
) -> None:
    """OpenAI and Gemini cache long prompts by themselves; Anthropic at the breakpoint the
    adapter puts after the system prompt (``cache_system``), written the first time."""
    async with running([provider]) as (orch, _):
        kwargs: dict[str, Any] = {
            "provider": provider,
            "model": MODELS[provider],
            "system_prompt": LONG_SYSTEM,
            "cache_system": provider == "anthropic",
        }
        first = await orch.generate("Summarize the rules.", **kwargs)
        second = await orch.generate("Summarize the rules.", **kwargs)
    assert not first.usage.cache_read_tokens
    cached = second.usage.cache_read_tokens
    assert cached is not None
    assert cached >= 1024
    assert second.usage.input_tokens == first.usage.input_tokens  # cached tokens included
    if provider == "openai":
        assert cached % 128 == 0
    if provider == "anthropic":
        assert first.usage.cache_write_tokens == cached  # the system prompt, written once
        assert not second.usage.cache_write_tokens


async def test_openai_reasoning_tokens(autojump_clock: MockClock) -> None:
    async with running(["openai"]) as (orch, _):
        result = await orch.generate(
            "Think about it.", provider="openai", model="gpt-5.2-mini", reasoning_effort="low"
        )
    assert result.usage.reasoning_tokens
    assert result.usage.output_tokens is not None
    assert result.usage.output_tokens > result.usage.reasoning_tokens


def _altered(message: Message, key: str) -> Message:
    """``message`` with the first signature in its native turn changed by one character."""
    assert message.native is not None
    blocks = [dict(block) for block in message.native.blocks]
    signed = next(block for block in blocks if key in block)
    signed[key] = ("A" if signed[key][0] != "A" else "B") + signed[key][1:]
    return attrs.evolve(message, native=ProviderTurn(message.native.dialect, tuple(blocks)))


@pytest.mark.parametrize(
    ("provider", "key", "rejection"),
    [
        ("anthropic", "signature", "Invalid `signature` in `thinking` block"),
        ("gemini", "thoughtSignature", "Corrupted thought signature."),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_round_trip_replays_the_signed_turn(
    autojump_clock: MockClock, provider: str, key: str, rejection: str, stream: bool
) -> None:
    """The assistant turn (thinking and its signature, then the tool call) goes back with the
    tool result; the emulator checks the signature it gave, and refuses an altered one."""
    async with running([provider]) as (orch, _):
        kwargs: dict[str, Any] = {
            "provider": provider,
            "model": MODELS[provider],
            "tools": [WEATHER],
            "reasoning_effort": "low",
            "allow_fallback": False,
        }
        ask = Message(role="user", content="call get_weather for Paris")
        if stream:
            async with orch.stream(messages=[ask], **kwargs) as response:
                events = [event async for event in response.events()]
            assert any(isinstance(e, TurnEvent) for e in events)
            first = response.result
        else:
            first = await orch.generate(messages=[ask], **kwargs)
        assert first.thought_content
        (call,) = first.tool_calls
        answer = Message(role="tool", content="sunny", tool_call_id=call.id, name=call.name)
        replayed = await orch.generate(messages=[ask, first.message, answer], **kwargs)
        with pytest.raises(AllProvidersFailed) as refused:
            await orch.generate(messages=[ask, _altered(first.message, key), answer], **kwargs)
    assert replayed.content
    assert not replayed.tool_calls
    assert rejection in str(refused.value)
    assert "BadRequestError" in str(refused.value)


async def test_anthropic_refuses_a_tool_turn_without_its_thinking(
    autojump_clock: MockClock,
) -> None:
    async with running(["anthropic"]) as (orch, _):
        kwargs: dict[str, Any] = {
            "provider": "anthropic",
            "model": "claude-sonnet-4",
            "tools": [WEATHER],
            "reasoning_effort": "low",
            "allow_fallback": False,
        }
        ask = Message(role="user", content="call get_weather for Paris")
        first = await orch.generate(messages=[ask], **kwargs)
        bare = attrs.evolve(first.message, native=None)  # thinking dropped: tool_use only
        (call,) = first.tool_calls
        answer = Message(role="tool", content="sunny", tool_call_id=call.id)
        with pytest.raises(AllProvidersFailed) as refused:
            await orch.generate(messages=[ask, bare, answer], **kwargs)
    assert "Expected `thinking` or `redacted_thinking`, but found `tool_use`" in str(refused.value)
