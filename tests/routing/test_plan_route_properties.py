"""Property tests of plan_route: precedence, completeness of skip reasons, no duplicates.

Snapshots and requests are drawn from a small universe of names so that collisions (the same
provider in the rotation, the override and the tier route; duplicate steps; unknown providers)
happen often.
"""

from __future__ import annotations

import re

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from hafs_actors.routing import (
    SKIP_REASONS,
    PlanCache,
    ProviderState,
    RoutePlan,
    RouteRequest,
    RoutingSnapshot,
    plan_route,
    providers_with_larger_window,
)
from hafs_actors.routing.capabilities import CapabilityOverride, CapabilityTable, estimate_cost
from hafs_actors.routing.tiers import RouteEntry
from hafs_actors.types import HINT_PARAMS, OPTIONAL_PARAMS

NAMES = ("p0", "p1", "p2", "p3", "ghost")  # "ghost" is never in the snapshot
MODELS = ("m0", "m1", "qwen2.5-coder:14b", "gpt-4o", "text-embedding-3-small")
TIERS = ("fast", "coding", "custom-tier", "missing")

names = st.sampled_from(NAMES)
models = st.sampled_from(MODELS)
opt_models = st.none() | models
steps = st.tuples(names, opt_models)
routes = st.lists(steps, max_size=6).map(tuple)

prices = st.one_of(st.none(), st.floats(0.01, 50), st.floats(0.01, 50))
overrides = st.builds(
    CapabilityOverride,
    context_window=st.none() | st.integers(1, 300_000),
    supports_streaming=st.none() | st.booleans(),
    input_price=prices,
    output_price=prices,
)
tables = st.builds(
    CapabilityTable,
    kind=st.none() | st.sampled_from(("openai", "ollama", "llamacpp")),
    overrides=st.dictionaries(models, overrides, min_size=1, max_size=4),
)


def mostly(value: bool) -> st.SearchStrategy[bool]:
    return st.sampled_from([value, value, value, not value])


states = st.builds(
    ProviderState,
    configured=mostly(True),
    down=mostly(False),
    supports_streaming=mostly(True),
    supports_embeddings=st.booleans(),
    default_model=opt_models,
    embed_model=opt_models,
    capabilities=tables,
    supported_params=st.none() | st.frozensets(st.sampled_from(OPTIONAL_PARAMS)),
)
snapshots = st.builds(
    RoutingSnapshot,
    providers=st.fixed_dictionaries({name: states for name in NAMES[:-1]}),
    tier_routes=st.dictionaries(st.sampled_from(TIERS[:-1]), routes, max_size=3),
    embed_route=routes,
    rotation=routes,
    override=st.none() | steps,
    default_provider=st.none() | names,
    default_tier=st.sampled_from(TIERS),
)
requests = st.builds(
    RouteRequest,
    operation=st.sampled_from(("generate", "stream", "embed")),
    tier=st.none() | st.sampled_from(TIERS),
    provider=st.none() | names,
    model=opt_models,
    fallback_providers=st.none() | routes,
    allow_fallback=st.booleans(),
    estimated_input_tokens=st.integers(0, 2_000) | st.integers(0, 400_000),
    max_tokens=st.none() | st.integers(1, 100_000),
    max_cost=st.none() | st.floats(1e-6, 0.05),
    params=st.frozensets(st.sampled_from(OPTIONAL_PARAMS + HINT_PARAMS), max_size=3),
    drop_unsupported=st.booleans(),
)


def effective_chain(request: RouteRequest, snapshot: RoutingSnapshot) -> list[RouteEntry]:
    """Design section 5 written out as plainly as possible (the specification under test)."""
    embed = request.operation == "embed"

    def from_routes(route: tuple[RouteEntry, ...]) -> list[RouteEntry]:
        return [(p, None if embed else m) for p, m in route]

    if request.tier is not None:
        tier_part = from_routes(snapshot.tier_routes.get(request.tier, ()))
    else:
        default = [(snapshot.default_provider, None)] if snapshot.default_provider else []
        rest = (
            list(snapshot.embed_route)
            if embed
            else from_routes(snapshot.tier_routes.get(snapshot.default_tier, ()))
        )
        tier_part = default + rest
    if request.fallback_providers is not None:
        chain = list(request.fallback_providers)
    elif request.provider is not None:
        chain = [(request.provider, request.model), *tier_part]
    else:
        override = [snapshot.override] if snapshot.override else []
        chain = from_routes(snapshot.rotation) + from_routes(tuple(override)) + tier_part
    return chain[:1] if not request.allow_fallback else chain


def resolve(step: RouteEntry, request: RouteRequest, snapshot: RoutingSnapshot) -> tuple[str, str]:
    provider, model = step
    state = snapshot.providers.get(provider)
    if model is None and state is not None:
        model = state.embed_model if request.operation == "embed" else state.default_model
    return provider, model or ""


def dedupe(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(items))


def entries(plan: RoutePlan) -> list[tuple[str, str]]:
    return [(c.provider, c.model) for c in plan.candidates] + [
        (s.provider, s.model) for s in plan.skipped
    ]


def is_subsequence(short: list[tuple[str, str]], long: list[tuple[str, str]]) -> bool:
    it = iter(long)
    return all(item in it for item in short)


@given(requests, snapshots)
def test_every_step_is_a_candidate_or_skipped_once(
    request: RouteRequest, snapshot: RoutingSnapshot
) -> None:
    plan = plan_route(request, snapshot)
    expected = dedupe([resolve(s, request, snapshot) for s in effective_chain(request, snapshot)])
    got = entries(plan)
    assert len(got) == len(set(got)), "duplicates in the plan"
    assert sorted(got) == sorted(expected)
    # Candidates and skips each keep the chain's order.
    assert is_subsequence([(c.provider, c.model) for c in plan.candidates], expected)
    assert is_subsequence([(s.provider, s.model) for s in plan.skipped], expected)


@given(requests, snapshots)
def test_candidates_can_serve_and_skips_say_why(
    request: RouteRequest, snapshot: RoutingSnapshot
) -> None:
    plan = plan_route(request, snapshot)
    embed = request.operation == "embed"
    needed = request.estimated_input_tokens + (0 if embed else request.max_tokens or 0)
    for c in plan.candidates:
        state = snapshot.providers[c.provider]
        caps = state.capabilities.lookup(c.model)
        assert state.configured
        assert not state.down
        assert c.context_window == caps.context_window >= needed
        if embed:
            assert state.supports_embeddings
        if request.operation == "stream":
            assert state.supports_streaming
            assert caps.supports_streaming
        if request.max_cost is not None:
            output = 0 if embed else request.max_tokens or caps.max_output_tokens
            cost = estimate_cost(caps, request.estimated_input_tokens, output)
            assert cost is None or cost <= request.max_cost
        # a parameter the candidate cannot honour is dropped only when the caller allowed it
        supported = state.supported_params
        missing = set(caps.lacks(request.params))
        if supported is not None:
            missing |= request.params - supported
        assert set(c.dropped) == missing
        # a hint (a cache breakpoint) is dropped, never a reason to skip
        assert request.drop_unsupported or not missing.difference(HINT_PARAMS)
    for s in plan.skipped:
        maybe = snapshot.providers.get(s.provider)
        fixed = s.reason in SKIP_REASONS
        numeric = re.fullmatch(r"context window too small \((\d+) < (\d+)\)", s.reason)
        costly = re.fullmatch(r"cost estimate (\S+) > max (\S+)", s.reason)
        unsupported = re.fullmatch(r"unsupported parameter\(s\): (.+)", s.reason)
        assert fixed or numeric or costly or unsupported, s.reason
        if s.reason == "unknown provider":
            assert maybe is None
            continue
        assert maybe is not None
        state = maybe
        if s.reason == "not configured":
            assert not state.configured
        elif s.reason == "marked down":
            assert state.configured
            assert state.down
        elif s.reason == "no embeddings":
            assert embed
            assert not state.supports_embeddings
        elif s.reason == "streaming unsupported":
            assert request.operation == "stream"
            model_streams = state.capabilities.lookup(s.model).supports_streaming
            assert not state.supports_streaming or not model_streams
        elif s.reason in ("no default model", "no embedding model"):
            assert s.model == ""
            assert (s.reason == "no embedding model") == embed
            assert (state.embed_model if embed else state.default_model) is None
        elif numeric:
            window, need = int(numeric.group(1)), int(numeric.group(2))
            assert need == needed > window == state.capabilities.lookup(s.model).context_window
        elif costly:
            assert request.max_cost is not None
            assert float(costly.group(1)) > request.max_cost
        elif unsupported:
            assert not request.drop_unsupported
            lacking = set(state.capabilities.lookup(s.model).lacks(request.params))
            if state.supported_params is not None:
                lacking |= request.params - state.supported_params
            assert set(unsupported.group(1).split(", ")) == lacking.difference(HINT_PARAMS)


@given(requests, snapshots)
def test_allow_fallback_false_gives_one_candidate_or_one_skip(
    request: RouteRequest, snapshot: RoutingSnapshot
) -> None:
    plan = plan_route(attrs.evolve(request, allow_fallback=False), snapshot)
    total = len(plan.candidates) + len(plan.skipped)
    chain = effective_chain(request, snapshot)
    assert total == (1 if chain else 0)
    if request.provider is not None and request.fallback_providers is None:
        (only,) = entries(plan)
        assert only[0] == request.provider


@given(requests, snapshots, routes)
def test_explicit_chain_is_exactly_that_chain(
    request: RouteRequest, snapshot: RoutingSnapshot, chain: tuple[RouteEntry, ...]
) -> None:
    request = attrs.evolve(request, fallback_providers=chain)
    plan = plan_route(request, snapshot)
    resolved = [resolve(step, request, snapshot) for step in chain]
    limit = len(resolved) if request.allow_fallback else min(1, len(resolved))
    assert sorted(entries(plan)) == sorted(dedupe(resolved[:limit]))
    # Nothing from the tier route, the rotation or the override sneaks in.
    assert {p for p, _ in entries(plan)} <= {p for p, _ in chain}


@given(requests, snapshots, names, opt_models)
def test_explicit_provider_comes_first_when_it_can_serve(
    request: RouteRequest, snapshot: RoutingSnapshot, provider: str, model: str | None
) -> None:
    request = attrs.evolve(request, provider=provider, model=model, fallback_providers=None)
    plan = plan_route(request, snapshot)
    first = resolve((provider, model), request, snapshot)
    if first in [(c.provider, c.model) for c in plan.candidates]:
        assert (plan.candidates[0].provider, plan.candidates[0].model) == first
    else:
        assert plan.skipped[0].provider == provider


@given(requests, snapshots)
def test_rotation_then_override_precede_the_tier_route(
    request: RouteRequest, snapshot: RoutingSnapshot
) -> None:
    request = attrs.evolve(request, provider=None, fallback_providers=None, allow_fallback=True)
    plan = plan_route(request, snapshot)
    head: list[RouteEntry] = list(snapshot.rotation)
    if snapshot.override is not None:
        head.append(snapshot.override)
    if request.operation == "embed":
        head = [(p, None) for p, _ in head]
    head_keys = dedupe([resolve(step, request, snapshot) for step in head])
    ordered = [(c.provider, c.model) for c in plan.candidates]
    served_head = [k for k in head_keys if k in ordered]
    # Every candidate that came from the rotation or the override is ahead of all the others.
    assert ordered[: len(served_head)] == served_head


@given(requests, snapshots, st.integers(0, 400_000))
def test_larger_window_helper(
    request: RouteRequest, snapshot: RoutingSnapshot, window: int
) -> None:
    plan = plan_route(request, snapshot)
    larger = providers_with_larger_window(plan, window)
    assert all(c.context_window > window for c in larger)
    assert [c for c in plan.candidates if c.context_window > window] == list(larger)


def test_strategies_reach_every_skip_reason() -> None:
    """Guard against a vacuous property test: the drawn data must exercise each branch."""
    seen: set[str] = set()

    @settings(max_examples=1000, derandomize=True)
    @given(requests, snapshots)
    def collect(request: RouteRequest, snapshot: RoutingSnapshot) -> None:
        for s in plan_route(request, snapshot).skipped:
            if s.reason.startswith("context"):
                seen.add("context window too small")
            elif s.reason.startswith("cost"):
                seen.add("cost")
            elif s.reason.startswith("unsupported"):
                seen.add("unsupported parameter(s)")
            else:
                seen.add(s.reason)
        if plan_route(request, snapshot).candidates:
            seen.add("candidate")

    collect()
    # Cost skips need prices on the chosen model: test_cost_limit covers them on purpose.
    expected = {*SKIP_REASONS, "context window too small", "unsupported parameter(s)", "candidate"}
    assert expected <= seen, expected - seen


priced_tables = st.builds(
    CapabilityTable,
    overrides=st.fixed_dictionaries(
        {
            model: st.builds(
                CapabilityOverride,
                input_price=st.floats(0.01, 50),
                output_price=st.floats(0.01, 50),
            )
            for model in MODELS
        }
    ),
)
priced_snapshots = st.builds(
    RoutingSnapshot,
    providers=st.fixed_dictionaries(
        {
            name: st.builds(
                ProviderState,
                capabilities=priced_tables,
                default_model=models,
                embed_model=models,
                supports_embeddings=st.booleans(),
            )
            for name in NAMES[:-1]
        }
    ),
    tier_routes=st.dictionaries(st.sampled_from(TIERS[:-1]), routes, max_size=3),
    rotation=routes,
)


@given(requests, priced_snapshots, st.floats(1e-6, 0.05))
def test_cost_limit(request: RouteRequest, snapshot: RoutingSnapshot, max_cost: float) -> None:
    """The cost limit only removes candidates, exactly those whose estimate exceeds it."""
    unlimited = plan_route(attrs.evolve(request, max_cost=None), snapshot)
    limited = plan_route(attrs.evolve(request, max_cost=max_cost), snapshot)
    cost_skips = [(s.provider, s.model) for s in limited.skipped if s.reason.startswith("cost")]
    kept = [(c.provider, c.model) for c in limited.candidates]
    everything = [(c.provider, c.model) for c in unlimited.candidates]
    assert [key for key in everything if key not in cost_skips] == kept
    embed = request.operation == "embed"
    for c in unlimited.candidates:
        caps = snapshot.providers[c.provider].capabilities.lookup(c.model)
        output = 0 if embed else request.max_tokens or caps.max_output_tokens
        cost = estimate_cost(caps, request.estimated_input_tokens, output)
        assert cost is not None
        assert ((c.provider, c.model) in cost_skips) == (cost > max_cost)


@given(
    snapshots,
    st.lists(
        st.tuples(requests, st.integers(0, 2_000) | st.integers(0, 400_000)),
        min_size=1,
        max_size=12,
    ),
)
def test_plan_cache_gives_exactly_what_plan_route_gives(
    snapshot: RoutingSnapshot, sequence: list[tuple[RouteRequest, int]]
) -> None:
    """The router's memo of plans never changes a decision, whatever the token estimates."""
    cache = PlanCache(max_entries=4)
    for request, estimate in sequence:
        # Repeat each shape with another estimate, so hits against both fitting and
        # too-large requests are exercised.
        for variant in (request, attrs.evolve(request, estimated_input_tokens=estimate)):
            assert cache.plan(variant, snapshot) == plan_route(variant, snapshot)
