"""Building the runtime from the configuration: the router, and a cell per provider.

The configuration classes carry every setting with its one default; this module only wires
them into the runtime's parts. A custom adapter registered in code with no configuration entry
gets a default :class:`~hafs_actors.config.ProviderConfig` of kind ``custom``, so every cell is
built the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..adapters import create_adapter
from ..adapters.base import ProviderAdapter
from ..config import DeploymentConfig, HafsConfig, ProviderConfig
from ..errors import register_secret
from ..providers import ProviderCell, ProviderCellConfig
from ..resilience import Seeds
from ..routing import ProviderState, Router
from ..routing.capabilities import usage_cost
from ..routing.tiers import Route
from ..types import Usage

__all__ = ["adapter_factory", "build_router", "cell_config", "provider_config", "provider_state"]


def build_router(config: HafsConfig, extra_routes: Mapping[str, Route], seeds: Seeds) -> Router:
    """The router of ``config``, with routes set in code before the start."""
    return Router(
        tier_routes={**config.routes, **extra_routes},
        embed_route=config.routing.embed_route,
        rotation=config.routing.rotation,
        override=config.override,
        default_provider=config.default_provider,
        retry_policy=config.retry.policy(seeds.rng("retry")),
        default_tier=config.routing.default_tier,
    )


def provider_config(config: HafsConfig, name: str, *, custom: bool) -> ProviderConfig:
    """The provider's configuration; a default one for a custom adapter that has none."""
    p = config.providers.get(name)
    if p is None or custom != (p.kind == "custom"):
        return ProviderConfig(name=name, kind="custom")
    return p


def adapter_factory(
    config: HafsConfig,
    p: ProviderConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    deployment: DeploymentConfig | None = None,
) -> Callable[[], ProviderAdapter]:
    """A fresh built-in adapter per actor incarnation (so a restart gets a fresh client).

    ``transport`` (``UnifiedOrchestrator(transports=...)``) carries its HTTP instead of the
    network, e.g. ``httpx.MockTransport`` in tests.
    """
    settings = config.adapter_settings(p.name, deployment)
    register_secret(settings.api_key)  # scrubbed by value from every error text and log line
    kind = p.kind
    name = p.name

    def factory() -> ProviderAdapter:
        return create_adapter(kind, settings, name=name, transport=transport)

    return factory


def cell_config(
    config: HafsConfig,
    p: ProviderConfig,
    seeds: Seeds,
    deployment: DeploymentConfig | None = None,
) -> ProviderCellConfig:
    """Everything the provider's (or one deployment's) cell needs, from the configuration."""
    sup = config.supervision
    table = p.capabilities
    limits = p.limits if deployment is None or deployment.limits is None else deployment.limits

    def pricing(model: str, usage: Usage) -> float | None:
        return usage_cost(table.lookup(model), usage)

    return ProviderCellConfig(
        name=p.name if deployment is None else f"{p.name}@{deployment.name}",
        kind=p.kind,
        deployment=None if deployment is None else deployment.name,
        mailbox_size=p.mailbox_size,
        max_in_flight=p.max_in_flight,
        limits=limits.rate_limits(),
        model_limits={m: limits.for_model(m).rate_limits() for m in limits.models},
        breaker=p.breaker.breaker_config(),
        intensity=sup.intensity,
        period=sup.period,
        backoff_min=sup.backoff_min,
        backoff_max=sup.backoff_max,
        backoff_random_factor=sup.backoff_random_factor,
        health_probe_interval=sup.health_probe_interval,
        health_check_timeout=config.timeouts.health_check_timeout,
        pricing=pricing,
        seeds=seeds,
    )


def provider_state(
    config: HafsConfig, cell: ProviderCell, provider: str | None = None
) -> ProviderState:
    """The routing view of a cell (of ``provider``, for a deployment), with the adapter's own
    flags."""
    probe = cell.adapter_factory()
    name = provider if provider is not None else cell.name
    p = config.providers.get(name)
    if p is not None and p.kind != "custom":
        return config.provider_state(
            name,
            supports_streaming=probe.supports_streaming,
            supports_embeddings=probe.supports_embeddings,
            supported_params=getattr(probe, "supported_params", None),
        )
    # A custom adapter: its configuration (if any) supplies models and capabilities; else a
    # seed-style adapter's own defaults (``generate(prompt, model="default-model")``) name
    # its models, and "" lets the adapter choose.
    p = provider_config(config, name, custom=True)
    return ProviderState(
        configured=True,
        supports_streaming=probe.supports_streaming,
        supports_embeddings=probe.supports_embeddings,
        default_model=p.default_model or _adapter_model_default(probe, "generate"),
        embed_model=p.embed_model or _adapter_model_default(probe, "embed"),
        capabilities=p.capabilities,
        supported_params=getattr(probe, "supported_params", None),
    )


def _adapter_model_default(adapter: Any, method: str) -> str:
    """The default of a ``model`` parameter of the user's ``method``, else ``""``.

    A seed-style adapter declares its models as defaults (``model: str = "default-model"``); the
    router then names that model in attempts and logs. ``""`` means the adapter chooses.
    """
    target = getattr(adapter, "adapter", adapter)  # the user's object inside the wrapper
    function = getattr(target, method, None)
    if function is None:
        return ""
    try:
        parameter = inspect.signature(function).parameters.get("model")
    except (TypeError, ValueError):
        return ""
    if parameter is None or not isinstance(parameter.default, str):
        return ""
    return parameter.default
