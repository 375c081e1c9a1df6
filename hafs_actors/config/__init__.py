"""Configuration: a TOML file, the environment and arguments, structured into attrs classes.

``load_config()`` finds the file (``$HAFS_CONFIG``, else ``$XDG_CONFIG_HOME/hafs/config.toml``,
else ``~/.config/hafs/config.toml``), applies the environment and the ``overrides`` argument on
top (arguments > environment > file > defaults, per key) and records where each value came
from. See docs/configuration.md for every key.
"""

from __future__ import annotations

from .loader import ENV_VARS, load_config, resolve_config_path
from .model import (
    BASE_URL_ENV_VARS,
    CLOUD_KINDS,
    DEFAULT_API_KEY_ENVS,
    DEFAULT_BASE_URLS,
    PROVIDER_KINDS,
    BreakerSettings,
    CostSettings,
    DeploymentConfig,
    HafsConfig,
    HttpTimeouts,
    Limits,
    ProviderConfig,
    ProviderLimits,
    RequestTimeouts,
    RetrySettings,
    RoutingSettings,
    SupervisionSettings,
    default_api_key_env,
)
from .view import flatten, format_key

__all__ = [
    "BASE_URL_ENV_VARS",
    "CLOUD_KINDS",
    "DEFAULT_API_KEY_ENVS",
    "DEFAULT_BASE_URLS",
    "ENV_VARS",
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
    "flatten",
    "format_key",
    "load_config",
    "resolve_config_path",
]
