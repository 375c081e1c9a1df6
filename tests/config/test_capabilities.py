"""Capability defaults by model prefix, overrides, token and cost estimates."""

from __future__ import annotations

import pytest

from hafs_actors.errors import ConfigError
from hafs_actors.routing.capabilities import (
    DEFAULT_CAPABILITIES,
    CapabilityOverride,
    CapabilityTable,
    ModelCapabilities,
    builtin_capabilities,
    estimate_cost,
    usage_cost,
)
from hafs_actors.tokens import (
    embed_batch_tokens,
    embed_window_tokens,
    request_tokens,
    text_tokens,
)
from hafs_actors.types import EmbedRequest, GenerateRequest, Message, Usage


@pytest.mark.parametrize(
    ("model", "kind", "window"),
    [
        ("claude-sonnet-4-20250514", "anthropic", 200_000),
        ("claude-opus-4-5-20251101", "anthropic", 200_000),
        ("gemini-3-pro-preview", "gemini", 1_048_576),
        ("models/gemini-3-flash-preview", "gemini", 1_048_576),
        ("gpt-4o-mini", "openai", 128_000),
        ("gpt-4", "openai", 8_192),
        ("gpt-5.2-mini", "openai", 400_000),
        ("qwen2.5-coder:14b", "ollama", 32_768),
        ("Qwen/Qwen2.5-Coder-32B-Instruct", "openai_compatible", 32_768),
        ("anything", "llamacpp", 8_192),
        ("qwen2.5-coder:14b", "llamacpp", 8_192),  # llama.cpp: the server's --ctx-size decides
        ("totally-unknown", None, DEFAULT_CAPABILITIES.context_window),
        ("totally-unknown", "anthropic", 200_000),
    ],
)
def test_builtin_windows(model: str, kind: str | None, window: int) -> None:
    assert builtin_capabilities(model, kind).context_window == window


def test_longest_prefix_wins() -> None:
    assert builtin_capabilities("gpt-4o-2024-08-06").max_output_tokens == 16_384
    assert builtin_capabilities("gpt-4-turbo").context_window == 128_000
    assert builtin_capabilities("claude-3-5-sonnet-latest").max_output_tokens == 8_192


def test_embedding_models_are_flagged() -> None:
    for model in ("text-embedding-004", "text-embedding-3-small", "nomic-embed-text"):
        caps = builtin_capabilities(model)
        assert caps.supports_embeddings
        assert not caps.supports_streaming
    assert not builtin_capabilities("gpt-4o").supports_embeddings


def test_local_models_are_free_and_cloud_prices_unknown() -> None:
    assert builtin_capabilities("llama3.1:8b", "ollama").input_price == 0.0
    assert builtin_capabilities("x", "llamacpp").output_price == 0.0
    assert builtin_capabilities("gpt-4o", "openai").input_price is None
    assert estimate_cost(builtin_capabilities("gpt-4o", "openai"), 1000, 10) is None


def test_overrides_exact_beats_prefix_and_longest_prefix_wins() -> None:
    table = CapabilityTable(
        kind="openai",
        overrides={
            "gpt-*": CapabilityOverride(context_window=1000),
            "gpt-4o*": CapabilityOverride(context_window=2000, input_price=2.5),
            "gpt-4o-mini": CapabilityOverride(context_window=3000),
        },
    )
    assert table.lookup("gpt-4o-mini").context_window == 3000
    assert table.lookup("gpt-4o-2024").context_window == 2000
    assert table.lookup("gpt-4o-2024").input_price == 2.5
    assert table.lookup("gpt-5").context_window == 1000
    # Fields an override leaves unset keep the built-in value.
    assert table.lookup("gpt-5").max_output_tokens == 128_000
    assert table.lookup("o3").context_window == 200_000


def test_override_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"context_window.*expected an integer >= 1, found int 0"):
        CapabilityOverride(context_window=0)
    with pytest.raises(ConfigError, match=r"input_price.*expected a number >= 0"):
        CapabilityOverride(input_price=-1.0)


def test_text_tokens() -> None:
    assert text_tokens("") == 0
    assert text_tokens("abc") == 1
    assert text_tokens("abcd") == 1
    assert text_tokens("abcde") == 2
    assert text_tokens("x" * 4000) == 1000


def test_request_tokens_counts_everything() -> None:
    request = GenerateRequest(
        model="m",
        prompt="p" * 40,
        system_prompt="s" * 400,
        messages=(Message(role="user", content="u" * 80),),
    )
    # 100 (system) + 20 + 4 (message) + 10 + 4 (prompt as a user turn)
    assert request_tokens(request) == 138
    batch = EmbedRequest(model="e", texts=("a" * 40, "b" * 400, ""))
    assert embed_window_tokens(batch) == 100  # the window applies per input
    assert embed_batch_tokens(batch) == sum(text_tokens(t) for t in batch.texts)


def test_costs() -> None:
    caps = ModelCapabilities(1000, 100, input_price=3.0, output_price=15.0)
    assert estimate_cost(caps, 1_000_000) == pytest.approx(3.0)
    assert estimate_cost(caps, 1000, 1000) == pytest.approx(0.018)
    assert usage_cost(caps, Usage(input_tokens=2000, output_tokens=100)) == pytest.approx(0.0075)
    assert usage_cost(caps, Usage()) is None
    no_output_price = ModelCapabilities(1000, 100, input_price=1.0)
    assert estimate_cost(no_output_price, 1000) == pytest.approx(0.001)
    assert estimate_cost(no_output_price, 1000, 5) is None
