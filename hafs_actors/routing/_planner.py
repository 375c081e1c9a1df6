"""The routing decision as a pure function (docs/design.md).

:func:`plan_route` turns a request and a snapshot of the router's knowledge into an ordered list of
candidates plus the reason each rejected (provider, model) was skipped. It does no I/O and reads
no clock, so it is tested with hypothesis and the router can log exactly why a request went where.

Precedence:

1. ``fallback_providers`` given: exactly that chain (it replaces the tier route).
2. ``provider`` given (``model`` optional; ``None`` is the provider's default model): that first,
   then the tier route, unless ``allow_fallback=False``.
3. Neither: the rotation (``HAFS_MODEL_ROTATION``) first, then the override
   (``HAFS_MODEL_PROVIDER``/``HAFS_MODEL_MODEL``), then the tier route.

The tier route of ``tier=None`` is the default provider (when set) followed by the route of
``snapshot.default_tier``. A tier without a route contributes nothing (the plan may be empty: the
router reports that). With ``allow_fallback=False`` only the first step of the chain is considered.
Duplicates are dropped keeping the first. For ``embed`` every step taken from the rotation, the
override or a tier route uses its provider's embedding model; with ``tier=None`` the embedding
route replaces the default tier's route.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Literal, TypeAlias

import attrs

from ..types import HINT_PARAMS, Attempt
from .capabilities import CapabilityTable, estimate_cost
from .tiers import (
    DEFAULT_EMBED_ROUTE,
    DEFAULT_TIER,
    DEFAULT_TIER_ROUTES,
    Route,
    RouteEntry,
    name_of,
)

__all__ = [
    "SKIP_REASONS",
    "Candidate",
    "Operation",
    "PlanCache",
    "ProviderState",
    "RoutePlan",
    "RouteRequest",
    "RoutingSnapshot",
    "Skipped",
    "plan_route",
    "providers_with_larger_window",
]

Operation: TypeAlias = Literal["generate", "stream", "embed"]

#: Fixed skip reasons; three more carry details: "context window too small (N < M)",
#: "cost estimate X > max Y" and "unsupported parameter(s): seed, top_p".
SKIP_REASONS: tuple[str, ...] = (
    "unknown provider",
    "not configured",
    "marked down",
    "no embeddings",
    "streaming unsupported",
    "no default model",
    "no embedding model",
)


_Step: TypeAlias = tuple[str | enum.Enum, str | None]


def _opt_name(value: str | enum.Enum | None) -> str | None:
    return None if value is None else name_of(value)


def _route(value: Iterable[_Step]) -> Route:
    return tuple((name_of(p), m) for p, m in value)


def _chain(value: Iterable[_Step] | None) -> Route | None:
    return None if value is None else _route(value)


def _routes(value: Mapping[str, Iterable[_Step]]) -> Mapping[str, Route]:
    return {name_of(k): _route(v) for k, v in value.items()}


def _entry(value: _Step | None) -> RouteEntry | None:
    return None if value is None else (name_of(value[0]), value[1])


def _check_operation(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if value not in ("generate", "stream", "embed"):
        raise ValueError(f"operation must be 'generate', 'stream' or 'embed', not {value!r}")


@attrs.frozen
class RouteRequest:
    """What :func:`plan_route` needs to know about one request. Enums become plain strings."""

    operation: Operation = attrs.field(default="generate", validator=_check_operation)
    tier: str | None = attrs.field(default=None, converter=_opt_name)
    provider: str | None = attrs.field(default=None, converter=_opt_name)
    model: str | None = None
    fallback_providers: Route | None = attrs.field(default=None, converter=_chain)
    allow_fallback: bool = True
    estimated_input_tokens: int = 0
    max_tokens: int | None = None
    max_cost: float | None = None
    #: the optional parameters the request sets (``"seed"``, ``"top_p"``...)
    params: frozenset[str] = frozenset()
    #: drop a parameter a candidate cannot honour instead of skipping the candidate
    drop_unsupported: bool = False


@attrs.frozen
class ProviderState:
    """The router's view of one provider at planning time."""

    configured: bool = True
    down: bool = False
    supports_streaming: bool = True
    supports_embeddings: bool = False
    default_model: str | None = None
    embed_model: str | None = None
    capabilities: CapabilityTable = attrs.field(factory=CapabilityTable)
    #: the optional parameters the adapter places on the wire; None: all of them
    supported_params: frozenset[str] | None = None


@attrs.frozen
class RoutingSnapshot:
    """Everything routing depends on, frozen at the moment of the decision."""

    providers: Mapping[str, ProviderState] = attrs.field(factory=dict)
    tier_routes: Mapping[str, Route] = attrs.field(
        factory=lambda: dict(DEFAULT_TIER_ROUTES), converter=_routes
    )
    embed_route: Route = attrs.field(default=DEFAULT_EMBED_ROUTE, converter=_route)
    rotation: Route = attrs.field(default=(), converter=_route)
    override: RouteEntry | None = attrs.field(default=None, converter=_entry)
    default_provider: str | None = attrs.field(default=None, converter=_opt_name)
    default_tier: str = attrs.field(default=DEFAULT_TIER, converter=name_of)


@attrs.frozen
class Candidate:
    """A (provider, model) that can serve the request, in the order to try."""

    provider: str
    model: str
    context_window: int
    #: parameters this candidate cannot honour, dropped (``drop_unsupported_params``)
    dropped: tuple[str, ...] = ()


@attrs.frozen
class Skipped:
    """A (provider, model) of the chain that cannot serve the request, and why.

    ``model`` is ``""`` when it could not be resolved (unknown provider, no default model).
    """

    provider: str
    model: str
    reason: str

    def as_attempt(self) -> Attempt:
        """This skip as an :class:`~hafs_actors.types.Attempt`, for the final error's list."""
        return Attempt(
            provider=self.provider,
            model=self.model,
            outcome="skipped",
            latency=0.0,
            error=self.reason,
        )


@attrs.frozen
class RoutePlan:
    """The candidates to try, in order, and every chain step that was skipped."""

    candidates: tuple[Candidate, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    #: ``skipped`` as attempt records (frozen, so a cached plan shares them between requests).
    skipped_attempts: tuple[Attempt, ...] = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(
            lambda plan: tuple(s.as_attempt() for s in plan.skipped), takes_self=True
        ),
    )


def _steps(request: RouteRequest, snapshot: RoutingSnapshot) -> list[RouteEntry]:
    """The chain in precedence order, before duplicates are dropped."""
    embed = request.operation == "embed"

    def routed(route: Route) -> list[RouteEntry]:
        # Steps from generation routes name chat models: embed uses each provider's
        # embedding model instead (model None resolves to it).
        return [(p, None if embed else m) for p, m in route]

    def tier_steps() -> list[RouteEntry]:
        if request.tier is not None:
            return routed(snapshot.tier_routes.get(request.tier, ()))
        steps: list[RouteEntry] = []
        if snapshot.default_provider is not None:
            steps.append((snapshot.default_provider, None))
        if embed:
            steps.extend(snapshot.embed_route)
        else:
            steps.extend(routed(snapshot.tier_routes.get(snapshot.default_tier, ())))
        return steps

    if request.fallback_providers is not None:
        return list(request.fallback_providers)
    if request.provider is not None:
        return [(request.provider, request.model), *tier_steps()]
    steps = routed(snapshot.rotation)
    if snapshot.override is not None:
        steps.extend(routed((snapshot.override,)))
    steps.extend(tier_steps())
    return steps


def _judge(
    provider: str, model: str | None, request: RouteRequest, snapshot: RoutingSnapshot
) -> Candidate | Skipped:
    embed = request.operation == "embed"
    state = snapshot.providers.get(provider)
    if state is None:
        return Skipped(provider, model or "", "unknown provider")
    if model is None:
        model = state.embed_model if embed else state.default_model
    if not state.configured:
        return Skipped(provider, model or "", "not configured")
    if state.down:
        return Skipped(provider, model or "", "marked down")
    if embed and not state.supports_embeddings:
        return Skipped(provider, model or "", "no embeddings")
    if request.operation == "stream" and not state.supports_streaming:
        return Skipped(provider, model or "", "streaming unsupported")
    if model is None:
        return Skipped(provider, "", "no embedding model" if embed else "no default model")
    caps = state.capabilities.lookup(model)
    if request.operation == "stream" and not caps.supports_streaming:
        return Skipped(provider, model, "streaming unsupported")
    # Before the window: a reason that depends on the request's shape only, never on its
    # tokens, so PlanCache may reuse the plan for requests of any length that still fit.
    unsupported: tuple[str, ...] = ()
    if request.params:
        # what the adapter cannot place on the wire, and what this model cannot serve
        missing = set(caps.lacks(request.params))
        if state.supported_params is not None:
            missing |= request.params - state.supported_params
        unsupported = tuple(sorted(missing))
        refused = missing.difference(HINT_PARAMS)  # hints are dropped, never a reason to skip
        if refused and not request.drop_unsupported:
            return Skipped(provider, model, f"{_UNSUPPORTED}: {', '.join(sorted(refused))}")
    output = 0 if embed else (request.max_tokens or 0)
    needed = request.estimated_input_tokens + output
    if needed > caps.context_window:
        return Skipped(provider, model, f"{_TOO_SMALL} ({caps.context_window} < {needed})")
    if request.max_cost is not None:
        worst_output = 0 if embed else (request.max_tokens or caps.max_output_tokens)
        cost = estimate_cost(caps, request.estimated_input_tokens, worst_output)
        if cost is not None and cost > request.max_cost:
            return Skipped(provider, model, f"{_TOO_COSTLY} {cost:.6g} > max {request.max_cost:g}")
    return Candidate(provider, model, caps.context_window, unsupported)


def plan_route(request: RouteRequest, snapshot: RoutingSnapshot) -> RoutePlan:
    """Decide the ordered candidates for ``request`` (see the module docstring for the rules).

    Every step of the effective chain ends up exactly once, as a candidate or as a skip with its
    reason, after duplicates are dropped. The cost check uses ``max_tokens`` as the output size,
    or the model's maximum output when the request sets none (an upper bound); a model without
    known prices is never skipped for cost.
    """
    steps = _steps(request, snapshot)
    if not request.allow_fallback:
        steps = steps[:1]
    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    seen: set[tuple[str, str]] = set()
    for provider, model in steps:
        verdict = _judge(provider, model, request, snapshot)
        key = (verdict.provider, verdict.model)
        if key in seen:
            continue
        seen.add(key)
        if isinstance(verdict, Candidate):
            candidates.append(verdict)
        else:
            skipped.append(verdict)
    return RoutePlan(tuple(candidates), tuple(skipped))


_UNSUPPORTED = "unsupported parameter(s)"
_TOO_SMALL = "context window too small"
_TOO_COSTLY = "cost estimate"


class PlanCache:
    """:func:`plan_route` memoized per request shape, for the router's hot path.

    A plan depends on the estimated input tokens only through the context-window and cost
    checks. So a plan that skipped nothing for either reason is reused for any later request of
    the same shape whose tokens still fit its smallest candidate window; requests with a cost
    limit are never cached. The cache belongs to one snapshot: a new snapshot empties it. Still
    pure: no I/O, no clock.
    """

    __slots__ = ("_max", "_plans", "_snapshot")

    def __init__(self, max_entries: int = 512) -> None:
        self._max = max_entries
        self._plans: dict[tuple[object, ...], tuple[RoutePlan, int]] = {}
        self._snapshot: RoutingSnapshot | None = None

    def plan(self, request: RouteRequest, snapshot: RoutingSnapshot) -> RoutePlan:
        if snapshot is not self._snapshot:
            self._plans.clear()
            self._snapshot = snapshot
        if request.max_cost is not None:
            return plan_route(request, snapshot)
        output = 0 if request.operation == "embed" else (request.max_tokens or 0)
        needed = request.estimated_input_tokens + output
        key = (
            request.operation,
            request.tier,
            request.provider,
            request.model,
            request.fallback_providers,
            request.allow_fallback,
            output,
            request.params,
            request.drop_unsupported,
        )
        hit = self._plans.get(key)
        if hit is not None and needed <= hit[1]:
            return hit[0]
        plan = plan_route(request, snapshot)
        if not any(s.reason.startswith((_TOO_SMALL, _TOO_COSTLY)) for s in plan.skipped):
            if len(self._plans) >= self._max:
                self._plans.clear()
            smallest = min((c.context_window for c in plan.candidates), default=2**62)
            self._plans[key] = (plan, smallest)
        return plan


def providers_with_larger_window(
    candidates: Iterable[Candidate] | RoutePlan, window: int
) -> tuple[Candidate, ...]:
    """The candidates whose context window is larger than ``window``, in their order.

    Used after a :class:`~hafs_actors.errors.ContextLengthError`: the prompt did not fit
    ``window`` tokens, so only larger windows can help.
    """
    if isinstance(candidates, RoutePlan):
        candidates = candidates.candidates
    return tuple(c for c in candidates if c.context_window > window)
