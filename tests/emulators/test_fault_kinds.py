"""Every fault kind, in every provider's own format, over a real socket."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx
import pytest
import trio

from hafs_actors.testing.emulators import PROVIDERS, EmulatorConfig, Fault, FaultPlan

from ._helpers import auth_headers, chat_request, ndjson, serving, sse_events

EPOCH = 1_750_000_000.0


def _faulty(*faults: Fault) -> EmulatorConfig:
    return EmulatorConfig(faults=FaultPlan(faults), epoch=EPOCH)


HTTP_ERRORS = {
    # provider: {status: expected error type / status string}
    "openai": {500: "server_error", 503: "server_error", 400: "invalid_request_error"},
    "anthropic": {500: "api_error", 529: "overloaded_error", 401: "authentication_error"},
    "gemini": {500: "INTERNAL", 503: "UNAVAILABLE", 499: "CANCELLED"},
    "ollama": {500: None, 503: None},
    "llamacpp": {500: "server_error", 503: "unavailable_error", 501: "not_supported_error"},
}


def _error_kind(provider: str, body: dict) -> str | None:  # type: ignore[type-arg]
    if provider == "anthropic":
        assert body["type"] == "error"
        return str(body["error"]["type"])
    if provider == "gemini":
        return str(body["error"]["status"])
    if provider == "ollama":
        assert isinstance(body["error"], str)
        return None
    return str(body["error"]["type"])


@pytest.mark.parametrize(
    ("provider", "status"),
    [(p, s) for p, by_status in HTTP_ERRORS.items() for s in by_status],
)
async def test_http_error_in_the_providers_envelope(provider: str, status: int) -> None:
    path, body = chat_request(provider)
    config = _faulty(Fault(kind="http_error", status=status, retry_after=3))
    async with serving(provider, config) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.status_code == status
    assert _error_kind(provider, response.json()) == HTTP_ERRORS[provider][status]
    assert response.headers["retry-after"] == "3"
    if provider == "anthropic":
        assert response.headers["request-id"].startswith("req_")
        if status == 529:
            assert response.json()["error"]["message"] == "Overloaded"
            assert response.headers["x-should-retry"] == "true"
    assert emu.stats().faults == {"http_error": 1}


async def test_http_error_message_and_type_overrides() -> None:
    fault = Fault(kind="http_error", status=400, message="nope", error_type="context_length")
    path, body = chat_request("openai")
    async with serving("openai", _faulty(fault)) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.json()["error"]["message"] == "nope"
    assert response.json()["error"]["type"] == "context_length"


async def test_openai_rate_limit_headers_and_body() -> None:
    path, body = chat_request("openai")
    async with serving("openai", _faulty(Fault(kind="rate_limit", retry_after=2))) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.status_code == 429
    headers = response.headers
    assert headers["retry-after"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-reset-requests"] == "2s"
    assert {"x-ratelimit-limit-tokens", "x-ratelimit-reset-tokens"} <= set(headers)
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "requests",
        "rate_limit_exceeded",
        None,
    )
    assert "Please try again in 2s" in error["message"]


async def test_anthropic_rate_limit_headers() -> None:
    path, body = chat_request("anthropic")
    config = _faulty(Fault(kind="rate_limit", retry_after=30))
    async with serving("anthropic", config) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    headers = response.headers
    assert headers["retry-after"] == "30"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    reset = datetime.strptime(headers["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ")
    assert reset.replace(tzinfo=timezone.utc).timestamp() == pytest.approx(EPOCH + 30, abs=1)


async def test_gemini_rate_limit_is_resource_exhausted_with_retry_info() -> None:
    path, body = chat_request("gemini")
    config = _faulty(Fault(kind="rate_limit", retry_after=12))
    async with serving("gemini", config) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    by_type = {d["@type"].rsplit(".", 1)[-1]: d for d in error["details"]}
    assert by_type["RetryInfo"]["retryDelay"] == "12s"
    (violation,) = by_type["QuotaFailure"]["violations"]
    assert violation["quotaDimensions"]["model"] == "gemini-3-flash-preview"
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("provider", ["ollama", "llamacpp"])
async def test_local_server_rate_limits(provider: str) -> None:
    path, body = chat_request(provider)
    async with serving(provider, _faulty(Fault(kind="rate_limit", retry_after=5))) as (
        _emu,
        client,
    ):
        response = await client.post(path, json=body)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    if provider == "ollama":
        assert response.json() == {"error": "rate limit exceeded, retry after 5s"}
    else:
        assert response.json()["error"]["code"] == 429


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("seconds", {"retry-after": "2"}),
        ("float", {"retry-after": "1.5"}),
        ("ms", {"retry-after-ms": "1500", "retry-after": "2"}),
    ],
)
async def test_retry_after_formats(fmt: str, expected: dict[str, str]) -> None:
    path, body = chat_request("openai")
    config = _faulty(Fault(kind="rate_limit", retry_after=1.5, retry_after_format=fmt))
    async with serving("openai", config) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert {k: response.headers[k] for k in expected} == expected


async def test_retry_after_http_date_and_gemini_fractional_delay() -> None:
    config = _faulty(Fault(kind="rate_limit", retry_after=1.5, retry_after_format="http_date"))
    async with serving("openai", config) as (emu, client):
        path, body = chat_request("openai")
        dated = await client.post(path, json=body, headers=auth_headers(emu))
    when = parsedate_to_datetime(dated.headers["retry-after"]).timestamp()
    assert when == EPOCH + 2  # rounded up to the second
    config = _faulty(Fault(kind="rate_limit", retry_after=1.5, retry_after_format="float"))
    async with serving("gemini", config) as (emu, client):
        path, body = chat_request("gemini")
        gemini = await client.post(path, json=body, headers=auth_headers(emu))
    retry = [d for d in gemini.json()["error"]["details"] if "retryDelay" in d]
    assert retry[0]["retryDelay"] == "1.500s"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_hang_never_answers(provider: str, autojump_clock: trio.testing.MockClock) -> None:
    path, body = chat_request(provider)
    async with serving(provider, _faulty(Fault(kind="hang", nth=1)), timeout=10.0) as (emu, client):
        start = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await client.post(path, json=body, headers=auth_headers(emu))
        assert trio.current_time() - start == pytest.approx(10.0)
        after = await client.post(path, json=body, headers=auth_headers(emu))
    assert after.status_code == 200
    endpoint = emu.stats().requests
    assert sorted(status for (_, status) in endpoint) == [0, 200]
    assert emu.stats().faults == {"hang": 1}


async def _read_stream(
    client: httpx.AsyncClient, path: str, body: dict, headers: dict
) -> tuple[int, bytes, Exception | None]:  # type: ignore[type-arg]
    received = b""
    async with client.stream("POST", path, json=body, headers=headers) as response:
        try:
            async for data in response.aiter_raw():
                received += data
        except httpx.HTTPError as exc:
            return response.status_code, received, exc
    return response.status_code, received, None


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_drop_mid_stream_after_n_events(provider: str) -> None:
    path, body = chat_request(provider, stream=True)
    async with serving(provider, _faulty(Fault(kind="drop", after_chunks=3))) as (emu, client):
        status, received, error = await _read_stream(client, path, body, auth_headers(emu))
    assert status == 200
    assert isinstance(error, httpx.RemoteProtocolError)
    separator = b"\n" if provider == "ollama" else b"\n\n"
    assert received.replace(b"\r\n", b"\n").count(separator) == 3


async def test_drop_mid_body_after_n_bytes() -> None:
    path, body = chat_request("openai")
    async with serving("openai", _faulty(Fault(kind="drop", after_bytes=25, nth=1))) as (
        emu,
        client,
    ):
        status, received, error = await _read_stream(client, path, body, auth_headers(emu))
        ok = await client.post(path, json=body, headers=auth_headers(emu))
    assert status == 200
    assert isinstance(error, httpx.RemoteProtocolError)
    assert received == ok.content[:25]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_error_in_the_providers_stream_format(provider: str) -> None:
    path, body = chat_request(provider, stream=True)
    fault = Fault(kind="stream_error", after_chunks=2, message="boom")
    async with serving(provider, _faulty(fault)) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
        plain_path, plain_body = chat_request(provider)
        not_a_stream = await client.post(plain_path, json=plain_body, headers=auth_headers(emu))
    assert response.status_code == 200
    assert not_a_stream.status_code == 200  # stream_error only touches streams
    if provider == "ollama":
        lines = ndjson(response.text)
        assert len(lines) == 3
        assert lines[-1] == {"error": "boom"}
        return
    events = sse_events(response.text)
    assert len(events) == 3
    name, data = events[-1]
    if provider == "anthropic":
        assert name == "error"
        assert json.loads(data) == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "boom"},
        }
    elif provider == "gemini":
        # A bare, multi-line JSON object without "data:", like the recorded Vertex stream.
        assert name == "<raw>"
        assert not data.startswith("data:")
        assert "\n" in data.strip()
        assert json.loads(data)["error"] == {
            "code": 503,
            "message": "boom",
            "status": "UNAVAILABLE",
        }
    elif provider == "openai":
        assert name is None
        assert json.loads(data) == {
            "error": {"message": "boom", "type": "server_error", "param": None, "code": None}
        }
    else:
        assert json.loads(data) == {
            "error": {"code": 500, "message": "boom", "type": "server_error"}
        }
    assert "[DONE]" not in response.text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_json(provider: str, autojump_clock: trio.testing.MockClock) -> None:
    """A non-stream body that does not parse; in a stream, one extra event that does not.

    (MockClock keeps Ollama's microsecond timestamps equal between the two streams.)
    """
    path, body = chat_request(provider)
    stream_path, stream_body = chat_request(provider, stream=True)
    async with serving(provider, _faulty(Fault(kind="malformed_json", count=2))) as (emu, client):
        plain = await client.post(path, json=body, headers=auth_headers(emu))
        streamed = await client.post(stream_path, json=stream_body, headers=auth_headers(emu))
        normal = await client.post(stream_path, json=stream_body, headers=auth_headers(emu))
    assert plain.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.content)

    def payloads(text: str) -> list[str]:
        if provider == "ollama":
            return [line for line in text.splitlines() if line]
        return [data for _, data in sse_events(text) if data != "[DONE]"]

    def parses(payload: str) -> bool:
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            return False
        return True

    broken = [p for p in payloads(streamed.text) if not parses(p)]
    assert len(broken) == 1
    assert [p for p in payloads(streamed.text) if parses(p)] == payloads(normal.text)


async def test_slow_drip_sends_the_same_body_in_timed_pieces(
    autojump_clock: trio.testing.MockClock,
) -> None:
    path, body = chat_request("openai")
    fault = Fault(kind="slow_drip", piece_size=16, interval=0.25, nth=2)
    async with serving("openai", _faulty(fault)) as (emu, client):
        normal = await client.post(path, json=body, headers=auth_headers(emu))
        start = trio.current_time()
        arrivals: list[float] = []
        received = b""
        async with client.stream("POST", path, json=body, headers=auth_headers(emu)) as response:
            async for data in response.aiter_raw():
                received += data
                arrivals.append(trio.current_time() - start)
    assert received == normal.content
    pieces = -(-len(normal.content) // 16)
    assert len(arrivals) == pieces
    assert arrivals[-1] == pytest.approx(0.25 * (pieces - 1))
