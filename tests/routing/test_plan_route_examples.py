"""plan_route on concrete cases: the seed's routes, docs/design.md's precedence, skip reasons."""

from __future__ import annotations

import pytest

from hafs_actors.routing import (
    Candidate,
    ProviderState,
    RoutePlan,
    RouteRequest,
    RoutingSnapshot,
    Skipped,
    plan_route,
    providers_with_larger_window,
)
from hafs_actors.routing.capabilities import CapabilityOverride, CapabilityTable
from hafs_actors.routing.tiers import DEFAULT_MODELS, Provider, TaskTier


def state(name: str, **kw: object) -> ProviderState:
    defaults: dict[str, object] = {
        "configured": True,
        "supports_embeddings": name != "anthropic",
        "default_model": DEFAULT_MODELS.get(name),
        "embed_model": {"gemini": "text-embedding-004", "openai": "text-embedding-3-small"}.get(
            name, "embed-" + name
        ),
        "capabilities": CapabilityTable(kind=name),
    }
    defaults.update(kw)
    if name == "anthropic" and "embed_model" not in kw:
        defaults["embed_model"] = None
    return ProviderState(**defaults)  # type: ignore[arg-type]


def all_up(**overrides: ProviderState) -> RoutingSnapshot:
    providers = {p.value: state(p.value) for p in Provider}
    providers.update(overrides)
    return RoutingSnapshot(providers=providers)


def pairs(plan: RoutePlan) -> list[tuple[str, str]]:
    return [(c.provider, c.model) for c in plan.candidates]


def test_seed_coding_route() -> None:
    plan = plan_route(RouteRequest(tier=TaskTier.CODING), all_up())
    assert pairs(plan) == [("gemini", "gemini-3-flash-preview"), ("ollama", "qwen2.5-coder:14b")]
    assert plan.skipped == ()


def test_seed_explicit_provider_then_tier_route_without_duplicates() -> None:
    request = RouteRequest(
        tier=TaskTier.REASONING, provider=Provider.GEMINI, model="gemini-3-pro-preview"
    )
    plan = plan_route(request, all_up())
    # (gemini, gemini-3-pro-preview) is also the REASONING route's first step: kept once.
    assert pairs(plan) == [
        ("gemini", "gemini-3-pro-preview"),
        ("anthropic", "claude-opus-4-5-20251101"),
    ]


def test_explicit_provider_without_model_uses_its_default_model() -> None:
    plan = plan_route(RouteRequest(tier="fast", provider="openai"), all_up())
    assert pairs(plan)[0] == ("openai", "gpt-5.2-mini")
    assert pairs(plan)[1] == ("gemini", "gemini-3-flash-preview")


def test_allow_fallback_false_gives_exactly_the_named_provider() -> None:
    request = RouteRequest(tier="fast", provider="anthropic", allow_fallback=False)
    assert pairs(plan_route(request, all_up())) == [("anthropic", "claude-sonnet-4-20250514")]
    down = all_up(anthropic=state("anthropic", down=True))
    plan = plan_route(request, down)
    assert plan.candidates == ()
    assert plan.skipped == (Skipped("anthropic", "claude-sonnet-4-20250514", "marked down"),)


def test_fallback_providers_replace_the_tier_route_and_rotation() -> None:
    snapshot = RoutingSnapshot(
        providers=all_up().providers,
        rotation=(("openai", "gpt-4o"),),
        override=("anthropic", None),
    )
    chain = (
        (Provider.GEMINI, "gemini-3-flash-preview"),
        (Provider.OLLAMA, "qwen2.5-coder:14b"),
        ("custom", "custom-model"),
    )
    plan = plan_route(RouteRequest(tier=TaskTier.CODING, fallback_providers=chain), snapshot)
    assert pairs(plan) == [("gemini", "gemini-3-flash-preview"), ("ollama", "qwen2.5-coder:14b")]
    assert plan.skipped == (Skipped("custom", "custom-model", "unknown provider"),)


def test_no_provider_rotation_then_override_then_tier_route() -> None:
    snapshot = RoutingSnapshot(
        providers=all_up().providers,
        rotation=(("ollama", "qwen2.5-coder:14b"), ("anthropic", "claude-sonnet-4")),
        override=("openai", "gpt-4o"),
    )
    plan = plan_route(RouteRequest(tier="fast"), snapshot)
    assert pairs(plan) == [
        ("ollama", "qwen2.5-coder:14b"),
        ("anthropic", "claude-sonnet-4"),
        ("openai", "gpt-4o"),
        ("gemini", "gemini-3-flash-preview"),
        ("openai", "gpt-5.2-mini"),
    ]


def test_override_model_none_means_default_model() -> None:
    snapshot = RoutingSnapshot(providers=all_up().providers, override=("anthropic", None))
    plan = plan_route(RouteRequest(tier="fast"), snapshot)
    assert pairs(plan)[0] == ("anthropic", "claude-sonnet-4-20250514")


def test_explicit_provider_ignores_rotation_and_override() -> None:
    snapshot = RoutingSnapshot(
        providers=all_up().providers, rotation=(("ollama", None),), override=("openai", None)
    )
    plan = plan_route(RouteRequest(tier="coding", provider="anthropic"), snapshot)
    assert [p for p, _ in pairs(plan)] == ["anthropic", "gemini", "ollama"]


def test_no_tier_uses_default_provider_then_default_tier() -> None:
    snapshot = RoutingSnapshot(providers=all_up().providers, default_provider="ollama")
    plan = plan_route(RouteRequest(), snapshot)
    assert pairs(plan) == [
        ("ollama", "qwen2.5-coder:14b"),
        ("gemini", "gemini-3-flash-preview"),
        ("openai", "gpt-5.2-mini"),
    ]
    snapshot = RoutingSnapshot(providers=all_up().providers, default_tier="creative")
    assert pairs(plan_route(RouteRequest(), snapshot))[0] == (
        "anthropic",
        "claude-sonnet-4-20250514",
    )


def test_unknown_tier_has_no_route() -> None:
    assert plan_route(RouteRequest(tier="no-such-tier"), all_up()) == RoutePlan()


def test_skip_reasons() -> None:
    snapshot = RoutingSnapshot(
        providers={
            "a": state("a", configured=False),
            "b": state("b", down=True),
            "c": state("c", supports_streaming=False),
            "d": state("d", default_model=None),
            "e": state("e"),
        }
    )
    chain = (("a", "m"), ("b", "m"), ("c", "m"), ("d", None), ("zz", None), ("e", "m"))
    plan = plan_route(RouteRequest(operation="stream", fallback_providers=chain), snapshot)
    assert plan.skipped == (
        Skipped("a", "m", "not configured"),
        Skipped("b", "m", "marked down"),
        Skipped("c", "m", "streaming unsupported"),
        Skipped("d", "", "no default model"),
        Skipped("zz", "", "unknown provider"),
    )
    assert pairs(plan) == [("e", "m")]


def test_model_capability_can_forbid_streaming() -> None:
    table = CapabilityTable(overrides={"batch-only": CapabilityOverride(supports_streaming=False)})
    snapshot = RoutingSnapshot(providers={"p": state("p", capabilities=table)})
    chain = (("p", "batch-only"), ("p", "other"))
    plan = plan_route(RouteRequest(operation="stream", fallback_providers=chain), snapshot)
    assert plan.skipped == (Skipped("p", "batch-only", "streaming unsupported"),)
    assert pairs(plan) == [("p", "other")]
    # The same model serves non-streaming requests.
    assert len(plan_route(RouteRequest(fallback_providers=chain), snapshot).candidates) == 2


def test_context_window_too_small_reason_has_both_numbers() -> None:
    table = CapabilityTable(overrides={"small": CapabilityOverride(context_window=8192)})
    snapshot = RoutingSnapshot(providers={"p": state("p", capabilities=table)})
    request = RouteRequest(
        fallback_providers=(("p", "small"),), estimated_input_tokens=9000, max_tokens=1000
    )
    plan = plan_route(request, snapshot)
    assert plan.skipped == (Skipped("p", "small", "context window too small (8192 < 10000)"),)
    fits = RouteRequest(
        fallback_providers=(("p", "small"),), estimated_input_tokens=7192, max_tokens=1000
    )
    assert pairs(plan_route(fits, snapshot)) == [("p", "small")]


def test_context_window_from_builtin_capabilities() -> None:
    request = RouteRequest(tier="fast", estimated_input_tokens=500_000)
    plan = plan_route(request, all_up())
    # gemini-3 has a 1M window; gpt-5.2-mini 400k.
    assert pairs(plan) == [("gemini", "gemini-3-flash-preview")]
    assert plan.skipped == (
        Skipped("openai", "gpt-5.2-mini", "context window too small (400000 < 500000)"),
    )


def test_cost_skip_uses_prices_and_worst_case_output() -> None:
    prices = CapabilityOverride(input_price=10.0, output_price=30.0)
    table = CapabilityTable(
        overrides={
            "pricey": prices,
            "cheap*": CapabilityOverride(input_price=0.1, output_price=0.1),
        }
    )
    snapshot = RoutingSnapshot(providers={"p": state("p", capabilities=table)})
    chain = (("p", "pricey"), ("p", "cheap-1"), ("p", "unpriced"))
    request = RouteRequest(
        fallback_providers=chain, estimated_input_tokens=1000, max_tokens=1000, max_cost=0.02
    )
    plan = plan_route(request, snapshot)
    # pricey: 1000 * 10 / 1e6 + 1000 * 30 / 1e6 = 0.04 > 0.02; unknown prices are never skipped.
    assert plan.skipped == (Skipped("p", "pricey", "cost estimate 0.04 > max 0.02"),)
    assert pairs(plan) == [("p", "cheap-1"), ("p", "unpriced")]
    # Without max_tokens the model's maximum output is the (pessimistic) estimate.
    unbounded = RouteRequest(fallback_providers=(("p", "cheap-1"),), max_cost=1e-6)
    assert plan_route(unbounded, snapshot).skipped[0].reason.startswith("cost estimate")


def test_embed_uses_embedding_models_and_skips_providers_without_embeddings() -> None:
    plan = plan_route(RouteRequest(operation="embed", tier="creative"), all_up())
    # CREATIVE is anthropic then gemini: anthropic has no embeddings, gemini's chat model is
    # replaced by its embedding model.
    assert plan.skipped == (Skipped("anthropic", "", "no embeddings"),)
    assert pairs(plan) == [("gemini", "text-embedding-004")]


def test_embed_without_tier_uses_the_embedding_route() -> None:
    snapshot = RoutingSnapshot(
        providers=all_up().providers,
        embed_route=(("openai", "text-embedding-3-large"), ("ollama", None)),
    )
    plan = plan_route(RouteRequest(operation="embed"), snapshot)
    assert pairs(plan) == [("openai", "text-embedding-3-large"), ("ollama", "embed-ollama")]


def test_embed_explicit_provider_and_model() -> None:
    request = RouteRequest(
        operation="embed",
        provider=Provider.GEMINI,
        model="text-embedding-004",
        allow_fallback=False,
    )
    assert pairs(plan_route(request, all_up())) == [("gemini", "text-embedding-004")]
    anthropic = RouteRequest(operation="embed", provider="anthropic", allow_fallback=False)
    assert plan_route(anthropic, all_up()).skipped == (Skipped("anthropic", "", "no embeddings"),)


def test_providers_with_larger_window() -> None:
    candidates = (
        Candidate("a", "x", 8192),
        Candidate("b", "y", 200_000),
        Candidate("c", "z", 128_000),
        Candidate("d", "w", 1_000_000),
    )
    assert providers_with_larger_window(candidates, 128_000) == (candidates[1], candidates[3])
    plan = RoutePlan(candidates=candidates)
    assert providers_with_larger_window(plan, 999_999) == (candidates[3],)
    assert providers_with_larger_window(plan, 1_000_000) == ()


def test_skipped_as_attempt() -> None:
    attempt = Skipped("a", "m", "marked down").as_attempt()
    assert (attempt.provider, attempt.model, attempt.outcome, attempt.error) == (
        "a",
        "m",
        "skipped",
        "marked down",
    )
    assert RoutePlan(skipped=(Skipped("a", "m", "x"),)).skipped_attempts[0].error == "x"


def test_enums_are_normalized_to_plain_strings() -> None:
    request = RouteRequest(
        tier=TaskTier.FAST, provider=Provider.OPENAI, fallback_providers=[(Provider.GEMINI, None)]
    )
    assert request.tier == "fast"
    assert type(request.tier) is str
    assert request.provider == "openai"
    assert type(request.provider) is str
    assert request.fallback_providers == (("gemini", None),)
    assert type(request.fallback_providers[0][0]) is str
    snapshot = RoutingSnapshot(
        tier_routes={TaskTier.FAST: [(Provider.OLLAMA, "m")]}, override=(Provider.GEMINI, None)
    )
    assert snapshot.tier_routes == {"fast": (("ollama", "m"),)}
    assert snapshot.override == ("gemini", None)


def test_bad_operation_is_rejected() -> None:
    with pytest.raises(ValueError, match="operation"):
        RouteRequest(operation="chat")  # type: ignore[arg-type]
