"""The Gemini emulator: generateContent, the SSE stream of whole responses, embeddings, models."""

from __future__ import annotations

import json
import math

from hafs_actors.testing.emulators import count_tokens

from ._helpers import FIXTURES, auth_headers, serving, sse_events, sse_json

MODEL = "/v1beta/models/gemini-3-flash-preview"
REQUEST = {
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [{"role": "user", "parts": [{"text": "What is the capital of Wyoming?"}]}],
}


def _text(response: dict[str, object]) -> str:
    candidate = response["candidates"][0]  # type: ignore[index]
    return "".join(p["text"] for p in candidate["content"]["parts"])


async def test_generate_content_shape() -> None:
    fixture = json.loads((FIXTURES / "gemini/generate_content.json").read_text())
    async with serving("gemini") as (emu, client):
        response = await client.post(
            f"{MODEL}:generateContent", json=REQUEST, headers=auth_headers(emu)
        )
    assert response.status_code == 200
    body = response.json()
    assert set(fixture) <= set(body)
    candidate = body["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == count_tokens("Be brief.\nWhat is the capital of Wyoming?")
    assert usage["candidatesTokenCount"] == count_tokens(_text(body))
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert body["modelVersion"] == "gemini-3-flash-preview"


async def test_sse_stream_like_the_recorded_one() -> None:
    async with serving("gemini") as (emu, client):
        plain = await client.post(
            f"{MODEL}:generateContent", json=REQUEST, headers=auth_headers(emu)
        )
        response = await client.post(
            f"{MODEL}:streamGenerateContent?alt=sse", json=REQUEST, headers=auth_headers(emu)
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert all(name is None for name, _ in sse_events(response.text))
    chunks = sse_json(response.text)
    assert "[DONE]" not in chunks
    *early, last = chunks
    assert all("finishReason" not in c["candidates"][0] for c in early)
    assert all("candidatesTokenCount" not in c["usageMetadata"] for c in early)
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == plain.json()["usageMetadata"]
    assert "".join(_text(c) for c in chunks) == _text(plain.json())


async def test_stream_without_alt_sse_is_a_json_array() -> None:
    async with serving("gemini") as (emu, client):
        response = await client.post(
            f"{MODEL}:streamGenerateContent", json=REQUEST, headers=auth_headers(emu)
        )
        plain = await client.post(
            f"{MODEL}:generateContent", json=REQUEST, headers=auth_headers(emu)
        )
    chunks = json.loads(response.text)
    assert isinstance(chunks, list)
    assert len(chunks) > 1
    assert "".join(_text(c) for c in chunks) == _text(plain.json())


async def test_max_output_tokens_and_bad_requests() -> None:
    async with serving("gemini") as (emu, client):
        capped = await client.post(
            f"{MODEL}:generateContent",
            json={**REQUEST, "generationConfig": {"maxOutputTokens": 4}},
            headers=auth_headers(emu),
        )
        no_contents = await client.post(
            f"{MODEL}:generateContent", json={}, headers=auth_headers(emu)
        )
    assert capped.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert capped.json()["usageMetadata"]["candidatesTokenCount"] == 4
    assert no_contents.status_code == 400
    error = no_contents.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert "contents" in error["message"]
    assert no_contents.text.startswith("{\n  ")  # indented like Google's errors


async def test_embed_single_and_batch_agree() -> None:
    base = "/v1beta/models/text-embedding-004"
    content = {"parts": [{"text": "hello world"}]}
    async with serving("gemini") as (emu, client):
        single = await client.post(
            f"{base}:embedContent", json={"content": content}, headers=auth_headers(emu)
        )
        batch = await client.post(
            f"{base}:batchEmbedContents",
            json={
                "requests": [
                    {"model": "models/text-embedding-004", "content": content},
                    {
                        "model": "models/text-embedding-004",
                        "content": {"parts": [{"text": "other"}]},
                        "outputDimensionality": 16,
                    },
                ]
            },
            headers=auth_headers(emu),
        )
        wrong_model = await client.post(
            f"{base}:batchEmbedContents",
            json={"requests": [{"model": "models/other", "content": content}]},
            headers=auth_headers(emu),
        )
    values = single.json()["embedding"]["values"]
    assert len(values) == 768
    assert math.isclose(math.fsum(v * v for v in values), 1.0, rel_tol=1e-5)
    first, second = batch.json()["embeddings"]
    assert first["values"] == values
    assert len(second["values"]) == 16
    assert wrong_model.status_code == 400


async def test_function_call_and_count_tokens_and_models() -> None:
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "find_city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"state": {"type": "STRING"}},
                        "required": ["state"],
                    },
                }
            ]
        }
    ]
    request = {**REQUEST, "tools": tools, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    async with serving("gemini") as (emu, client):
        called = await client.post(
            f"{MODEL}:generateContent", json=request, headers=auth_headers(emu)
        )
        counted = await client.post(f"{MODEL}:countTokens", json=REQUEST, headers=auth_headers(emu))
        models = await client.get("/v1beta/models", headers=auth_headers(emu))
        one = await client.get("/v1beta/models/text-embedding-004", headers=auth_headers(emu))
    (part,) = called.json()["candidates"][0]["content"]["parts"]
    assert part["functionCall"]["name"] == "find_city"
    assert set(part["functionCall"]["args"]) == {"state"}
    assert counted.json()["totalTokens"] == count_tokens(
        "Be brief.\nWhat is the capital of Wyoming?"
    )
    names = {m["name"] for m in models.json()["models"]}
    assert {"models/gemini-3-pro-preview", "models/gemini-3-flash-preview"} <= names
    assert one.json()["supportedGenerationMethods"] == ["embedContent", "batchEmbedContents"]
