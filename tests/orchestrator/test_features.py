"""Tools, structured output, images and reasoning through ``UnifiedOrchestrator``: the boundary
rejects malformed input before anything is sent, routing skips (or drops for) a provider that
cannot honour a feature, and a streamed tool call commits the stream.

The emulators do not speak these features yet, so the providers are ``httpx.MockTransport``
handlers serving recorded payloads (tests/fixtures/).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hafs_actors import UnifiedOrchestrator
from hafs_actors.config import HafsConfig, ProviderConfig
from hafs_actors.errors import (
    AllProvidersFailed,
    InvalidRequestError,
    InvalidRequestTypeError,
    StreamInterruptedError,
)
from hafs_actors.types import ResponseFormat, Tool, ToolCallDelta, ToolCallEvent
from tests._paths import FIXTURES

WEATHER = Tool("get_weather", "The weather", {"type": "object", "properties": {}})
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def _config() -> HafsConfig:
    return HafsConfig(
        providers=[
            ProviderConfig(name="openai", api_key="k-test-123456", default_model="gpt-4o"),
            ProviderConfig(name="ollama", enabled=True, default_model="llama3.2"),
        ]
    )


class Served:
    """Per provider: the recorded reply and the bodies received."""

    def __init__(self, replies: dict[str, tuple[bytes, str]]) -> None:
        self.replies = replies
        self.bodies: dict[str, list[dict[str, Any]]] = {name: [] for name in replies}

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {name: httpx.MockTransport(self._handler(name)) for name in self.replies}

    def _handler(self, name: str) -> Any:
        def handle(request: httpx.Request) -> httpx.Response:
            self.bodies[name].append(json.loads(request.content))
            body, kind = self.replies[name]
            return httpx.Response(200, content=body, headers={"content-type": kind})

        return handle


def _ollama_json(text: str) -> tuple[bytes, str]:
    reply = {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 5,
        "eval_count": 3,
    }
    return json.dumps(reply).encode(), "application/json"


def _openai_json(text: str) -> tuple[bytes, str]:
    reply = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    return json.dumps(reply).encode(), "application/json"


def _fn(**function: Any) -> list[dict[str, Any]]:
    return [{"type": "function", "function": function}]


def _user(*parts: Any, role: str = "user") -> list[dict[str, Any]]:
    return [{"role": role, "content": list(parts)}]


def _image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


_NAMED_OTHER = {"type": "function", "function": {"name": "other"}}
_CONTENT = "messages[0].content"


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"tools": _fn(name="bad name!")}, InvalidRequestError, "tools[0].function.name"),
        (
            {"tools": _fn(name="f", parameters={"type": 3})},
            InvalidRequestError,
            "tools[0].function.parameters",
        ),
        ({"tools": ["get_weather"]}, InvalidRequestTypeError, "tools[0]"),
        ({"tool_choice": "auto"}, InvalidRequestError, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": "always"}, InvalidRequestError, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": _NAMED_OTHER}, InvalidRequestError, "tool_choice"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            InvalidRequestTypeError,
            "response_format.json_schema.schema",
        ),
        ({"response_format": {"type": "xml"}}, InvalidRequestError, "response_format.type"),
        ({"reasoning_effort": "max"}, InvalidRequestError, "reasoning_effort"),
        ({"parallel_tool_calls": "yes"}, InvalidRequestTypeError, "parallel_tool_calls"),
        (
            {"messages": _user(_image("ftp://x/y.png"))},
            InvalidRequestError,
            f"{_CONTENT}[0].image_url.url",
        ),
        (
            {"messages": _user(_image("data:image/png;base64,@@@"))},
            InvalidRequestError,
            f"{_CONTENT}[0].image_url.url",
        ),
        ({"messages": _user({"type": "audio"})}, InvalidRequestError, f"{_CONTENT}[0].type"),
        (
            {"messages": _user(_image("https://x/y.png"), role="system")},
            InvalidRequestError,
            _CONTENT,
        ),
    ],
)
async def test_bad_input_is_a_typed_error_before_anything_is_sent(
    kwargs: dict[str, Any], error: type[Exception], argument: str
) -> None:
    served = Served({"openai": _openai_json("{}")})
    async with UnifiedOrchestrator(_config(), transports=served.transports()) as orch:
        kwargs.setdefault("messages", [{"role": "user", "content": "hi"}])
        with pytest.raises(error) as info:
            await orch.generate(provider="openai", **kwargs)
    assert getattr(info.value, "argument", None) == argument
    assert served.bodies["openai"] == []


async def test_a_provider_without_tool_choice_is_skipped_with_a_reason() -> None:
    served = Served({"ollama": _ollama_json("hi"), "openai": _openai_json("hi")})
    async with UnifiedOrchestrator(_config(), transports=served.transports()) as orch:
        result = await orch.generate(
            "w",
            fallback_providers=["ollama", "openai"],
            tools=[WEATHER],
            tool_choice="required",
        )
        assert result.provider == "openai"
        skipped = result.attempts[0]
        assert (skipped.provider, skipped.outcome) == ("ollama", "skipped")
        assert skipped.error == "unsupported parameter(s): tool_choice"
        dropped = await orch.generate(
            "w",
            provider="ollama",
            allow_fallback=False,
            tools=[WEATHER],
            tool_choice="required",
            drop_unsupported_params=True,
        )
    assert dropped.provider == "ollama"
    assert "tool_choice" not in served.bodies["ollama"][-1]
    assert served.bodies["ollama"][-1]["tools"][0]["function"]["name"] == "get_weather"


async def test_an_image_url_is_never_sent_to_ollama() -> None:
    served = Served({"ollama": _ollama_json("a cat"), "openai": _openai_json("a cat")})
    image = {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "What?"}, image]}]
    async with UnifiedOrchestrator(_config(), transports=served.transports()) as orch:
        result = await orch.generate(messages=messages, fallback_providers=["ollama", "openai"])
    assert result.provider == "openai"
    assert "image_urls" in (result.attempts[0].error or "")  # never fetched, never sent
    assert served.bodies["ollama"] == []


async def test_structured_output_falls_back_on_a_reply_that_does_not_validate() -> None:
    served = Served(
        {"ollama": _ollama_json('{"town": "Paris"}'), "openai": _openai_json('{"city": "Paris"}')}
    )
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
    async with UnifiedOrchestrator(_config(), transports=served.transports()) as orch:
        result = await orch.generate(
            "Where?", fallback_providers=["ollama", "openai"], response_format=fmt
        )
        assert result.parsed == {"city": "Paris"}
        assert result.attempts[0].outcome == "StructuredOutputError"
        with pytest.raises(AllProvidersFailed):
            await orch.generate(
                "Where?",
                provider="ollama",
                allow_fallback=False,
                response_format=ResponseFormat("json_schema", SCHEMA),
            )
        kept = await orch.generate(
            "Where?",
            provider="ollama",
            allow_fallback=False,
            response_format=fmt,
            invalid_output="return",
        )
    assert kept.parsed is None
    assert kept.content == '{"town": "Paris"}'
    assert served.bodies["ollama"][0]["format"] == SCHEMA


async def test_streamed_tool_call_deltas_reach_the_caller_and_commit_the_stream() -> None:
    tool_stream = (FIXTURES / "openai/chat_stream_parallel_tool_calls.sse").read_bytes()
    served = Served({"openai": (tool_stream, "text/event-stream")})
    async with (
        UnifiedOrchestrator(_config(), transports=served.transports()) as orch,
        orch.stream("Weather in Paris and Tokyo?", provider="openai", tools=[WEATHER]) as stream,
    ):
        events = [event async for event in stream.events()]
        result = stream.result
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {d.index for d in deltas} == {0, 1}
    assert [e.tool_call.arguments for e in events if isinstance(e, ToolCallEvent)] == [
        {"location": "Paris"},
        {"location": "Tokyo"},
    ]
    assert [c.name for c in result.tool_calls] == ["get_weather", "get_weather"]
    assert result.usage.cache_read_tokens == 1920
    assert served.bodies["openai"][0]["tools"] == [WEATHER.to_openai()]


async def test_no_fallback_after_a_tool_call_delta() -> None:
    call = {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": '{"l'}}
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}],
    }
    cut = f"data: {json.dumps(chunk)}\n\n".encode()  # ends before any finish: a cut stream
    served = Served({"openai": (cut, "text/event-stream"), "ollama": _ollama_json("hi")})
    async with (
        UnifiedOrchestrator(_config(), transports=served.transports()) as orch,
        orch.stream("w", fallback_providers=["openai", "ollama"], tools=[WEATHER]) as stream,
    ):
        with pytest.raises(StreamInterruptedError):
            async for _ in stream.events():
                pass
    assert served.bodies["ollama"] == []
