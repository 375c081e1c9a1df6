"""Rate-limit signals: every provider's header format normalized to seconds from now."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.adapters import parse_duration, parse_rate_limit_headers, parse_retry_after
from hafs_actors.adapters.ratelimit import gemini_retry_delay, server_retry_after
from hafs_actors.types import RateLimitInfo

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("12ms", 0.012),
        ("1h2m3.5s", 3723.5),
        ("0s", 0.0),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("7", 7.0),
        ("0.5", 0.5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "m5", "-1", "1s2", "nan", "inf"])
def test_bad_durations_are_absent(text: str) -> None:
    assert parse_duration(text) is None


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_duration_roundtrip(h: int, m: int, s: int, ms: int) -> None:
    text = f"{h}h{m}m{s}s" if not ms else f"{h}h{m}m{s}s{ms}ms"
    assert parse_duration(text) == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


def test_openai_headers() -> None:
    info = parse_rate_limit_headers(
        "openai",
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-reset-tokens": "6m0s",
        },
    )
    assert info == RateLimitInfo(
        requests_limit=60,
        requests_remaining=59,
        requests_reset=1.0,
        tokens_limit=150000,
        tokens_remaining=149984,
        tokens_reset=360.0,
    )


def test_anthropic_headers_rfc3339_relative_to_now() -> None:
    info = parse_rate_limit_headers(
        "anthropic",
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:50Z",
            "anthropic-ratelimit-tokens-reset": "2023-11-14T22:14:20.5+00:00",
            "anthropic-ratelimit-input-tokens-remaining": "39000",
            "anthropic-ratelimit-output-tokens-reset": "2000-01-01T00:00:00Z",
            "retry-after": "30",
        },
        now=NOW,  # 2023-11-14T22:13:20Z
    )
    assert info.requests_limit == 50
    assert info.requests_remaining == 0
    assert info.requests_reset == pytest.approx(30.0)
    assert info.tokens_reset == pytest.approx(60.5)
    assert info.input_tokens_remaining == 39000
    assert info.output_tokens_reset == 0.0  # in the past: no wait
    assert info.retry_after == 30.0


def test_generic_retry_after_forms() -> None:
    date = format_datetime(datetime.fromtimestamp(NOW + 12, tz=timezone.utc), usegmt=True)
    assert parse_retry_after("3", now=NOW) == 3.0
    assert parse_retry_after("2.5", now=NOW) == 2.5
    assert parse_retry_after(date, now=NOW) == pytest.approx(12.0)
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_rate_limit_headers("x", {"retry-after-ms": "1500"}).retry_after == 1.5
    # retry-after-ms wins over retry-after, as in the official SDKs
    both = parse_rate_limit_headers("x", {"retry-after-ms": "100", "retry-after": "9"})
    assert both.retry_after == 0.1
    assert parse_rate_limit_headers("x", {"retry-after": date}, now=NOW).retry_after == (
        pytest.approx(12.0)
    )


def test_malformed_headers_are_absent_not_errors() -> None:
    info = parse_rate_limit_headers(
        "openai",
        {
            "x-ratelimit-limit-requests": "lots",
            "x-ratelimit-reset-tokens": "later",
            "retry-after-ms": "x",
            "retry-after": "y",
        },
    )
    assert info.empty


def test_gemini_retry_info() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"},
            ],
        }
    }
    assert gemini_retry_delay(body) == 12.5
    assert gemini_retry_delay({"error": {"details": []}}) is None
    assert gemini_retry_delay([1, 2]) is None


def test_server_retry_after_prefers_hint_then_exhausted_resets() -> None:
    assert server_retry_after(RateLimitInfo(retry_after=3.0, tokens_reset=99.0)) == 3.0
    exhausted = RateLimitInfo(
        requests_remaining=5, requests_reset=1.0, tokens_remaining=0, tokens_reset=20.0
    )
    assert server_retry_after(exhausted) == 20.0
    unknown_which = RateLimitInfo(requests_reset=1.0, tokens_reset=4.0)
    assert server_retry_after(unknown_which) == 4.0
    assert server_retry_after(RateLimitInfo()) is None


def test_every_header_read_has_a_listed_prefix() -> None:
    """Adapters skip the parse when no header starts with a listed prefix: no header the parser
    reads may fall outside them."""
    from hafs_actors.adapters import ratelimit

    names = ["retry-after", "retry-after-ms"]
    for table in (ratelimit._OPENAI_HEADERS, ratelimit._ANTHROPIC_HEADERS):
        names += [name for triple in table.values() for name in triple]
    assert all(name.startswith(ratelimit.RATE_LIMIT_HEADER_PREFIXES) for name in names)
