"""The Ollama emulator: NDJSON chat/generate streams, embeddings, tags and version."""

from __future__ import annotations

import json

from hafs_actors.testing.emulators import count_tokens

from ._helpers import FIXTURES, ndjson, serving

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}


async def test_chat_non_stream_has_the_documented_fields() -> None:
    fixture = json.loads((FIXTURES / "ollama/chat_nonstream.json").read_text())
    async with serving("ollama") as (_emu, client):
        response = await client.post("/api/chat", json={**CHAT, "stream": False})
    body = response.json()
    assert set(fixture) <= set(body)
    assert body["done"] is True
    assert body["done_reason"] == "stop"
    assert body["message"]["role"] == "assistant"
    assert body["prompt_eval_count"] == count_tokens("Why is the sky blue?")
    assert body["eval_count"] == count_tokens(body["message"]["content"])
    assert body["total_duration"] >= body["prompt_eval_duration"] + body["eval_duration"]
    assert body["created_at"].endswith("Z")


async def test_chat_streams_by_default() -> None:
    async with serving("ollama") as (_emu, client):
        plain = await client.post("/api/chat", json={**CHAT, "stream": False})
        response = await client.post("/api/chat", json=CHAT)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = ndjson(response.text)
    *parts, final = lines
    assert all(line["done"] is False for line in parts)
    assert (
        "".join(line["message"]["content"] for line in parts) == plain.json()["message"]["content"]
    )
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == len(parts)
    assert final["prompt_eval_count"] == plain.json()["prompt_eval_count"]


async def test_generate_stream_matches_the_documented_lines() -> None:
    fixture = ndjson((FIXTURES / "ollama/generate_stream.ndjson").read_text())
    async with serving("ollama") as (_emu, client):
        response = await client.post(
            "/api/generate", json={"model": "gemma3", "prompt": "Hi", "options": {"num_predict": 5}}
        )
        loaded = await client.post("/api/generate", json={"model": "gemma3"})
    lines = ndjson(response.text)
    assert set(lines[0]) == set(fixture[0])
    assert len(lines) == 6
    assert lines[-1]["done_reason"] == "length"
    assert lines[-1]["eval_count"] == 5
    assert loaded.json()["done_reason"] == "load"
    assert loaded.json()["response"] == ""


async def test_embeddings_current_and_legacy() -> None:
    fixture = json.loads((FIXTURES / "ollama/embed.json").read_text())
    async with serving("ollama") as (_emu, client):
        embed = await client.post(
            "/api/embed", json={"model": "nomic-embed-text", "input": ["a b", "c"]}
        )
        legacy = await client.post(
            "/api/embeddings", json={"model": "nomic-embed-text", "prompt": "a b"}
        )
        chat_model = await client.post("/api/embed", json={"model": "llama3.2", "input": "x"})
        bad = await client.post("/api/embed", json={"model": "nomic-embed-text", "input": 3})
    body = embed.json()
    assert set(fixture) <= set(body)
    assert [len(v) for v in body["embeddings"]] == [768, 768]
    assert body["prompt_eval_count"] == 3
    assert legacy.json()["embedding"] == body["embeddings"][0]
    assert chat_model.status_code == 200  # any Ollama model can embed
    assert bad.status_code == 400
    assert "input" in bad.json()["error"]


async def test_tags_version_aliases_and_kinds() -> None:
    async with serving("ollama") as (_emu, client):
        tags = await client.get("/api/tags")
        version = await client.get("/api/version")
        latest = await client.post(
            "/api/chat", json={**CHAT, "model": "llama3.2:latest", "stream": False}
        )
        embed_chat = await client.post("/api/chat", json={**CHAT, "model": "nomic-embed-text"})
        root = await client.get("/")
    names = {m["name"] for m in tags.json()["models"]}
    assert {"qwen2.5-coder:14b", "llama3.2:latest", "nomic-embed-text:latest"} <= names
    assert set(version.json()) == {"version"}
    assert latest.status_code == 200
    assert embed_chat.status_code == 400
    assert embed_chat.json() == {"error": '"nomic-embed-text" does not support chat'}
    assert root.text == "Ollama is running"
