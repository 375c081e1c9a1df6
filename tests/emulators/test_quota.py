"""Server-side quotas: exact admission per window, provider headers, per-key/per-model buckets."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.testing.emulators import EmulatorConfig, FaultPlan, Quota
from hafs_actors.testing.emulators.quota import QuotaTracker

from ._helpers import auth_headers, chat_request, serving


@given(
    rpm=st.integers(1, 10),
    tpm=st.none() | st.integers(1, 200),
    steps=st.lists(st.tuples(st.floats(0, 30), st.integers(0, 50)), max_size=80),
)
def test_tracker_matches_a_reference_model(
    rpm: int, tpm: int | None, steps: list[tuple[float, int]]
) -> None:
    """Fixed windows anchored at the first request: at most rpm requests and tpm tokens each."""
    tracker = QuotaTracker(Quota(requests_per_minute=rpm, tokens_per_minute=tpm, window=60.0))
    now = 0.0
    start: float | None = None
    used_requests = used_tokens = 0
    for gap, tokens in steps:
        now += gap
        if start is None or now - start >= 60.0:
            start, used_requests, used_tokens = now, 0, 0
        expected = used_requests < rpm and (tpm is None or used_tokens + tokens <= tpm)
        decision = tracker.admit(("key", ""), tokens, now)
        assert decision.admitted == expected
        if expected:
            used_requests += 1
            used_tokens += tokens
        assert decision.requests_remaining == rpm - used_requests
        assert decision.reset_after == pytest.approx(start + 60.0 - now)
        assert (decision.retry_after is None) == expected


def test_quota_rejects_bad_limits() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        Quota(requests_per_minute=0)
    with pytest.raises(ValueError, match="window"):
        Quota(requests_per_minute=1, window=0)


async def test_rpm_admits_exactly_n_per_window(autojump_clock: trio.testing.MockClock) -> None:
    config = EmulatorConfig(faults=FaultPlan(quota=Quota(requests_per_minute=3)))
    path, body = chat_request("openai")
    async with serving("openai", config) as (emu, client):
        first = [await client.post(path, json=body, headers=auth_headers(emu)) for _ in range(5)]
        await trio.sleep(20)
        still_limited = await client.post(path, json=body, headers=auth_headers(emu))
        await trio.sleep(40)
        second = [await client.post(path, json=body, headers=auth_headers(emu)) for _ in range(4)]
    assert [r.status_code for r in first] == [200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in first[:3]] == ["2", "1", "0"]
    assert first[0].headers["x-ratelimit-limit-requests"] == "3"
    assert first[0].headers["x-ratelimit-reset-requests"] == "1m0s"
    assert first[3].headers["retry-after"] == "60"
    assert first[3].json()["error"]["code"] == "rate_limit_exceeded"
    assert still_limited.status_code == 429
    assert still_limited.headers["retry-after"] == "40"
    assert [r.status_code for r in second] == [200, 200, 200, 429]
    assert emu.stats().quota_rejections == 4


async def test_tpm_limits_tokens_and_says_so(autojump_clock: trio.testing.MockClock) -> None:
    path, body = chat_request("openai")
    async with serving("openai") as (emu, client):
        probe = await client.post(path, json=body, headers=auth_headers(emu))
        cost = probe.json()["usage"]["total_tokens"]
        emu.set_faults(FaultPlan(quota=Quota(tokens_per_minute=cost * 2)))
        statuses = [
            (await client.post(path, json=body, headers=auth_headers(emu))) for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[1].headers["x-ratelimit-remaining-tokens"] == "0"
    assert statuses[2].json()["error"]["type"] == "tokens"


async def test_openai_meters_per_model_and_anthropic_per_key() -> None:
    quota = FaultPlan(quota=Quota(requests_per_minute=1))
    path, body = chat_request("openai")
    async with serving("openai", EmulatorConfig(faults=quota)) as (emu, client):
        a = await client.post(path, json=body, headers=auth_headers(emu))
        b = await client.post(path, json={**body, "model": "gpt-4o"}, headers=auth_headers(emu))
        c = await client.post(path, json=body, headers=auth_headers(emu))
    assert [a.status_code, b.status_code, c.status_code] == [200, 200, 429]
    path, body = chat_request("anthropic")
    async with serving("anthropic", EmulatorConfig(faults=quota)) as (emu, client):
        a = await client.post(path, json=body, headers=auth_headers(emu))
        b = await client.post(
            path, json={**body, "model": "claude-opus-4-5"}, headers=auth_headers(emu)
        )
    assert [a.status_code, b.status_code] == [200, 429]
    assert a.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert b.json()["error"]["type"] == "rate_limit_error"
    assert b.headers["retry-after"] == "60"


@pytest.mark.parametrize("provider", ["gemini", "ollama", "llamacpp"])
async def test_quota_uses_each_providers_429(provider: str) -> None:
    config = EmulatorConfig(faults=FaultPlan(quota=Quota(requests_per_minute=1, scope="key")))
    path, body = chat_request(provider)
    async with serving(provider, config) as (emu, client):
        await client.post(path, json=body, headers=auth_headers(emu))
        limited = await client.post(path, json=body, headers=auth_headers(emu))
        models = await client.get(
            "/v1beta/models"
            if provider == "gemini"
            else "/api/tags"
            if provider == "ollama"
            else "/v1/models",
            headers=auth_headers(emu),
        )
    assert limited.status_code == 429
    assert models.status_code == 200  # listing models is not metered
    if provider == "gemini":
        assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        (retry,) = [d for d in limited.json()["error"]["details"] if "retryDelay" in d]
        assert retry["retryDelay"] == "60s"
