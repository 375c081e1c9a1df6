"""Every failure becomes the right typed error, with provider, model, status, request id and
retryability, and never a key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hafs_actors.adapters import error_from_body, map_transport_error
from hafs_actors.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)


def err(status: int, body: Any, headers: dict[str, str] | None = None) -> ProviderError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_body(raw, provider="p", model="m", status=status, headers=headers or {})


def openai_body(message: str, type_: str = "invalid_request_error", code: Any = None) -> Any:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def anthropic_body(type_: str, message: str) -> Any:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_b"}


def google_body(code: int, status: str, message: str) -> Any:
    return {"error": {"code": code, "message": message, "status": status}}


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (429, openai_body("slow down", "requests", "rate_limit_exceeded"), RateLimitError, True),
        (
            429,
            openai_body("quota", "insufficient_quota", "insufficient_quota"),
            RateLimitError,
            False,
        ),
        (529, anthropic_body("overloaded_error", "Overloaded"), OverloadedError, True),
        (503, google_body(503, "UNAVAILABLE", "The model is overloaded."), OverloadedError, True),
        (500, anthropic_body("api_error", "Internal"), ServerError, True),
        (502, b"<html>Bad Gateway</html>", ServerError, True),
        (504, google_body(504, "DEADLINE_EXCEEDED", "Deadline"), ServerError, True),
        (
            401,
            anthropic_body("authentication_error", "invalid x-api-key"),
            AuthenticationError,
            False,
        ),
        (403, google_body(403, "PERMISSION_DENIED", "denied"), AuthenticationError, False),
        (400, openai_body("bad"), BadRequestError, False),
        (422, {"detail": "unprocessable"}, BadRequestError, False),
        (404, {"error": "model 'x' not found"}, NotFoundError, False),
        (413, anthropic_body("request_too_large", "too big"), BadRequestError, False),
        (
            400,
            openai_body("flagged", "invalid_request_error", "content_filter"),
            ContentFilterError,
            False,
        ),
        (408, b"", ProviderTimeoutError, True),
    ],
)
def test_status_classification(status: int, body: Any, cls: type, retryable: bool) -> None:
    error = err(status, body)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.status == status
    assert error.provider == "p"
    assert error.model == "m"


@pytest.mark.parametrize(
    "status_body",
    [
        (
            400,
            openai_body(
                "This model's maximum context length is 8192 tokens. However, your "
                "messages resulted in 9000 tokens.",
                code="context_length_exceeded",
            ),
        ),
        (
            400,
            anthropic_body(
                "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
            ),
        ),
        (
            400,
            google_body(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the "
                "maximum number of tokens allowed (1048576).",
            ),
        ),
        (500, {"error": "input length exceeds the context length"}),  # Ollama
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                }
            },
        ),
    ],
    ids=["openai", "anthropic", "gemini", "ollama", "llamacpp"],
)
def test_context_length_per_provider(status_body: tuple[int, Any]) -> None:
    status, body = status_body
    error = err(status, body)
    assert isinstance(error, ContextLengthError)
    assert isinstance(error, BadRequestError)  # a context error is also a bad request
    assert not error.retryable


def test_request_id_from_header_or_body() -> None:
    assert err(500, {"error": "x"}, {"x-request-id": "req_h"}).request_id == "req_h"
    assert err(500, {"error": "x"}, {"request-id": "req_a"}).request_id == "req_a"
    assert err(529, anthropic_body("overloaded_error", "Overloaded")).request_id == "req_b"


def test_rate_limit_delay_sources() -> None:
    hinted = err(429, openai_body("x", "tokens", "rate_limit_exceeded"))
    assert isinstance(hinted, RateLimitError)
    assert hinted.retry_after is None
    retry_info = {
        "error": {
            "code": 429,
            "message": "Please retry in 12.59s",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    gemini = err(429, retry_info)
    assert isinstance(gemini, RateLimitError)
    assert gemini.retry_after == 12.0
    assert gemini.rate_limit is not None
    assert gemini.rate_limit.retry_after == 12.0


def test_non_json_body_keeps_status_and_text() -> None:
    error = err(502, b"upstream connect error")
    assert "502" in error.message
    assert "upstream connect error" in error.message


def test_keys_never_appear_in_error_text() -> None:
    body = openai_body("Incorrect API key provided: sk-proj-abcdefghijklmnop1234.", code="x")
    error = err(401, body)
    assert "sk-proj-abcdefghijklmnop1234" not in str(error)
    assert "sk-proj-abcdefghijklmnop1234" not in repr(error)


@pytest.mark.parametrize(
    ("exc", "cls", "phase"),
    [
        (httpx.ConnectTimeout("t"), ProviderTimeoutError, "connect"),
        (httpx.ReadTimeout("t"), ProviderTimeoutError, "read"),
        (httpx.WriteTimeout("t"), ProviderTimeoutError, "write"),
        (httpx.PoolTimeout("t"), ProviderTimeoutError, "pool"),
        (httpx.ConnectError("refused"), ProviderConnectionError, None),
        (httpx.RemoteProtocolError("peer closed"), ProviderConnectionError, None),
        (httpx.ReadError("reset"), ProviderConnectionError, None),
        (httpx.DecodingError("gzip"), ProtocolError, None),
    ],
)
def test_transport_errors(exc: httpx.HTTPError, cls: type, phase: str | None) -> None:
    error = map_transport_error(exc, provider="p", model="m")
    assert type(error) is cls
    if phase is not None:
        assert isinstance(error, ProviderTimeoutError)
        assert error.phase == phase
    assert error.retryable is (cls is not ProtocolError)


def test_read_timeout_while_streaming_is_idle() -> None:
    error = map_transport_error(
        httpx.ReadTimeout("t"), provider="p", model="m", streaming_body=True
    )
    assert isinstance(error, ProviderTimeoutError)
    assert error.phase == "idle"


def test_bad_scheme_is_not_retryable() -> None:
    error = map_transport_error(httpx.UnsupportedProtocol("ftp"), provider="p", model="m")
    assert isinstance(error, ProviderConnectionError)
    assert not error.retryable


def test_x_should_retry_header_decides_retryability() -> None:
    body = openai_body("conflict", "invalid_request_error")
    assert err(400, body, {"x-should-retry": "true"}).retryable
    assert not err(500, {"error": "x"}, {"x-should-retry": "false"}).retryable
    assert err(500, {"error": "x"}).retryable
