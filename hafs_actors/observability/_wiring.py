"""What the orchestrator calls when it starts: the OpenTelemetry observer, if switched on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ._events import Observer
from ._settings import TelemetrySettings, resolve_telemetry

__all__ = ["telemetry_observer"]


def telemetry_observer(
    telemetry: bool | TelemetrySettings | None,
    config: Any,
    env: Mapping[str, str] | None = None,
) -> Observer | None:
    """The OpenTelemetry observer that ``telemetry=``, ``config.telemetry`` and the environment
    ask for, or None; imports OpenTelemetry only then."""
    settings = resolve_telemetry(telemetry, getattr(config, "telemetry", None), env)
    if settings is None:
        return None
    try:
        from .otel import OtelObserver
    except ImportError as exc:
        raise ConfigError(
            "OpenTelemetry export needs opentelemetry-api: pip install 'hafs-actors[otel]'",
            source="telemetry",
            key="otel",
        ) from exc
    return OtelObserver.from_settings(settings, env)
