"""The official SDKs are the judges: each completes its calls against ``hafs emulate``.

One ``hafs emulate`` subprocess serves the whole module; the SDKs' sync clients talk to it with
their own retries off. Faults for the error cases are set through the admin endpoint.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from hafs_actors.testing.emulators import count_tokens

from ._helpers import hafs_emulate

Emulators = dict[str, Any]


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    with hafs_emulate("--port", "0", "--json", "--seed", "5") as (_process, line):
        yield json.loads(line)


class Clients:
    """SDK clients aimed at the emulators; closed (and faults cleared) after each test."""

    def __init__(self, emulators: Emulators, admin: httpx.Client) -> None:
        self.emulators = emulators
        self._admin = admin
        self._stack = contextlib.ExitStack()
        self._faulted: set[str] = set()

    def set_faults(self, provider: str, *faults: dict[str, Any]) -> None:
        url = self.emulators[provider]["base_url"] + "/_emulator/faults"
        response = self._admin.post(url, json={"faults": list(faults)})
        assert response.status_code == 200, response.text
        self._faulted.add(provider)

    def close(self) -> None:
        self._stack.close()
        for provider in self._faulted:
            self._admin.delete(self.emulators[provider]["base_url"] + "/_emulator/faults")

    def openai(self, provider: str = "openai", api_key: str | None = None) -> openai.OpenAI:
        emulator = self.emulators[provider]
        return self._stack.enter_context(
            openai.OpenAI(
                base_url=emulator["base_url"] + "/v1",
                api_key=api_key or emulator["api_key"],
                max_retries=0,
            )
        )

    def anthropic(self) -> anthropic.Anthropic:
        emulator = self.emulators["anthropic"]
        return self._stack.enter_context(
            anthropic.Anthropic(
                base_url=emulator["base_url"], api_key=emulator["api_key"], max_retries=0
            )
        )

    def gemini(self) -> genai.Client:
        emulator = self.emulators["gemini"]
        options = genai_types.HttpOptions(base_url=emulator["base_url"])
        return self._stack.enter_context(
            genai.Client(api_key=emulator["api_key"], http_options=options)
        )

    def ollama(self) -> ollama.Client:
        return self._stack.enter_context(ollama.Client(host=self.emulators["ollama"]["base_url"]))


@pytest.fixture(scope="module")
def admin() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def sdk(emulators: Emulators, admin: httpx.Client) -> Iterator[Clients]:
    clients = Clients(emulators, admin)
    try:
        yield clients
    finally:
        clients.close()


# --- OpenAI ---------------------------------------------------------------------------------


def test_openai_sdk_chat_stream_embeddings(sdk: Clients) -> None:
    client = sdk.openai()
    messages: Any = [{"role": "user", "content": "Write a haiku"}]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = completion.choices[0].message.content
    assert text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == count_tokens(text)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == completion.usage.total_tokens
    embedded = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])  # base64
    as_float = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )
    assert [len(d.embedding) for d in embedded.data] == [1536, 1536]
    assert [d.embedding for d in embedded.data] == [d.embedding for d in as_float.data]
    assert embedded.usage.prompt_tokens == 2


def test_openai_sdk_tool_call(sdk: Clients) -> None:
    client = sdk.openai()
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "parameters": {
                    "type": "object",
                    "properties": {"zone": {"type": "string"}},
                    "required": ["zone"],
                },
            },
        }
    ]
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "what time is it?"}],
        tools=tools,
        tool_choice="required",
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"  # type: ignore[union-attr]
    assert set(json.loads(call.function.arguments)) == {"zone"}  # type: ignore[union-attr]


def test_openai_sdk_raises_its_own_errors(sdk: Clients) -> None:
    client = sdk.openai()
    messages: Any = [{"role": "user", "content": "hi"}]
    sdk.set_faults("openai", {"kind": "rate_limit", "retry_after": 1, "count": 1})
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert limited.value.status_code == 429
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=messages)
    with pytest.raises(openai.AuthenticationError):
        sdk.openai(api_key="wrong").models.list()
    sdk.set_faults("openai", {"kind": "stream_error", "after_chunks": 2, "count": 1})
    with pytest.raises(openai.APIError, match="Internal server error"):
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True
        ):
            pass


def test_openai_sdk_against_llamacpp(sdk: Clients) -> None:
    client = sdk.openai("llamacpp")
    messages: Any = [{"role": "user", "content": "hello"}]
    completion = client.chat.completions.create(model="local", messages=messages)
    assert completion.choices[0].message.content
    chunks = list(client.chat.completions.create(model="local", messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == completion.choices[0].message.content
    assert chunks[-1].usage is not None  # llama.cpp puts usage in the finish chunk
    assert chunks[-1].usage.completion_tokens == count_tokens(streamed)
    embedded = client.embeddings.create(model="local", input="hello")
    assert len(embedded.data[0].embedding) == 768


# --- Anthropic ------------------------------------------------------------------------------


def test_anthropic_sdk_messages_and_stream(sdk: Clients) -> None:
    client = sdk.anthropic()
    messages: Any = [{"role": "user", "content": "Hello, Claude"}]
    message = client.messages.create(
        model="claude-sonnet-4-20250514", max_tokens=200, messages=messages
    )
    text = "".join(b.text for b in message.content if b.type == "text")
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == count_tokens(text)
    with client.messages.stream(
        model="claude-sonnet-4-20250514", max_tokens=200, messages=messages
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text
    assert final.usage.input_tokens == message.usage.input_tokens
    assert final.usage.output_tokens == message.usage.output_tokens
    assert (
        client.messages.count_tokens(
            model="claude-sonnet-4-20250514", messages=messages
        ).input_tokens
        == message.usage.input_tokens
    )


def test_anthropic_sdk_raises_its_own_errors(sdk: Clients) -> None:
    client = sdk.anthropic()
    messages: Any = [{"role": "user", "content": "hi"}]
    sdk.set_faults("anthropic", {"kind": "rate_limit", "count": 1})
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=messages)
    assert limited.value.response.headers["retry-after"] == "1"
    assert limited.value.request_id is not None
    sdk.set_faults("anthropic", {"kind": "http_error", "status": 529, "count": 1})
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=messages)
    sdk.set_faults("anthropic", {"kind": "stream_error", "count": 1})
    with (
        pytest.raises(anthropic.APIStatusError) as mid_stream,
        client.messages.stream(model="claude-sonnet-4", max_tokens=50, messages=messages) as stream,
    ):
        for _ in stream.text_stream:
            pass
    assert mid_stream.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


# --- Gemini ---------------------------------------------------------------------------------


def test_google_genai_generate_stream_embed(sdk: Clients) -> None:
    client = sdk.gemini()
    response = client.models.generate_content(
        model="gemini-3-flash-preview", contents="Explain how AI works"
    )
    assert response.text
    usage = response.usage_metadata
    assert usage is not None
    assert usage.candidates_token_count == count_tokens(response.text)
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-3-flash-preview", contents="Explain how AI works"
        )
    )
    assert "".join(c.text or "" for c in chunks) == response.text
    last_usage = chunks[-1].usage_metadata
    assert last_usage is not None
    assert last_usage.total_token_count == usage.total_token_count
    embedded = client.models.embed_content(model="text-embedding-004", contents=["a", "b"])
    assert embedded.embeddings is not None
    assert [len(e.values or []) for e in embedded.embeddings] == [768, 768]


def test_google_genai_raises_on_429_and_mid_stream_errors(sdk: Clients) -> None:
    client = sdk.gemini()
    sdk.set_faults("gemini", {"kind": "rate_limit", "retry_after": 7, "count": 1})
    with pytest.raises(genai_errors.ClientError) as limited:
        client.models.generate_content(model="gemini-3-flash-preview", contents="hi")
    assert limited.value.code == 429
    assert limited.value.status == "RESOURCE_EXHAUSTED"
    sdk.set_faults("gemini", {"kind": "stream_error", "count": 1})
    with pytest.raises(genai_errors.APIError) as mid_stream:
        for _ in client.models.generate_content_stream(
            model="gemini-3-flash-preview", contents="hi"
        ):
            pass
    assert mid_stream.value.code == 503


# --- Ollama ---------------------------------------------------------------------------------


def test_ollama_sdk_chat_generate_embed(sdk: Clients) -> None:
    client = sdk.ollama()
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    reply = client.chat(model="llama3.2", messages=messages)
    assert reply.message.content
    assert reply.done_reason == "stop"
    assert reply.eval_count == count_tokens(reply.message.content)
    parts = list(client.chat(model="llama3.2", messages=messages, stream=True))
    assert "".join(p.message.content or "" for p in parts) == reply.message.content
    assert parts[-1].done
    assert parts[-1].eval_count == reply.eval_count
    generated = client.generate(model="qwen2.5-coder:14b", prompt="def add(a, b):")
    assert generated.response
    assert generated.prompt_eval_count == count_tokens("def add(a, b):")
    embedded = client.embed(model="nomic-embed-text", input=["a", "b"])
    assert [len(v) for v in embedded.embeddings] == [768, 768]
    legacy = client.embeddings(model="nomic-embed-text", prompt="a")
    assert list(legacy.embedding) == list(embedded.embeddings[0])
    assert {m.model for m in client.list().models} >= {"llama3.2:latest", "qwen2.5-coder:14b"}


def test_ollama_sdk_raises_response_errors(sdk: Clients) -> None:
    client = sdk.ollama()
    messages = [{"role": "user", "content": "hi"}]
    sdk.set_faults("ollama", {"kind": "rate_limit", "count": 1})
    with pytest.raises(ollama.ResponseError) as limited:
        client.chat(model="llama3.2", messages=messages)
    assert limited.value.status_code == 429
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="nope", messages=messages)
    assert missing.value.status_code == 404
    sdk.set_faults("ollama", {"kind": "stream_error", "message": "model crashed", "count": 1})
    with pytest.raises(ollama.ResponseError, match="model crashed"):
        for _ in client.chat(model="llama3.2", messages=messages, stream=True):
            pass


# --- tools, structured output, cache usage and thinking -------------------------------------

PLACE: Any = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population": {"type": "integer", "minimum": 1000},
        "districts": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city", "population", "districts"],
    "additionalProperties": False,
}
WEATHER: Any = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
LONG = " ".join(f"Rule {n}: answer briefly and cite the source." for n in range(200))


def test_openai_sdk_tool_stream_structured_output_cache_and_reasoning(sdk: Clients) -> None:
    client = sdk.openai()
    tools: Any = [
        {"type": "function", "function": {"name": n, "parameters": WEATHER}}
        for n in ("get_weather", "get_time")
    ]
    messages: Any = [{"role": "user", "content": "call get_weather and call get_time"}]
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=messages, tools=tools
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert set(json.loads(calls[0].function.arguments)) == {"city", "days"}
    system: Any = [{"role": "system", "content": LONG}, {"role": "user", "content": "Paris?"}]
    fmt: Any = {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": PLACE, "strict": True},
    }
    first = client.chat.completions.create(
        model="gpt-5.2-mini", messages=system, response_format=fmt, reasoning_effort="low"
    )
    second = client.chat.completions.create(
        model="gpt-5.2-mini", messages=system, response_format=fmt, reasoning_effort="low"
    )
    assert set(json.loads(first.choices[0].message.content or "")) == set(PLACE["properties"])
    assert second.usage is not None
    assert second.usage.prompt_tokens_details is not None
    assert (second.usage.prompt_tokens_details.cached_tokens or 0) >= 1024
    assert second.usage.completion_tokens_details is not None
    assert (second.usage.completion_tokens_details.reasoning_tokens or 0) > 0


def test_anthropic_sdk_thinking_tool_stream_and_cache(sdk: Clients) -> None:
    client = sdk.anthropic()
    tools: Any = [{"name": "get_weather", "input_schema": WEATHER}]
    ask: Any = [{"role": "user", "content": "call get_weather for Paris"}]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with client.messages.stream(
        model="claude-sonnet-4", max_tokens=2048, messages=ask, tools=tools, thinking=thinking
    ) as stream:
        final = stream.get_final_message()
    thought, call = final.content
    assert thought.type == "thinking"
    assert thought.signature  # assembled from the signature_delta
    assert call.type == "tool_use"
    assert set(call.input) == {"city", "days"}
    replay: Any = [
        *ask,
        {"role": "assistant", "content": final.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
        },
    ]
    answer = client.messages.create(
        model="claude-sonnet-4", max_tokens=2048, messages=replay, tools=tools, thinking=thinking
    )
    assert answer.content[-1].type == "text"
    forged: Any = [*replay]
    forged[1] = {"role": "assistant", "content": [{**thought.model_dump(), "signature": "x"}, call]}
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        client.messages.create(
            model="claude-sonnet-4",
            max_tokens=2048,
            messages=forged,
            tools=tools,
            thinking=thinking,
        )
    system: Any = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    cached = [
        client.messages.create(
            model="claude-sonnet-4", max_tokens=100, system=system, messages=ask
        ).usage
        for _ in range(2)
    ]
    assert (cached[0].cache_creation_input_tokens or 0) >= 1024
    assert cached[1].cache_read_input_tokens == cached[0].cache_creation_input_tokens


def test_google_genai_function_call_thoughts_schema_and_cache(sdk: Clients) -> None:
    client = sdk.gemini()
    declaration = genai_types.FunctionDeclaration(
        name="get_weather", parameters_json_schema=WEATHER
    )
    config = genai_types.GenerateContentConfig(
        tools=[genai_types.Tool(function_declarations=[declaration])],
        thinking_config=genai_types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
    )
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="call get_weather for Paris", config=config
        )
    )
    parts = [p for c in chunks for p in (c.candidates or [])[0].content.parts or []]  # type: ignore[union-attr]
    assert any(p.thought for p in parts)
    (call_part,) = [p for p in parts if p.function_call]
    assert call_part.function_call is not None
    assert call_part.function_call.name == "get_weather"
    assert call_part.thought_signature  # bytes, decoded from base64
    usage = chunks[-1].usage_metadata
    assert usage is not None
    assert usage.thoughts_token_count
    contents: Any = [
        genai_types.Content(
            role="user", parts=[genai_types.Part(text="call get_weather for Paris")]
        ),
        genai_types.Content(role="model", parts=[call_part]),
        genai_types.Content(
            role="user",
            parts=[genai_types.Part.from_function_response(name="get_weather", response={"t": 1})],
        ),
    ]
    answer = client.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=config
    )
    assert answer.text
    structured = genai_types.GenerateContentConfig(
        response_mime_type="application/json",
        response_json_schema=PLACE,
        system_instruction=LONG,
    )
    replies = [
        client.models.generate_content(
            model="gemini-2.5-flash", contents="Describe Paris", config=structured
        )
        for _ in range(2)
    ]
    assert set(json.loads(replies[0].text or "")) == set(PLACE["properties"])
    cache = replies[1].usage_metadata
    assert cache is not None
    assert (cache.cached_content_token_count or 0) >= 1024


def test_ollama_sdk_tool_calls_format_and_thinking(sdk: Clients) -> None:
    client = sdk.ollama()
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    messages = [{"role": "user", "content": "call get_weather for Paris"}]
    parts = list(
        client.chat(model="llama3.2", messages=messages, tools=tools, stream=True, think=True)
    )
    thinking = "".join(p.message.thinking or "" for p in parts)
    assert thinking
    (call,) = [c for p in parts for c in p.message.tool_calls or []]
    assert call.function.name == "get_weather"
    assert set(call.function.arguments) == {"city", "days"}
    reply = client.chat(
        model="llama3.2", messages=[{"role": "user", "content": "Describe Paris"}], format=PLACE
    )
    assert set(json.loads(reply.message.content or "")) == set(PLACE["properties"])
