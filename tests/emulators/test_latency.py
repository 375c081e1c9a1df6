"""The latency model on trio's clock: TTFT, tokens/s and the lognormal spread, under MockClock."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest
import trio

from hafs_actors.testing.emulators import (
    EmulatorConfig,
    LatencyModel,
    ModelProfile,
    default_profiles,
)

from ._helpers import auth_headers, chat_request, serving

PACED = LatencyModel(ttft_median=0.5, tokens_per_second=20.0)


def test_lognormal_median_and_p99_come_out_as_configured() -> None:
    model = LatencyModel(ttft_median=0.8, ttft_p99=3.2)
    rng = random.Random(7)
    samples = sorted(model.sample_ttft(rng) for _ in range(40_000))
    assert statistics.median(samples) == pytest.approx(0.8, rel=0.03)
    assert samples[int(0.99 * len(samples))] == pytest.approx(3.2, rel=0.08)
    assert LatencyModel(ttft_median=0.8).sample_ttft(rng) == 0.8
    assert LatencyModel.zero().is_zero
    assert not PACED.is_zero


def test_latency_model_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="ttft_p99"):
        LatencyModel(ttft_median=2.0, ttft_p99=1.0)
    with pytest.raises(ValueError, match="tokens_per_second"):
        LatencyModel(tokens_per_second=0)
    with pytest.raises(ValueError, match="ttft_median"):
        LatencyModel(ttft_median=-1)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama", "llamacpp"])
async def test_stream_ttft_and_token_rate(
    provider: str, autojump_clock: trio.testing.MockClock
) -> None:
    path, body = chat_request(provider, stream=True)
    async with serving(provider, EmulatorConfig(latency=PACED)) as (emu, client):
        start = trio.current_time()
        arrivals: list[float] = []
        async with client.stream("POST", path, json=body, headers=auth_headers(emu)) as response:
            headers_at = trio.current_time() - start
            async for _ in response.aiter_raw():
                arrivals.append(trio.current_time() - start)
    stats = emu.stats()
    tokens = stats.output_tokens
    # Head, preamble and first token arrive together at TTFT; then one token per 1/20 s.
    assert headers_at == pytest.approx(0.5)
    assert arrivals[0] == pytest.approx(0.5)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps == pytest.approx([0.05] * (tokens - 1))
    assert arrivals[-1] == pytest.approx(0.5 + (tokens - 1) / 20.0)


async def test_non_streamed_reply_waits_for_the_whole_generation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    path, body = chat_request("openai")
    async with serving("openai", EmulatorConfig(latency=PACED)) as (emu, client):
        start = trio.current_time()
        response = await client.post(path, json=body, headers=auth_headers(emu))
        elapsed = trio.current_time() - start
        models_start = trio.current_time()
        await client.get("/v1/models", headers=auth_headers(emu))
        models_elapsed = trio.current_time() - models_start
    tokens = response.json()["usage"]["completion_tokens"]
    assert elapsed == pytest.approx(0.5 + (tokens - 1) / 20.0)
    assert models_elapsed == 0.0  # only generation and embeddings are paced


async def test_realistic_mode_uses_each_models_profile(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fast = ModelProfile("fast", latency=LatencyModel(ttft_median=0.1, tokens_per_second=1000.0))
    slow = ModelProfile("slow", latency=LatencyModel(ttft_median=2.0, tokens_per_second=10.0))
    config = EmulatorConfig(latency="realistic", models=(fast, slow))
    path, body = chat_request("openai")
    times = {}
    async with serving("openai", config) as (emu, client):
        for name in ("fast", "slow"):
            start = trio.current_time()
            response = await client.post(
                path, json={**body, "max_tokens": 11, "model": name}, headers=auth_headers(emu)
            )
            assert response.status_code == 200
            times[name] = trio.current_time() - start
    assert times == pytest.approx({"fast": 0.1 + 10 / 1000.0, "slow": 2.0 + 10 / 10.0})


async def test_zero_latency_takes_no_time(autojump_clock: trio.testing.MockClock) -> None:
    path, body = chat_request("anthropic", stream=True)
    async with serving("anthropic") as (emu, client):
        start = trio.current_time()
        await client.post(path, json=body, headers=auth_headers(emu))
        assert trio.current_time() == start


def test_default_profiles_are_realistic() -> None:
    for provider in ("openai", "anthropic", "gemini", "ollama", "llamacpp"):
        chat = [p for p in default_profiles(provider) if p.kind == "chat"]
        assert chat
        assert all(0 < p.latency.ttft_median < (p.latency.ttft_p99 or 0) for p in chat)
        assert all((p.latency.tokens_per_second or 0) > 5 for p in chat)
    names = {
        p.name
        for provider in ("openai", "anthropic", "gemini", "ollama")
        for p in default_profiles(provider)
    }
    assert {
        "gemini-3-pro-preview",
        "gemini-3-flash-preview",
        "text-embedding-004",
        "claude-opus-4-5-20251101",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4",
        "gpt-5.2-mini",
        "gpt-4o-mini",
        "text-embedding-3-small",
        "qwen2.5-coder:14b",
        "nomic-embed-text",
    } <= names
