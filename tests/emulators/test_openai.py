"""The OpenAI emulator over a real socket: shapes per docs/providers.md section 1 and fixtures."""

from __future__ import annotations

import array
import base64
import json
import math

from hafs_actors.testing.emulators import EmulatorConfig, ModelProfile, count_tokens

from ._helpers import FIXTURES, auth_headers, serving, sse_events, sse_json

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


async def test_chat_completion_json_shape() -> None:
    async with serving("openai") as (emu, client):
        response = await client.post("/v1/chat/completions", json=CHAT, headers=auth_headers(emu))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    fixture = json.loads((FIXTURES / "openai/chat_completion.json").read_text())
    assert set(fixture) <= set(body)
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini"
    (choice,) = body["choices"]
    assert set(fixture["choices"][0]) <= set(choice)
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    text = choice["message"]["content"]
    assert text
    assert text[0].isupper()
    assert text.endswith(".")
    usage = body["usage"]
    assert usage["prompt_tokens"] == count_tokens("Tell me a story")
    assert usage["completion_tokens"] == count_tokens(text)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_stream_with_usage_matches_the_recorded_layout() -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with serving("openai") as (emu, client):
        plain = await client.post("/v1/chat/completions", json=CHAT, headers=auth_headers(emu))
        response = await client.post("/v1/chat/completions", json=body, headers=auth_headers(emu))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert all(name is None for name, _ in sse_events(response.text))  # no event: names
    chunks = sse_json(response.text)
    assert chunks[-1] == "[DONE]"
    role, *content, finish, usage_chunk, _done = chunks
    assert role["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in (role, *content, finish))
    assert len({c["id"] for c in (role, *content, finish, usage_chunk)}) == 1
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    assert text == plain.json()["choices"][0]["message"]["content"]
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == len(content) == count_tokens(text)
    assert usage_chunk["usage"] == plain.json()["usage"]


async def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    async with serving("openai") as (emu, client):
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth_headers(emu)
        )
    chunks = sse_json(response.text)
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in c for c in chunks[:-1])


async def test_max_tokens_caps_the_reply_and_reports_length() -> None:
    async with serving("openai") as (emu, client):
        for field in ("max_tokens", "max_completion_tokens"):
            response = await client.post(
                "/v1/chat/completions", json={**CHAT, field: 3}, headers=auth_headers(emu)
            )
            body = response.json()
            assert body["choices"][0]["finish_reason"] == "length"
            assert body["usage"]["completion_tokens"] == 3
            assert count_tokens(body["choices"][0]["message"]["content"]) == 3


async def test_embeddings_float_and_base64_agree() -> None:
    request = {"model": "text-embedding-3-small", "input": ["alpha", "beta"]}
    async with serving("openai") as (emu, client):
        as_float = await client.post("/v1/embeddings", json=request, headers=auth_headers(emu))
        as_b64 = await client.post(
            "/v1/embeddings",
            json={**request, "encoding_format": "base64"},
            headers=auth_headers(emu),
        )
        short = await client.post(
            "/v1/embeddings", json={**request, "dimensions": 64}, headers=auth_headers(emu)
        )
    body = as_float.json()
    assert body["object"] == "list"
    assert body["model"] == "text-embedding-3-small"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    vectors = [d["embedding"] for d in body["data"]]
    assert all(len(v) == 1536 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] != vectors[1]
    decoded = [
        array.array("f", base64.b64decode(d["embedding"])).tolist() for d in as_b64.json()["data"]
    ]
    assert decoded == vectors
    assert [len(d["embedding"]) for d in short.json()["data"]] == [64, 64]


async def test_embedding_inputs_token_lists_and_errors() -> None:
    async with serving("openai") as (emu, client):
        tokens = await client.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": [[1, 2, 3], [4]]},
            headers=auth_headers(emu),
        )
        empty = await client.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": ""},
            headers=auth_headers(emu),
        )
        chat_model = await client.post(
            "/v1/embeddings", json={"model": "gpt-4o-mini", "input": "x"}, headers=auth_headers(emu)
        )
        bad_format = await client.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"},
            headers=auth_headers(emu),
        )
    assert len(tokens.json()["data"]) == 2
    assert empty.status_code == 400
    assert empty.json()["error"]["param"] == "input"
    assert chat_model.status_code == 400
    assert bad_format.status_code == 400
    assert bad_format.json()["error"]["param"] == "encoding_format"


async def test_models_list_and_get() -> None:
    async with serving("openai") as (emu, client):
        listing = await client.get("/v1/models", headers=auth_headers(emu))
        one = await client.get("/v1/models/gpt-5.2-mini", headers=auth_headers(emu))
        missing = await client.get("/v1/models/nope", headers=auth_headers(emu))
    ids = [m["id"] for m in listing.json()["data"]]
    assert {"gpt-5.2-mini", "gpt-4o-mini", "text-embedding-3-small"} <= set(ids)
    assert listing.json()["object"] == "list"
    assert one.json() == {
        "id": "gpt-5.2-mini",
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "openai",
    }
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


async def test_tool_call_when_the_prompt_names_a_tool() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer"},
                },
                "required": ["city", "unit", "days"],
            },
        },
    }
    messages = [{"role": "user", "content": "Use get_weather for Paris"}]
    request = {"model": "gpt-4o-mini", "messages": messages, "tools": [tool]}
    async with serving("openai") as (emu, client):
        plain = await client.post("/v1/chat/completions", json=request, headers=auth_headers(emu))
        streamed = await client.post(
            "/v1/chat/completions", json={**request, "stream": True}, headers=auth_headers(emu)
        )
        follow_up = [
            *messages,
            plain.json()["choices"][0]["message"],
            {"role": "tool", "tool_call_id": "x", "content": "sunny"},
        ]
        after = await client.post(
            "/v1/chat/completions",
            json={**request, "messages": follow_up},
            headers=auth_headers(emu),
        )
    choice = plain.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    arguments = json.loads(call["function"]["arguments"])
    assert set(arguments) == {"city", "unit", "days"}
    assert arguments["unit"] == "celsius"
    assert isinstance(arguments["days"], int)
    chunks = sse_json(streamed.text)[:-1]
    fragments = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert json.loads("".join(fragments)) == arguments
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert after.json()["choices"][0]["finish_reason"] == "stop"


async def test_context_window_exceeded() -> None:
    config = EmulatorConfig(models=(ModelProfile("tiny", context_window=5),))
    request = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "one two three four five six"}],
    }
    async with serving("openai", config) as (emu, client):
        response = await client.post(
            "/v1/chat/completions", json=request, headers=auth_headers(emu)
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "maximum context length is 5 tokens" in response.json()["error"]["message"]


async def test_request_validation_errors_name_the_parameter() -> None:
    async with serving("openai") as (emu, client):
        headers = auth_headers(emu)
        no_messages = await client.post(
            "/v1/chat/completions", json={"model": "gpt-4o-mini"}, headers=headers
        )
        no_model = await client.post(
            "/v1/chat/completions", json={"messages": CHAT["messages"]}, headers=headers
        )
        bad_role = await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]},
            headers=headers,
        )
        bad_max = await client.post(
            "/v1/chat/completions", json={**CHAT, "max_tokens": "ten"}, headers=headers
        )
        not_object = await client.post("/v1/chat/completions", json=[1, 2], headers=headers)
        wrong_path = await client.post("/v1/nope", json=CHAT, headers=headers)
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    assert no_model.status_code == 400
    assert no_model.json()["error"]["param"] == "model"
    assert bad_role.status_code == 400
    assert bad_role.json()["error"]["param"] == "messages[0].role"
    assert bad_max.status_code == 400
    assert bad_max.json()["error"]["param"] == "max_tokens"
    assert not_object.status_code == 400
    assert wrong_path.status_code == 404
    assert wrong_path.json()["error"]["message"] == "Invalid URL (POST /v1/nope)"
