"""Rate-limit signals: each provider's headers (and Gemini's RetryInfo) in one normalized value.

Every duration in the result is seconds from the moment the response was received, whatever
the wire format: OpenAI sends Go-style durations (``6m0s``, ``1s``, ``20ms``), Anthropic sends
RFC 3339 instants, ``retry-after`` is seconds or an HTTP date, ``retry-after-ms`` is
milliseconds and Gemini's ``google.rpc.RetryInfo.retryDelay`` is a protobuf Duration
(``"12s"``, ``"0.5s"``). Values that do not parse are treated as absent: a malformed hint must
never turn a response into an error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from ..types import RateLimitInfo

__all__ = [
    "RATE_LIMIT_HEADER_PREFIXES",
    "gemini_retry_delay",
    "parse_duration",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "parse_timestamp",
    "server_retry_after",
]

_UNITS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
}

_OPENAI_KINDS = ("requests", "tokens", "input_tokens", "output_tokens")
_OPENAI_HEADERS = {
    kind: (
        f"x-ratelimit-limit-{kind.replace('_', '-')}",
        f"x-ratelimit-remaining-{kind.replace('_', '-')}",
        f"x-ratelimit-reset-{kind.replace('_', '-')}",
    )
    for kind in _OPENAI_KINDS
}
_ANTHROPIC_HEADERS = {
    kind: (
        f"anthropic-ratelimit-{kind.replace('_', '-')}-limit",
        f"anthropic-ratelimit-{kind.replace('_', '-')}-remaining",
        f"anthropic-ratelimit-{kind.replace('_', '-')}-reset",
    )
    for kind in _OPENAI_KINDS
}


#: Every header name this module reads starts with one of these: a response without any of
#: them carries no rate-limit signal, so callers can skip the parse.
RATE_LIMIT_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after")


def parse_duration(value: str) -> float | None:
    """Seconds in a Go-style duration (``1h2m3.5s``, ``6m0s``, ``20ms``) or a bare number.

    Returns ``None`` when the text is not a duration.
    """
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) and number >= 0 else None
    total = 0.0
    i, n = 0, len(text)
    while i < n:
        start = i
        while i < n and (text[i].isdigit() or text[i] == "."):
            i += 1
        if start == i:
            return None
        try:
            amount = float(text[start:i])
        except ValueError:
            return None
        unit_start = i
        while i < n and not (text[i].isdigit() or text[i] == "."):
            i += 1
        factor = _UNITS.get(text[unit_start:i])
        if factor is None:
            return None
        total += amount * factor
    return total


def parse_timestamp(value: str, *, now: float | None = None) -> float | None:
    """Seconds from ``now`` (epoch seconds, default the wall clock) until an RFC 3339 instant.

    Past instants give 0. Returns ``None`` when the text is not a timestamp.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def parse_retry_after(value: str, *, now: float | None = None) -> float | None:
    """A ``retry-after`` value: delay-seconds (integer or float) or an HTTP date (RFC 9110)."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if math.isfinite(number) else None


def _generic_retry_after(headers: Mapping[str, str], now: float | None) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            millis = float(ms)
        except ValueError:
            millis = math.nan
        if math.isfinite(millis) and millis >= 0:
            return millis / 1000.0
    after = headers.get("retry-after")
    if after is not None:
        return parse_retry_after(after, now=now)
    return None


def parse_rate_limit_headers(
    provider: str, headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitInfo:
    """One response's rate-limit headers as a :class:`~hafs_actors.types.RateLimitInfo`.

    ``provider`` picks the header family: ``"anthropic"`` reads ``anthropic-ratelimit-*`` (RFC
    3339 resets); every other provider reads the OpenAI family ``x-ratelimit-*`` (duration
    resets), which OpenAI-compatible servers reuse. All read ``retry-after-ms`` and
    ``retry-after``. ``headers`` must look up names case-insensitively (``httpx.Headers`` does)
    or use lower-case keys. ``now`` (epoch seconds) is for tests; it defaults to the wall clock.
    """
    values: dict[str, Any] = {}
    if provider == "anthropic":
        for kind, (limit, remaining, reset) in _ANTHROPIC_HEADERS.items():
            raw_reset = headers.get(reset)
            values[f"{kind}_limit"] = _int(headers.get(limit))
            values[f"{kind}_remaining"] = _int(headers.get(remaining))
            values[f"{kind}_reset"] = (
                None if raw_reset is None else parse_timestamp(raw_reset, now=now)
            )
    else:
        for kind, (limit, remaining, reset) in _OPENAI_HEADERS.items():
            raw_reset = headers.get(reset)
            values[f"{kind}_limit"] = _int(headers.get(limit))
            values[f"{kind}_remaining"] = _int(headers.get(remaining))
            values[f"{kind}_reset"] = None if raw_reset is None else parse_duration(raw_reset)
    values["retry_after"] = _generic_retry_after(headers, now)
    return RateLimitInfo(**values)


def gemini_retry_delay(body: Any) -> float | None:
    """``retryDelay`` of a ``google.rpc.RetryInfo`` detail in a Google error body, in seconds."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return None
    for detail in details:
        if (
            isinstance(detail, dict)
            and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo")
            and isinstance(delay := detail.get("retryDelay"), str)
        ):
            return parse_duration(delay)
    return None


def server_retry_after(info: RateLimitInfo) -> float | None:
    """The server's wait before retrying a 429: the explicit hint, else the reset headers.

    Prefers ``retry_after`` (from ``retry-after-ms``/``retry-after``/RetryInfo). Otherwise takes
    the longest reset among the exhausted limits (remaining 0), or among all known resets when
    none says it is exhausted.
    """
    if info.retry_after is not None:
        return info.retry_after
    pairs = (
        (info.requests_remaining, info.requests_reset),
        (info.tokens_remaining, info.tokens_reset),
        (info.input_tokens_remaining, info.input_tokens_reset),
        (info.output_tokens_remaining, info.output_tokens_reset),
    )
    exhausted = [reset for remaining, reset in pairs if remaining == 0 and reset is not None]
    if exhausted:
        return max(exhausted)
    known = [reset for _, reset in pairs if reset is not None]
    return max(known) if known else None
