"""Turn every failure (HTTP status, error body, in-stream error, transport exception) into a typed
error from :mod:`hafs_actors.errors`, never into content.

The providers disagree on envelopes (OpenAI/llama.cpp ``{"error":{message,type,code}}``,
Anthropic ``{"type":"error","error":{type,message},"request_id"}``, Google ``google.rpc.Status``
``{"error":{code,message,status,details}}``, Ollama ``{"error":"..."}``) but agree enough that
one classifier serves all: HTTP status first, refined by the error type/code and, for context
length, by the message (that is the only place some providers say it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from ..errors import (
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
from ..types import RateLimitInfo
from .ratelimit import gemini_retry_delay, server_retry_after

__all__ = [
    "ErrorDetail",
    "error_from_body",
    "error_from_detail",
    "extract_error",
    "map_transport_error",
    "request_id_from",
]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-goog-request-id", "x-amzn-requestid")

#: Error ``type`` (OpenAI/Anthropic/llama.cpp) or ``status`` (Google) -> the HTTP status it means.
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "exceed_context_size_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "api_error": 500,
    "server_error": 500,
    "not_supported_error": 501,
    "unavailable_error": 503,
    "timeout_error": 504,
    "overloaded_error": 529,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "exceed_context_size",
    "maximum context length",
    "context length",
    "context window",
    "context size",
    "prompt is too long",
    "exceeds the maximum number of tokens",
    "input is too long",
)
_CONTENT_FILTER_CODES = frozenset(("content_filter", "content_policy_violation"))
_NOT_RETRYABLE_429 = frozenset(("insufficient_quota", "billing_hard_limit_reached"))
#: Google answers a bad key with 400 INVALID_ARGUMENT; its ErrorInfo reason says what it is.
_KEY_REASONS = frozenset(("API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"))


@attrs.frozen
class ErrorDetail:
    """What an error body says, whatever the envelope."""

    message: str
    type: str | None = None  # error.type or google status (e.g. RESOURCE_EXHAUSTED)
    code: str | None = None  # error.code as text (OpenAI "rate_limit_exceeded", Google 429)
    request_id: str | None = None
    retry_delay: float | None = None  # google.rpc.RetryInfo
    reason: str | None = None  # google.rpc.ErrorInfo reason (e.g. API_KEY_INVALID)


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The provider's request id from lower-case response headers."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def extract_error(payload: Any) -> ErrorDetail | None:
    """Read an error object in any provider's envelope; ``None`` if ``payload`` is not one."""
    if isinstance(payload, list) and payload:
        payload = payload[0]  # older Google streaming errors came as a one-element array
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if error is None:
        return None
    request_id = payload.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    if isinstance(error, str):  # Ollama
        return ErrorDetail(message=error, request_id=request_id)
    if not isinstance(error, dict):
        return ErrorDetail(message=str(error), request_id=request_id)
    message = error.get("message")
    etype = error.get("type") or error.get("status")
    code = error.get("code")
    return ErrorDetail(
        message=message if isinstance(message, str) else json.dumps(error)[:500],
        type=etype if isinstance(etype, str) else None,
        code=None if code is None else str(code),
        request_id=request_id,
        retry_delay=gemini_retry_delay(payload),
        reason=_error_info_reason(error.get("details")),
    )


def _error_info_reason(details: Any) -> str | None:
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("rpc.ErrorInfo"):
            reason = detail.get("reason")
            return reason if isinstance(reason, str) else None
    return None


def _status_of(detail: ErrorDetail) -> int | None:
    if detail.code is not None and detail.code.isdigit():
        return int(detail.code)
    if detail.type is not None:
        return _TYPE_STATUS.get(detail.type)
    if detail.code is not None:
        return _TYPE_STATUS.get(detail.code)
    return None


def _is_context_error(detail: ErrorDetail) -> bool:
    if detail.code == "context_length_exceeded" or detail.type == "exceed_context_size_error":
        return True
    text = detail.message.lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def error_from_detail(
    detail: ErrorDetail,
    *,
    provider: str,
    model: str,
    status: int | None,
    request_id: str | None = None,
    rate_limit: RateLimitInfo | None = None,
) -> ProviderError:
    """Classify one error. ``status`` is the HTTP status, or ``None`` for in-stream errors (the
    class is then inferred from the error's own code or type)."""
    effective = status if status is not None and status >= 400 else _status_of(detail)
    reported = effective if status is None or status < 400 else status
    rid = request_id or detail.request_id
    described = " ".join(x for x in (detail.type, detail.code) if x and x != str(reported))
    message = f"{described}: {detail.message}" if described else detail.message
    common: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status": reported,
        "request_id": rid,
    }
    if detail.type == "overloaded_error" or effective in (503, 529):
        return OverloadedError(message, retry_after=_retry_after(detail, rate_limit), **common)
    if effective == 429:
        retry_after = _retry_after(detail, rate_limit)
        info = rate_limit
        if detail.retry_delay is not None:
            info = attrs.evolve(info or RateLimitInfo(), retry_after=detail.retry_delay)
        not_retryable = detail.code in _NOT_RETRYABLE_429 or detail.type in _NOT_RETRYABLE_429
        return RateLimitError(
            message,
            rate_limit=info,
            retry_after=retry_after,
            retryable=False if not_retryable else None,
            **common,
        )
    if effective in (400, 413, 422, 500) and _is_context_error(detail):
        return ContextLengthError(message, **common)
    if detail.code in _CONTENT_FILTER_CODES:
        return ContentFilterError(message, **common)
    if effective in (401, 402, 403) or detail.reason in _KEY_REASONS:
        return AuthenticationError(message, **common)
    if effective == 404:
        return NotFoundError(message, **common)
    if effective == 408:
        return ProviderTimeoutError(message, phase="read", **common)
    if effective == 409:
        return ServerError(message, **common)
    if effective is not None and 400 <= effective < 500 and effective != 499:
        return BadRequestError(message, **common)
    # 499 (Google CANCELLED), 5xx, or an in-stream error that gives no code at all: the
    # provider reported a failure on its side.
    return ServerError(message, **common)


def success_body(
    payload: Any, *, what: str, provider: str, model: str, request_id: str | None
) -> dict[str, Any]:
    """A 2xx body that must be a JSON object: anything else is a :class:`ProtocolError`, and an
    error envelope inside it (providers send some with status 200) becomes its typed error."""
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"{what} is not a JSON object: {type(payload).__name__}",
            provider=provider,
            model=model,
            request_id=request_id,
        )
    detail = extract_error(payload)
    if detail is not None:
        raise error_from_detail(
            detail, provider=provider, model=model, status=None, request_id=request_id
        )
    return payload


def _retry_after(detail: ErrorDetail, rate_limit: RateLimitInfo | None) -> float | None:
    if rate_limit is not None and rate_limit.retry_after is not None:
        return rate_limit.retry_after
    if detail.retry_delay is not None:
        return detail.retry_delay
    return server_retry_after(rate_limit) if rate_limit is not None else None


def error_from_body(
    body: bytes,
    *,
    provider: str,
    model: str,
    status: int,
    headers: Mapping[str, str],
    rate_limit: RateLimitInfo | None = None,
) -> ProviderError:
    """The typed error for a non-2xx response (``headers`` with lower-case names)."""
    detail: ErrorDetail | None = None
    try:
        detail = extract_error(json.loads(body)) if body else None
    except ValueError:
        detail = None
    if detail is None:
        text = body[:300].decode("utf-8", "replace").strip()
        reason = httpx.codes.get_reason_phrase(status) or "error"
        detail = ErrorDetail(message=f"HTTP {status} {reason}" + (f": {text}" if text else ""))
    error = error_from_detail(
        detail,
        provider=provider,
        model=model,
        status=status,
        request_id=request_id_from(headers),
        rate_limit=rate_limit,
    )
    # The server's own verdict wins, as in the official SDKs (OpenAI, Anthropic).
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        error.retryable = should_retry == "true"
    return error


def map_transport_error(
    exc: httpx.HTTPError,
    *,
    provider: str,
    model: str,
    streaming_body: bool = False,
    request_id: str | None = None,
) -> ProviderError:
    """The typed error for an httpx exception. ``streaming_body``: the failure happened while
    reading a stream's body, where a read timeout is the idle gap between chunks."""
    common: dict[str, Any] = {"provider": provider, "model": model, "request_id": request_id}
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout):
            phase = "connect"
        elif isinstance(exc, httpx.WriteTimeout):
            phase = "write"
        elif isinstance(exc, httpx.PoolTimeout):
            phase = "pool"
        else:
            phase = "idle" if streaming_body else "read"
        return ProviderTimeoutError(f"{phase} timeout", phase=phase, **common)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"undecodable response body: {detail}", **common)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ProviderConnectionError(f"bad base URL: {detail}", retryable=False, **common)
    if isinstance(exc, httpx.ConnectError):
        return ProviderConnectionError(f"could not connect: {detail}", **common)
    where = "stream broke" if streaming_body else "connection failed"
    return ProviderConnectionError(f"{where}: {type(exc).__name__}: {detail}", **common)
