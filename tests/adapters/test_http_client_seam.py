"""The adapter/transport seam as httpx draws it: ``transport=`` (say ``httpx.MockTransport``),
``http_client=`` (a caller's client, never closed by the adapter), and the project transport
the adapter keeps for itself (its statistics read from the adapter, no registry)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hafs_actors.adapters import (
    AdapterSettings,
    AnthropicAdapter,
    GeminiAdapter,
    LlamaCppAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    StreamCollector,
    create_adapter,
)
from hafs_actors.errors import ConfigError
from hafs_actors.transport import HafsTransport, transport_statistics
from hafs_actors.types import GenerateRequest, Message

KEY = "sk-test-SECRETKEY0123456789"
REQ = GenerateRequest(model="m", messages=(Message(role="user", content="Hi"),), max_tokens=5)
SETTINGS = AdapterSettings(base_url="http://provider.test/v1", api_key=KEY)
COMPLETION = {
    "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    "model": "m",
}


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "model": "m"}
    return f"data: {json.dumps(payload)}\n\n".encode()


SSE = chunk({"content": "o"}) + chunk({"content": "k"}, "stop") + b"data: [DONE]\n\n"


class Recorder:
    """A MockTransport handler answering chat completions, plain or streamed."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method != "POST":
            return httpx.Response(404, json={"error": {"message": "no such route"}})
        body = json.loads(request.content)
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=SSE)
        return httpx.Response(200, json=COMPLETION)


async def test_mock_transport_serves_generate_and_stream_without_a_socket() -> None:
    handler = Recorder()
    adapter = OpenAIAdapter(SETTINGS, transport=httpx.MockTransport(handler))
    try:
        assert (await adapter.generate(REQ)).content == "ok"
        collector = StreamCollector(provider=adapter.provider, model="m")
        async with adapter.stream(REQ) as events:
            async for event in events:
                collector.add(event)
        assert collector.result().content == "ok"
        assert adapter.transport_statistics() is None  # not the project transport
    finally:
        await adapter.aclose()
    plain, streamed = handler.requests
    for request in (plain, streamed):
        assert request.method == "POST"
        assert request.url == "http://provider.test/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["accept-encoding"] == "gzip, deflate"
    assert json.loads(plain.content)["messages"] == [{"role": "user", "content": "Hi"}]
    assert json.loads(streamed.content)["stream"] is True


async def test_a_callers_client_is_used_and_left_open() -> None:
    handler = Recorder()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), headers={"x-app": "me"})
    adapter = OpenAIAdapter(SETTINGS, http_client=client)
    await adapter.initialize()
    assert adapter.client is client
    assert (await adapter.generate(REQ)).content == "ok"
    assert (await adapter.health()).ok is False  # the mock answers GET with a 404
    await adapter.aclose()
    assert not client.is_closed  # its owner closes it
    sent = handler.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # the adapter's headers are added
    assert sent.headers["x-app"] == "me"  # to the client's own
    assert sent.url == "http://provider.test/v1/chat/completions"
    assert (await adapter.generate(REQ)).content == "ok"  # after aclose(): the same client
    await client.aclose()


@pytest.mark.parametrize(
    "cls", [OpenAIAdapter, AnthropicAdapter, GeminiAdapter, OllamaAdapter, LlamaCppAdapter]
)
def test_client_and_transport_are_exclusive(cls: type) -> None:
    with pytest.raises(TypeError, match="not both"):
        cls(SETTINGS, http_client=httpx.AsyncClient(), transport=httpx.MockTransport(Recorder()))


async def test_create_adapter_forwards_both() -> None:
    handler = Recorder()
    mock = httpx.MockTransport(handler)
    adapter = create_adapter("openai_compatible", SETTINGS, name="backup", transport=mock)
    assert (await adapter.generate(REQ)).provider == "backup"
    assert len(handler.requests) == 1  # built on the mock
    await adapter.aclose()
    client = httpx.AsyncClient(transport=mock)
    adapter = create_adapter("llamacpp", SETTINGS, http_client=client)
    assert (await adapter.generate(REQ)).content == "ok"
    await adapter.aclose()
    assert not client.is_closed
    await client.aclose()
    with pytest.raises(TypeError, match="not both"):
        create_adapter("anthropic", SETTINGS, transport=mock, http_client=client)


async def test_proxy_with_a_given_transport_is_refused() -> None:
    settings = AdapterSettings(base_url="http://provider.test", proxy="http://proxy.test:1")
    adapter = OpenAIAdapter(settings, transport=httpx.MockTransport(Recorder()))
    with pytest.raises(ConfigError, match="transport"):
        await adapter.initialize()


async def test_project_transport_statistics_come_from_the_adapter(replay: Any) -> None:
    replay.route("POST", "/v1/chat/completions", replay.Reply.json(COMPLETION))
    adapter = OpenAIAdapter(replay.settings(base_url=replay.base_url + "/v1"))
    try:
        assert adapter.transport_statistics() is None  # no client yet
        assert (await adapter.generate(REQ)).content == "ok"
        stats = adapter.transport_statistics()
        assert stats is not None
        assert (stats.connections_opened, stats.idle) == (1, 1)
        assert transport_statistics(adapter) == stats
        assert transport_statistics(object()) is None
    finally:
        await adapter.aclose()
    assert adapter.transport_statistics() is None


async def test_a_given_project_transport_keeps_the_direct_path(replay: Any) -> None:
    replay.route("POST", "/v1/chat/completions", replay.Reply.json(COMPLETION))
    hafs = HafsTransport(max_connections=2)
    adapter = OpenAIAdapter(replay.settings(base_url=replay.base_url + "/v1"), transport=hafs)
    try:
        assert (await adapter.generate(REQ)).content == "ok"
        stats = adapter.transport_statistics()
        assert stats is not None
        assert stats.max_connections == 2
        assert stats == hafs.statistics()
    finally:
        await adapter.aclose()
