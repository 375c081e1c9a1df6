"""The shape of the configuration: frozen attrs classes with documented defaults.

Every class validates its values on construction, so a programmatic configuration gets the same
checks as a file. Defaults that depend on the provider (base URL, models, key variable) are
computed from its name and kind. API keys and headers never appear in ``repr``.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import attrs

from .._validation import (
    InvalidValue,
    at_least,
    between,
    did_you_mean,
    greater_than,
    number_at_least,
    one_of,
    url,
)
from ..adapters.base import AdapterSettings
from ..errors import ConfigError
from ..observability._settings import TelemetrySettings
from ..resilience import (
    BreakerConfig,
    RateLimits,
    RetryConfig,
    RetryPolicy,
    WindowType,
)
from ..routing import ProviderState, RoutingSnapshot
from ..routing.capabilities import LOCAL_KINDS, CapabilityOverride, CapabilityTable
from ..routing.tiers import (
    BUILTIN_PROVIDERS,
    DEFAULT_EMBED_MODELS,
    DEFAULT_EMBED_ROUTE,
    DEFAULT_MODELS,
    DEFAULT_TIER,
    DEFAULT_TIER_ROUTES,
    Route,
    RouteEntry,
    name_of,
    parse_rotation,
    parse_route_entry,
)
from ..state._settings import StateSettings
from .view import config_warnings, hide_userinfo, redacted_tree

__all__ = [
    "BASE_URL_ENV_VARS",
    "CLOUD_KINDS",
    "DEFAULT_API_KEY_ENVS",
    "DEFAULT_BASE_URLS",
    "PROVIDER_KINDS",
    "BreakerSettings",
    "CostSettings",
    "DeploymentConfig",
    "HafsConfig",
    "HttpTimeouts",
    "Limits",
    "ProviderConfig",
    "ProviderLimits",
    "RequestTimeouts",
    "RetrySettings",
    "RoutingSettings",
    "SupervisionSettings",
    "default_api_key_env",
]

#: Which adapter serves a provider. ``custom`` means an adapter registered in code
#: (``register_adapter``); the configuration then only supplies settings.
PROVIDER_KINDS: tuple[str, ...] = (*BUILTIN_PROVIDERS, "openai_compatible", "custom")
#: Kinds that need an API key unless pointed at an explicit endpoint.
CLOUD_KINDS: frozenset[str] = frozenset({"gemini", "anthropic", "openai"})

#: Base URL per kind. OpenAI and Gemini include the API version, as their SDKs' base URLs do.
DEFAULT_BASE_URLS: Mapping[str, str] = MappingProxyType(
    {
        "gemini": "https://generativelanguage.googleapis.com/v1beta",
        "anthropic": "https://api.anthropic.com",
        "openai": "https://api.openai.com/v1",
        "ollama": "http://localhost:11434",
        "llamacpp": "http://localhost:8080",
    }
)

#: Environment variables that set a built-in provider's base URL.
BASE_URL_ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "gemini": "GEMINI_BASE_URL",
        "anthropic": "ANTHROPIC_BASE_URL",
        "openai": "OPENAI_BASE_URL",
        "ollama": "OLLAMA_HOST",
        "llamacpp": "LLAMACPP_BASE_URL",
    }
)

#: Default ``api_key_env`` of the built-in providers (the seed's names for the cloud ones).
DEFAULT_API_KEY_ENVS: Mapping[str, str] = MappingProxyType(
    {
        "gemini": "GEMINI_API_KEY",
        "anthropic": "ANTHROPIC_API_KEY",
        "openai": "OPENAI_API_KEY",
        "ollama": "OLLAMA_API_KEY",
        "llamacpp": "LLAMACPP_API_KEY",
    }
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def default_api_key_env(name: str) -> str:
    """``GEMINI_API_KEY`` for ``gemini``; ``MY_GATEWAY_API_KEY`` for a custom ``my-gateway``."""
    if name in DEFAULT_API_KEY_ENVS:
        return DEFAULT_API_KEY_ENVS[name]
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_API_KEY"


def _check_name(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _NAME.match(value) or value == "default":
        raise InvalidValue(
            attribute.name,
            "a provider name of letters, digits, '_' and '-' (not 'default')",
            value,
        )


def _url_repr(value: str | None) -> str:
    return repr(None if value is None else hide_userinfo(value))


def _to_deployments(value: Iterable[DeploymentConfig]) -> tuple[DeploymentConfig, ...]:
    return tuple(value)


def _check_deployments(
    _inst: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]
) -> None:
    names = [getattr(d, "name", None) for d in value]
    if len(set(names)) != len(names):
        raise InvalidValue(attribute.name, "deployments with distinct names", names)


def _check_bool_or_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, (bool, str)):
        raise InvalidValue(attribute.name, "true, false or a CA bundle path", value)


def _to_route(value: str | Iterable[str | tuple[Any, Any]]) -> Route:
    """Accept ``"p:m,p2"``, ``["p:m", ...]`` or ``[("p", "m"), ...]`` (enums allowed)."""
    if isinstance(value, str):
        return parse_rotation(value)
    route: list[RouteEntry] = []
    for item in value:
        if isinstance(item, str):
            route.append(parse_route_entry(item))
        else:
            provider, model = item
            route.append((name_of(provider), None if model is None else name_of(model)))
    return tuple(route)


def _to_routes(value: Mapping[Any, Any]) -> Mapping[str, Route]:
    return {name_of(tier): _to_route(route) for tier, route in value.items()}


def _check_hedges(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Mapping):
        raise InvalidValue(attribute.name, "a table of tier = seconds", value)
    for tier, seconds in value.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise InvalidValue(f"{attribute.name}.{tier}", "a number of seconds >= 0", seconds)


def _check_seed(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidValue(attribute.name, "an integer", value)


def _opt_name(value: str | enum.Enum | None) -> str | None:
    return None if value is None else name_of(value)


# --- per provider ---------------------------------------------------------------------------


@attrs.frozen
class HttpTimeouts:
    """HTTP timeouts in seconds for one provider's client (httpx's four phases)."""

    connect: float = attrs.field(default=10.0, validator=greater_than(0))
    read: float = attrs.field(default=120.0, validator=greater_than(0))
    write: float = attrs.field(default=30.0, validator=greater_than(0))
    pool: float = attrs.field(default=30.0, validator=greater_than(0))


@attrs.frozen
class Limits:
    """Client-side rate limits; ``None`` is unlimited. Token limits are tokens per minute."""

    rpm: int | None = attrs.field(default=None, validator=at_least(1))
    tpm: int | None = attrs.field(default=None, validator=at_least(1))
    input_tpm: int | None = attrs.field(default=None, validator=at_least(1))
    output_tpm: int | None = attrs.field(default=None, validator=at_least(1))
    max_concurrency: int | None = attrs.field(default=None, validator=at_least(1))

    def rate_limits(self) -> RateLimits:
        """The limiter's view: the same limits, per minute."""
        return RateLimits.per_minute(
            rpm=self.rpm,
            tpm=self.tpm,
            input_tpm=self.input_tpm,
            output_tpm=self.output_tpm,
            concurrency=self.max_concurrency,
        )


@attrs.frozen
class ProviderLimits(Limits):
    """A provider's limits, plus per-model limits (``models."gpt-4o".rpm``)."""

    models: Mapping[str, Limits] = attrs.field(factory=dict)

    def for_model(self, model: str) -> Limits:
        """The model's own values where set, the provider's elsewhere."""
        base = Limits(
            rpm=self.rpm,
            tpm=self.tpm,
            input_tpm=self.input_tpm,
            output_tpm=self.output_tpm,
            max_concurrency=self.max_concurrency,
        )
        own = self.models.get(model)
        if own is None:
            return base
        changes = {k: v for k, v in attrs.asdict(own).items() if v is not None}
        return attrs.evolve(base, **changes)


@attrs.frozen
class BreakerSettings:
    """Circuit breaker of one provider (rate-based, resilience4j/Polly semantics).

    Opens when at least ``minimum_calls`` calls in the last ``window`` seconds were recorded and
    the failure rate (or the slow-call rate) is at or above its threshold; stays open for
    ``open_duration`` seconds, growing on each re-open up to ``max_open_duration``; then lets
    ``half_open_max_calls`` probes through.
    """

    enabled: bool = True
    failure_rate_threshold: float = attrs.field(
        default=0.5, validator=between(0, 1, low_inclusive=False)
    )
    minimum_calls: int = attrs.field(default=5, validator=at_least(1))
    window: float = attrs.field(default=30.0, validator=greater_than(0))
    open_duration: float = attrs.field(default=5.0, validator=greater_than(0))
    max_open_duration: float = attrs.field(default=300.0, validator=greater_than(0))
    half_open_max_calls: int = attrs.field(default=1, validator=at_least(1))
    slow_call_duration: float | None = attrs.field(default=None, validator=greater_than(0))
    slow_call_rate_threshold: float = attrs.field(
        default=1.0, validator=between(0, 1, low_inclusive=False)
    )

    def __attrs_post_init__(self) -> None:
        if self.max_open_duration < self.open_duration:
            raise InvalidValue(
                "max_open_duration",
                f"a number >= open_duration ({self.open_duration:g})",
                self.max_open_duration,
            )

    def breaker_config(self) -> BreakerConfig:
        """The breaker engine's parameters: a time window, as configured; off when disabled."""
        if not self.enabled:
            return BreakerConfig(
                failure_rate_threshold=1.0, consecutive_failures=0, minimum_calls=10**9
            )
        return BreakerConfig(
            window_type=WindowType.TIME,
            window_size=self.window,
            minimum_calls=self.minimum_calls,
            failure_rate_threshold=self.failure_rate_threshold,
            open_duration=self.open_duration,
            max_open_duration=self.max_open_duration,
            half_open_probes=self.half_open_max_calls,
            slow_call_duration=self.slow_call_duration,
            slow_call_rate_threshold=self.slow_call_rate_threshold,
        )


def _check_deployment_name(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidValue(
            attribute.name, "a deployment name of letters, digits, '_' and '-'", value
        )


@attrs.frozen
class DeploymentConfig:
    """One deployment of a provider (a region, an endpoint, a key), with its own actor,
    limiter and breaker under the provider's name. Unset fields take the provider's values.

    ``api_key_env`` is read by :func:`~hafs_actors.config.load_config`; ``weight`` scales the
    share of requests it gets when the router balances the provider's deployments.
    """

    name: str = attrs.field(validator=_check_deployment_name)
    base_url: str | None = attrs.field(default=None, validator=url("http", "https"), repr=_url_repr)
    api_key: str | None = attrs.field(default=None, repr=False)
    api_key_env: str | None = None
    weight: float = attrs.field(default=1.0, validator=greater_than(0))
    limits: ProviderLimits | None = None


@attrs.frozen
class ProviderConfig:
    """One provider: where it is, how to reach it, and its limits.

    ``kind`` defaults to the name for built-in providers and to ``custom`` (an adapter
    registered in code) otherwise. ``base_url``, ``default_model``, ``embed_model`` and
    ``api_key_env`` default from the kind. ``enabled``: ``None`` is automatic (see
    :attr:`unconfigured_reason`), ``False`` switches the provider off, ``True`` switches on a
    local provider.
    """

    name: str = attrs.field(validator=_check_name)
    kind: str = attrs.field(validator=one_of(PROVIDER_KINDS))
    enabled: bool | None = None
    api_key_env: str | None = attrs.field()
    api_key: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = attrs.field(validator=url("http", "https"), repr=_url_repr)
    default_model: str | None = attrs.field()
    embed_model: str | None = attrs.field()
    transport: Literal["hafs", "httpx"] = attrs.field(
        default="hafs", validator=one_of(("hafs", "httpx"))
    )
    http2: bool = False
    proxy: str | None = attrs.field(
        default=None, validator=url("http", "https", "socks5", "socks5h"), repr=_url_repr
    )
    verify: bool | str = attrs.field(default=True, validator=_check_bool_or_str)
    timeouts: HttpTimeouts = attrs.field(factory=HttpTimeouts)
    max_connections: int = attrs.field(default=256, validator=at_least(1))
    mailbox_size: int = attrs.field(default=1024, validator=at_least(1))
    max_in_flight: int = attrs.field(default=256, validator=at_least(1))
    embed_batch_size: int | None = attrs.field(default=None, validator=at_least(1))
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    limits: ProviderLimits = attrs.field(factory=ProviderLimits)
    breaker: BreakerSettings = attrs.field(factory=BreakerSettings)
    models: Mapping[str, CapabilityOverride] = attrs.field(factory=dict)
    #: several deployments of this provider, balanced by the router (docs/scaling.md)
    deployments: tuple[DeploymentConfig, ...] = attrs.field(
        default=(), converter=_to_deployments, validator=_check_deployments
    )
    #: the largest response body read (after decompression), in bytes
    max_response_bytes: int = attrs.field(default=64 * 1024 * 1024, validator=at_least(1))
    #: the largest SSE event or NDJSON line, in bytes
    max_event_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=at_least(1))
    #: how much of an error body is read, in bytes
    max_error_bytes: int = attrs.field(default=64 * 1024, validator=at_least(1))

    @kind.default
    def _kind(self) -> str:
        return self.name if self.name in BUILTIN_PROVIDERS else "custom"

    @api_key_env.default
    def _api_key_env(self) -> str:
        return default_api_key_env(self.name)

    @base_url.default
    def _base_url(self) -> str | None:
        return DEFAULT_BASE_URLS.get(self.kind)

    @default_model.default
    def _default_model(self) -> str | None:
        return DEFAULT_MODELS.get(self.kind)

    @embed_model.default
    def _embed_model(self) -> str | None:
        return DEFAULT_EMBED_MODELS.get(self.kind)

    @property
    def explicit_endpoint(self) -> bool:
        """True when ``base_url`` differs from the kind's public default."""
        return self.base_url is not None and self.base_url != DEFAULT_BASE_URLS.get(self.kind)

    @property
    def unconfigured_reason(self) -> str | None:
        """Why routing must skip this provider, or ``None`` when it is configured.

        * ``enabled = false``: never configured.
        * gemini, anthropic, openai: an API key, or an explicit ``base_url`` (a gateway, a local
          server or an emulator, which may not need a key).
        * openai_compatible: a ``base_url``.
        * ollama, llamacpp: ``enabled = true`` or an explicit ``base_url``. The loader sets
          ``enabled`` when the provider is declared at all (a ``[providers.ollama]`` table,
          ``OLLAMA_HOST``/``LLAMACPP_BASE_URL``, or an argument), so nothing is sent to a local
          port nobody asked for.
        * custom: an adapter registered in code; the configuration alone never suffices.
        """
        if self.enabled is False:
            return "disabled (enabled = false)"
        if self.deployments and self.kind != "custom":
            if all(d.api_key or d.base_url or self.api_key for d in self.deployments):
                return None
            return "a deployment has neither an API key nor a base_url"
        if self.kind in CLOUD_KINDS:
            if self.api_key or self.explicit_endpoint:
                return None
            return f"no API key: set {self.api_key_env}" if self.api_key_env else "no API key"
        if self.kind == "openai_compatible":
            return None if self.base_url else "no base_url"
        if self.kind in LOCAL_KINDS:
            if self.enabled or self.explicit_endpoint:
                return None
            env = BASE_URL_ENV_VARS.get(self.name)
            how = f"add a [providers.{self.name}] table" + (f", set {env}" if env else "")
            return f"not enabled: {how} or set enabled = true"
        return "custom kind: needs an adapter registered in code (register_adapter)"

    @property
    def configured(self) -> bool:
        return self.unconfigured_reason is None

    @property
    def capabilities(self) -> CapabilityTable:
        return CapabilityTable(kind=self.kind, overrides=self.models)

    @property
    def supports_embeddings(self) -> bool:
        """Whether the kind's adapter has an embeddings API (custom adapters say themselves)."""
        return self.kind not in ("anthropic", "custom")


# --- global sections ------------------------------------------------------------------------


@attrs.frozen
class RoutingSettings:
    """``[routing]``: environment-style overrides and the embedding route.

    ``rotation`` (``HAFS_MODEL_ROTATION``) is tried first for requests naming no provider;
    ``provider``/``model`` (``HAFS_MODEL_PROVIDER``/``HAFS_MODEL_MODEL``) come next; then the
    tier route. ``default_tier`` is the tier of requests naming none.
    """

    rotation: Route = attrs.field(default=(), converter=_to_route)
    provider: str | None = attrs.field(default=None, converter=_opt_name)
    model: str | None = None
    default_tier: str = attrs.field(default=DEFAULT_TIER, converter=name_of)
    embed_route: Route = attrs.field(default=DEFAULT_EMBED_ROUTE, converter=_to_route)
    #: drop a parameter a candidate cannot honour (``seed`` on Anthropic) instead of skipping it
    drop_unsupported_params: bool = False
    #: per tier: start the next candidate too when the first produced nothing after this many
    #: seconds (hedged requests; docs/scaling.md); a tier not listed is not hedged
    hedge_after: Mapping[str, float] = attrs.field(factory=dict, validator=_check_hedges)
    #: seeds every jitter (retry backoff, breaker open periods, restart backoff); None: random
    random_seed: int | None = attrs.field(default=None, validator=_check_seed)


@attrs.frozen
class RequestTimeouts:
    """``[timeouts]``: per-request timing, in seconds."""

    request_deadline: float = attrs.field(default=120.0, validator=greater_than(0))
    attempt_timeout: float = attrs.field(default=60.0, validator=greater_than(0))
    stream_ttft_timeout: float = attrs.field(default=30.0, validator=greater_than(0))
    stream_idle_timeout: float = attrs.field(default=30.0, validator=greater_than(0))
    #: longest a stream may last once its first token arrived; None: no limit
    stream_max_duration: float | None = attrs.field(default=None, validator=greater_than(0))
    shutdown_grace: float = attrs.field(default=5.0, validator=number_at_least(0))
    actor_call_timeout: float = attrs.field(default=5.0, validator=greater_than(0))
    health_check_timeout: float = attrs.field(default=10.0, validator=greater_than(0))


@attrs.frozen
class RetrySettings:
    """``[retry]``: same-candidate retries of transient errors (full jitter, one layer only)."""

    max_retries_per_candidate: int = attrs.field(default=2, validator=at_least(0))
    base_delay: float = attrs.field(default=0.5, validator=greater_than(0))
    max_delay: float = attrs.field(default=8.0, validator=greater_than(0))
    max_server_delay: float = attrs.field(default=30.0, validator=number_at_least(0))
    budget_ratio: float = attrs.field(default=0.2, validator=between(0, 1))
    #: Retries per second always allowed whatever the ratio (a reserve, as in Finagle).
    budget_min_retries: int = attrs.field(default=3, validator=at_least(0))

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.base_delay:
            raise InvalidValue(
                "max_delay", f"a number >= base_delay ({self.base_delay:g})", self.max_delay
            )

    def policy(self, rng: random.Random | None = None) -> RetryPolicy:
        """The router's retry policy with these settings; ``rng`` draws its jitter."""
        return RetryPolicy(
            RetryConfig(
                max_retries=self.max_retries_per_candidate,
                base_delay=self.base_delay,
                max_delay=self.max_delay,
                max_server_delay=self.max_server_delay,
                budget_ratio=self.budget_ratio,
                budget_min_retries_per_second=float(self.budget_min_retries),
            ),
            rng=rng,
        )


@attrs.frozen
class CostSettings:
    """``[cost]``: skip candidates whose cost estimate exceeds this (USD); ``None``: no limit."""

    max_cost_per_request: float | None = attrs.field(default=None, validator=greater_than(0))


@attrs.frozen
class SupervisionSettings:
    """``[supervision]``: restarts of provider actors, and the health probe of down providers."""

    intensity: int = attrs.field(default=3, validator=at_least(0))
    period: float = attrs.field(default=30.0, validator=greater_than(0))
    backoff_min: float = attrs.field(default=0.5, validator=greater_than(0))
    backoff_max: float = attrs.field(default=30.0, validator=greater_than(0))
    backoff_random_factor: float = attrs.field(default=0.2, validator=between(0, 1))
    health_probe_interval: float = attrs.field(default=30.0, validator=greater_than(0))

    def __attrs_post_init__(self) -> None:
        if self.backoff_max < self.backoff_min:
            raise InvalidValue(
                "backoff_max", f"a number >= backoff_min ({self.backoff_min:g})", self.backoff_max
            )


# --- the whole configuration ----------------------------------------------------------------

ProvidersArg: TypeAlias = Mapping[str, ProviderConfig] | Iterable[ProviderConfig]


def _with_builtins(value: ProvidersArg) -> Mapping[str, ProviderConfig]:
    """Accept a mapping or a list; add the built-in providers that are missing (unconfigured)."""
    if isinstance(value, Mapping):
        providers = {name_of(k): v for k, v in value.items()}
    else:
        providers = {p.name: p for p in value}
    for name in BUILTIN_PROVIDERS:
        providers.setdefault(name, ProviderConfig(name=name))
    return providers


def _check_provider_keys(
    _inst: object, _attribute: attrs.Attribute[Any], value: Mapping[str, ProviderConfig]
) -> None:
    for key, provider in value.items():
        if not isinstance(provider, ProviderConfig):
            raise InvalidValue(f"providers.{key}", "a ProviderConfig", provider)
        if provider.name != key:
            raise InvalidValue(f"providers.{key}.name", repr(key), provider.name)


@attrs.frozen
class HafsConfig:
    """The whole configuration. Build it with :func:`~hafs_actors.config.load_config` (file,
    environment, arguments), :meth:`for_emulators`, or directly.

    Constructed directly, nothing is read from the environment. ``routes`` replaces the default
    tier routes as a whole (``{**DEFAULT_TIER_ROUTES, ...}`` to extend them). ``sources`` maps
    each key set by something other than a default (``"providers.gemini.api_key"``) to where it
    came from (``"env GEMINI_API_KEY"``, ``"file /path"``, ``"argument"``).
    """

    providers: Mapping[str, ProviderConfig] = attrs.field(
        factory=dict, converter=_with_builtins, validator=_check_provider_keys
    )
    default_provider: str | None = attrs.field(default=None, converter=_opt_name)
    routes: Mapping[str, Route] = attrs.field(
        factory=lambda: dict(DEFAULT_TIER_ROUTES), converter=_to_routes
    )
    routing: RoutingSettings = attrs.field(factory=RoutingSettings)
    timeouts: RequestTimeouts = attrs.field(factory=RequestTimeouts)
    retry: RetrySettings = attrs.field(factory=RetrySettings)
    cost: CostSettings = attrs.field(factory=CostSettings)
    supervision: SupervisionSettings = attrs.field(factory=SupervisionSettings)
    state: StateSettings = attrs.field(factory=StateSettings)
    telemetry: TelemetrySettings = attrs.field(factory=TelemetrySettings)
    source_file: Path | None = attrs.field(default=None, eq=False)
    sources: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.routing.default_tier not in self.routes:
            raise InvalidValue(
                "routing.default_tier",
                "a tier with a route (" + ", ".join(sorted(self.routes)) + ")",
                self.routing.default_tier,
                hint=did_you_mean(self.routing.default_tier, self.routes),
            )
        if self.routing.model is not None and self.override is None:
            raise InvalidValue(
                "routing.model",
                "routing.provider (HAFS_MODEL_PROVIDER) or providers.default to be set with it",
                self.routing.model,
            )

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def for_emulators(
        cls, base_urls: Mapping[str, str], *, api_key: str = "emulator-key", **kwargs: Any
    ) -> HafsConfig:
        """A configuration whose providers are exactly ``base_urls`` (name -> URL).

        Built-in names keep their kind; other names are ``openai_compatible``. Every listed
        provider gets ``api_key``; the built-in providers not listed are disabled. ``kwargs`` go
        to the constructor (``timeouts=...``, ``routes=...``).
        """
        providers: dict[str, ProviderConfig] = {}
        for raw_name, base_url in base_urls.items():
            name = name_of(raw_name)
            kind = name if name in BUILTIN_PROVIDERS else "openai_compatible"
            providers[name] = ProviderConfig(
                name=name, kind=kind, base_url=base_url, api_key=api_key, enabled=True
            )
        for name in BUILTIN_PROVIDERS:
            providers.setdefault(name, ProviderConfig(name=name, enabled=False))
        return cls(providers=providers, **kwargs)

    # --- derived views --------------------------------------------------------------------

    def provider(self, name: str | enum.Enum) -> ProviderConfig:
        """The named provider's configuration; a :class:`ConfigError` if there is none."""
        key = name_of(name)
        try:
            return self.providers[key]
        except KeyError:
            hint = did_you_mean(key, self.providers)
            raise ConfigError(f"no provider {key!r} is configured{hint}", key="providers") from None

    @property
    def override(self) -> RouteEntry | None:
        """The (provider, model) of ``HAFS_MODEL_PROVIDER``/``HAFS_MODEL_MODEL``, if set.

        A model without a provider applies to ``providers.default``.
        """
        provider = self.routing.provider
        if provider is None and self.routing.model is not None:
            provider = self.default_provider
        if provider is None:
            return None
        return (provider, self.routing.model)

    def configured_providers(self) -> tuple[str, ...]:
        return tuple(name for name, p in self.providers.items() if p.configured)

    def adapter_settings(
        self, name: str | enum.Enum, deployment: DeploymentConfig | None = None
    ) -> AdapterSettings:
        """What the named provider's adapter (or one of its deployments) needs to reach it."""
        p = self.provider(name)
        base_url = (
            p.base_url if deployment is None or not deployment.base_url else deployment.base_url
        )
        api_key = p.api_key if deployment is None or not deployment.api_key else deployment.api_key
        return AdapterSettings(
            base_url=base_url or "",
            api_key=api_key,
            default_model=p.default_model,
            connect_timeout=p.timeouts.connect,
            read_timeout=p.timeouts.read,
            write_timeout=p.timeouts.write,
            pool_timeout=p.timeouts.pool,
            stream_ttft_timeout=self.timeouts.stream_ttft_timeout,
            max_connections=p.max_connections,
            max_keepalive_connections=p.max_connections,
            transport=p.transport,
            http2=p.http2,
            proxy=p.proxy,
            verify=p.verify,
            extra_headers=dict(p.headers),
            embed_batch_size=p.embed_batch_size,
            max_response_bytes=p.max_response_bytes,
            max_event_bytes=p.max_event_bytes,
            max_error_bytes=p.max_error_bytes,
        )

    def provider_state(
        self,
        name: str | enum.Enum,
        *,
        down: bool = False,
        supports_streaming: bool | None = None,
        supports_embeddings: bool | None = None,
        supported_params: frozenset[str] | None = None,
    ) -> ProviderState:
        """The routing view of a configured provider; adapter flags override the kind's."""
        p = self.provider(name)
        return ProviderState(
            configured=p.configured,
            down=down,
            supports_streaming=True if supports_streaming is None else supports_streaming,
            supports_embeddings=(
                p.supports_embeddings if supports_embeddings is None else supports_embeddings
            ),
            default_model=p.default_model,
            embed_model=p.embed_model,
            capabilities=p.capabilities,
            supported_params=supported_params,
        )

    def routing_snapshot(
        self,
        *,
        down: Collection[str] = (),
        registered: Mapping[str, ProviderState] | None = None,
    ) -> RoutingSnapshot:
        """A routing snapshot of this configuration.

        ``registered`` adds or replaces providers (custom adapters registered in code, or
        states built with adapter flags); ``down`` marks providers down.
        """
        states: dict[str, ProviderState] = {n: self.provider_state(n) for n in self.providers}
        states.update(registered or {})
        for name in down:
            if name in states:
                states[name] = attrs.evolve(states[name], down=True)
        return RoutingSnapshot(
            providers=states,
            tier_routes=self.routes,
            embed_route=self.routing.embed_route,
            rotation=self.routing.rotation,
            override=self.override,
            default_provider=self.default_provider,
            default_tier=self.routing.default_tier,
        )

    def redacted(self) -> dict[str, Any]:
        """The effective configuration as plain data, safe to print: no key material."""
        return redacted_tree(self)

    def warnings(self) -> tuple[str, ...]:
        """Things that are valid but probably not intended (for ``hafs config check``)."""
        return config_warnings(self)
