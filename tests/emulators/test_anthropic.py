"""The Anthropic emulator: Messages JSON and the named-event stream of the SDK's fixture."""

from __future__ import annotations

import itertools
import json

from hafs_actors.testing.emulators import count_tokens

from ._helpers import FIXTURES, auth_headers, serving, sse_events

REQUEST = {
    "model": "claude-sonnet-4-20250514",
    "max_tokens": 512,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}],
}


def _shape(names: list[str | None]) -> list[str | None]:
    """Event names with runs of content_block_delta collapsed to one."""
    return [name for name, _ in itertools.groupby(names)]


async def test_message_json_shape() -> None:
    async with serving("anthropic") as (emu, client):
        response = await client.post("/v1/messages", json=REQUEST, headers=auth_headers(emu))
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert body["id"].startswith("msg_")
    assert (body["type"], body["role"], body["model"]) == (
        "message",
        "assistant",
        "claude-sonnet-4-20250514",
    )
    (block,) = body["content"]
    assert block["type"] == "text"
    assert block["text"]
    assert body["stop_reason"] == "end_turn"
    assert body["stop_sequence"] is None
    assert body["usage"]["input_tokens"] == count_tokens("You are terse.\nHello there")
    assert body["usage"]["output_tokens"] == count_tokens(block["text"])


async def test_stream_follows_the_recorded_event_order() -> None:
    fixture = sse_events((FIXTURES / "anthropic/messages_stream.sse").read_text())
    async with serving("anthropic") as (emu, client):
        plain = await client.post("/v1/messages", json=REQUEST, headers=auth_headers(emu))
        response = await client.post(
            "/v1/messages", json={**REQUEST, "stream": True}, headers=auth_headers(emu)
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert _shape([name for name, _ in events]) == _shape([name for name, _ in fixture])
    payloads = [json.loads(data) for _, data in events]
    assert all(p["type"] == name for (name, _), p in zip(events, payloads, strict=True))
    start = payloads[0]["message"]
    assert start["content"] == []
    assert start["usage"]["output_tokens"] == 1
    assert start["usage"]["input_tokens"] == plain.json()["usage"]["input_tokens"]
    deltas = [p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta"]
    assert "".join(deltas) == plain.json()["content"][0]["text"]
    message_delta = next(p for p in payloads if p["type"] == "message_delta")
    assert message_delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert message_delta["usage"]["output_tokens"] == len(deltas)


async def test_max_tokens_and_validation() -> None:
    async with serving("anthropic") as (emu, client):
        headers = auth_headers(emu)
        capped = await client.post(
            "/v1/messages", json={**REQUEST, "max_tokens": 2}, headers=headers
        )
        no_max = await client.post(
            "/v1/messages",
            json={k: v for k, v in REQUEST.items() if k != "max_tokens"},
            headers=headers,
        )
        bad_role = await client.post(
            "/v1/messages",
            json={**REQUEST, "messages": [{"role": "system", "content": "x"}]},
            headers=headers,
        )
    assert capped.json()["stop_reason"] == "max_tokens"
    assert capped.json()["usage"]["output_tokens"] == 2
    assert no_max.status_code == 400
    assert no_max.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    assert bad_role.status_code == 400


async def test_tool_use_blocks_and_input_json_deltas() -> None:
    tool = {
        "name": "lookup",
        "description": "Look a thing up",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
    request = {**REQUEST, "tools": [tool], "tool_choice": {"type": "any"}}
    async with serving("anthropic") as (emu, client):
        plain = await client.post("/v1/messages", json=request, headers=auth_headers(emu))
        streamed = await client.post(
            "/v1/messages", json={**request, "stream": True}, headers=auth_headers(emu)
        )
    body = plain.json()
    assert body["stop_reason"] == "tool_use"
    (block,) = body["content"]
    assert block["type"] == "tool_use"
    assert block["name"] == "lookup"
    assert block["id"].startswith("toolu_")
    assert set(block["input"]) == {"query"}
    payloads = [json.loads(data) for _, data in sse_events(streamed.text)]
    partial = "".join(
        p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta"
    )
    assert json.loads(partial) == block["input"]


async def test_count_tokens_and_models() -> None:
    async with serving("anthropic") as (emu, client):
        counted = await client.post(
            "/v1/messages/count_tokens",
            json={k: v for k, v in REQUEST.items() if k != "max_tokens"},
            headers=auth_headers(emu),
        )
        models = await client.get("/v1/models", headers=auth_headers(emu))
        one = await client.get("/v1/models/claude-opus-4-5-20251101", headers=auth_headers(emu))
    assert counted.json() == {"input_tokens": count_tokens("You are terse.\nHello there")}
    ids = [m["id"] for m in models.json()["data"]]
    assert {"claude-opus-4-5-20251101", "claude-sonnet-4-20250514", "claude-sonnet-4"} <= set(ids)
    assert models.json()["has_more"] is False
    assert one.json()["type"] == "model"
