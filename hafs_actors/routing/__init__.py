"""The routing layer: which candidates serve a request, and the actor that runs the chain.

- :mod:`.tiers`: providers, task tiers and their default routes;
- :mod:`.capabilities`: what each model can do (window, embeddings, prices);
- :mod:`._planner`: the pure planner, a function of (request, routing snapshot) with no I/O;
- :mod:`._router`: the router actor and each request's chain under one deadline.
"""

from __future__ import annotations

from .._exports import publish as _publish
from ._planner import (
    SKIP_REASONS,
    Candidate,
    Operation,
    PlanCache,
    ProviderState,
    RoutePlan,
    RouteRequest,
    RoutingSnapshot,
    Skipped,
    plan_route,
    providers_with_larger_window,
)
from ._router import (
    RouteEmbed,
    RouteGenerate,
    Router,
    RouterActor,
    RouterStatistics,
    RouteSpec,
    RouteStream,
    StreamTicket,
)

__all__ = [
    "SKIP_REASONS",
    "Candidate",
    "Operation",
    "PlanCache",
    "ProviderState",
    "RouteEmbed",
    "RouteGenerate",
    "RoutePlan",
    "RouteRequest",
    "RouteSpec",
    "RouteStream",
    "Router",
    "RouterActor",
    "RouterStatistics",
    "RoutingSnapshot",
    "Skipped",
    "StreamTicket",
    "plan_route",
    "providers_with_larger_window",
]

_publish(__name__, globals(), __all__)
