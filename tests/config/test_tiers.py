"""Provider and tier names, the default routes, and route-string parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.routing.tiers import (
    DEFAULT_EMBED_MODELS,
    DEFAULT_EMBED_ROUTE,
    DEFAULT_TIER,
    DEFAULT_TIER_ROUTES,
    Provider,
    TaskTier,
    format_route_entry,
    name_of,
    parse_rotation,
    parse_route_entry,
)


def test_enums_have_exactly_the_seed_members() -> None:
    assert {p.name: p.value for p in Provider} == {
        "GEMINI": "gemini",
        "ANTHROPIC": "anthropic",
        "OPENAI": "openai",
        "OLLAMA": "ollama",
        "LLAMACPP": "llamacpp",
    }
    assert {t.name: t.value for t in TaskTier} == {
        "REASONING": "reasoning",
        "FAST": "fast",
        "CODING": "coding",
        "RESEARCH": "research",
        "CREATIVE": "creative",
    }


def test_enums_are_interchangeable_with_strings() -> None:
    plain: str = "gemini"
    assert plain == Provider.GEMINI
    assert {plain: 1}[Provider.GEMINI] == 1
    assert f"{Provider.OLLAMA}:{TaskTier.CODING}" == "ollama:coding"
    assert name_of(Provider.OPENAI) == "openai"
    assert type(name_of(TaskTier.FAST)) is str
    assert name_of("custom") == "custom"
    assert DEFAULT_TIER_ROUTES[TaskTier.CODING] == DEFAULT_TIER_ROUTES["coding"]


def test_seed_tier_routes_verbatim() -> None:
    assert DEFAULT_TIER_ROUTES["reasoning"] == (
        ("gemini", "gemini-3-pro-preview"),
        ("anthropic", "claude-opus-4-5-20251101"),
    )
    assert DEFAULT_TIER_ROUTES["fast"] == (
        ("gemini", "gemini-3-flash-preview"),
        ("openai", "gpt-5.2-mini"),
    )
    assert DEFAULT_TIER_ROUTES["coding"] == (
        ("gemini", "gemini-3-flash-preview"),
        ("ollama", "qwen2.5-coder:14b"),
    )


def test_every_tier_has_a_route_of_known_providers() -> None:
    assert set(DEFAULT_TIER_ROUTES) == {t.value for t in TaskTier}
    assert DEFAULT_TIER in DEFAULT_TIER_ROUTES
    for route in DEFAULT_TIER_ROUTES.values():
        assert len(route) >= 2
        assert {p for p, _ in route} <= {p.value for p in Provider}


def test_embedding_defaults() -> None:
    assert dict(DEFAULT_EMBED_MODELS) == {
        "gemini": "text-embedding-004",
        "openai": "text-embedding-3-small",
        "ollama": "nomic-embed-text",
        "llamacpp": "default",
    }
    assert "anthropic" not in {p for p, _ in DEFAULT_EMBED_ROUTE}


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("gemini:gemini-3-flash-preview", ("gemini", "gemini-3-flash-preview")),
        ("ollama:qwen2.5-coder:14b", ("ollama", "qwen2.5-coder:14b")),
        ("  anthropic : claude-sonnet-4 ", ("anthropic", "claude-sonnet-4")),
        ("llamacpp", ("llamacpp", None)),
    ],
)
def test_parse_route_entry(text: str, entry: tuple[str, str | None]) -> None:
    assert parse_route_entry(text) == entry


@pytest.mark.parametrize(
    ("text", "why"), [(":model", "no provider"), ("gemini:", "empty model"), ("  ", "no provider")]
)
def test_parse_route_entry_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_route_entry(text)


def test_parse_rotation_seed_value_and_blanks() -> None:
    seed = "gemini:gemini-3-flash-preview,anthropic:claude-sonnet-4"
    assert parse_rotation(seed) == (
        ("gemini", "gemini-3-flash-preview"),
        ("anthropic", "claude-sonnet-4"),
    )
    assert parse_rotation("ollama:qwen2.5-coder:14b, ,openai:gpt-4o,") == (
        ("ollama", "qwen2.5-coder:14b"),
        ("openai", "gpt-4o"),
    )
    assert parse_rotation(["gemini", "ollama:llama3:8b"]) == (
        ("gemini", None),
        ("ollama", "llama3:8b"),
    )


provider_names = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
model_names = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,20}", fullmatch=True)


@given(st.lists(st.tuples(provider_names, st.none() | model_names), max_size=6))
def test_rotation_round_trip(route: list[tuple[str, str | None]]) -> None:
    text = ",".join(format_route_entry(e) for e in route)
    assert parse_rotation(text) == tuple(route)
