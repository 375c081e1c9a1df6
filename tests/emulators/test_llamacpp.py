"""The llama.cpp emulator: /health while loading, OAI chat with timings, native /completion."""

from __future__ import annotations

import json

import trio

from hafs_actors.testing.emulators import EmulatorConfig, count_tokens

from ._helpers import FIXTURES, serving, sse_json

CHAT = {"messages": [{"role": "user", "content": "Hello"}]}


async def test_health_reports_loading_then_ok(autojump_clock: trio.testing.MockClock) -> None:
    fixture = json.loads((FIXTURES / "llamacpp/health_loading_503.json").read_text())
    async with serving("llamacpp", EmulatorConfig(loading_seconds=5.0)) as (_emu, client):
        loading = await client.get("/health")
        chat_while_loading = await client.post("/v1/chat/completions", json=CHAT)
        await trio.sleep(5.0)
        ready = await client.get("/health")
        chat = await client.post("/v1/chat/completions", json=CHAT)
    assert loading.status_code == 503
    assert loading.json() == fixture
    assert chat_while_loading.status_code == 503
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
    assert chat.status_code == 200


async def test_chat_has_usage_and_timings_and_any_model_name() -> None:
    async with serving("llamacpp") as (_emu, client):
        unnamed = await client.post("/v1/chat/completions", json=CHAT)
        named = await client.post("/v1/chat/completions", json={**CHAT, "model": "whatever"})
    body = unnamed.json()
    assert body["model"] == "llama-3.2-3b-instruct"
    assert named.json()["model"] == "whatever"
    usage, timings = body["usage"], body["timings"]
    assert usage["completion_tokens"] == count_tokens(body["choices"][0]["message"]["content"])
    assert timings["prompt_n"] == usage["prompt_tokens"]
    assert timings["predicted_n"] == usage["completion_tokens"]


async def test_stream_puts_usage_into_the_finish_chunk() -> None:
    request = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with serving("llamacpp") as (_emu, client):
        response = await client.post("/v1/chat/completions", json=request)
    chunks = sse_json(response.text)
    assert chunks[-1] == "[DONE]"
    finish = chunks[-2]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["usage"]["completion_tokens"] == len(chunks) - 3
    assert finish["timings"]["predicted_n"] == finish["usage"]["completion_tokens"]
    assert all(c["choices"] for c in chunks[:-1])  # no separate usage chunk


async def test_native_completion_json_and_stream() -> None:
    request = {"prompt": "Building a website can be done in", "n_predict": 8}
    async with serving("llamacpp") as (_emu, client):
        plain = await client.post("/completion", json=request)
        streamed = await client.post("/completion", json={**request, "stream": True})
        missing = await client.post("/completion", json={"n_predict": 1})
    body = plain.json()
    assert body["stop"] is True
    assert body["stop_type"] == "limit"
    assert body["tokens_predicted"] == 8 == count_tokens(body["content"])
    assert body["tokens_evaluated"] == count_tokens(request["prompt"])
    events = sse_json(streamed.text)
    assert "[DONE]" not in events
    *parts, final = events
    assert all(e["stop"] is False for e in parts)
    assert "".join(e["content"] for e in parts) == body["content"]
    assert final["stop"] is True
    assert final["timings"] == body["timings"]
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"


async def test_embeddings_and_models() -> None:
    async with serving("llamacpp") as (_emu, client):
        embedded = await client.post("/v1/embeddings", json={"input": "hello"})
        models = await client.get("/v1/models")
    assert len(embedded.json()["data"][0]["embedding"]) == 768
    (model,) = models.json()["data"]
    assert model["id"] == "llama-3.2-3b-instruct"
    assert model["owned_by"] == "llamacpp"
