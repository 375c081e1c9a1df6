"""The telemetry switch: ``UnifiedOrchestrator(telemetry=...)``, the ``[telemetry]`` config
section, the environment; and the semantic-convention mode.

Precedence: an explicit ``telemetry=`` argument, else the config section with the environment
applied on top (``HAFS_OTEL``, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``,
``OTEL_SEMCONV_STABILITY_OPT_IN``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import attrs

from ..errors import ConfigError

__all__ = ["SemconvMode", "TelemetrySettings", "resolve_telemetry", "semconv_mode"]

#: Which GenAI semantic-convention names to emit: the pre-2026 ones, the current, or both.
SemconvMode: TypeAlias = Literal["old", "new", "both"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_OPT_IN = "gen_ai_latest_experimental"


def semconv_mode(env: Mapping[str, str] | None = None) -> SemconvMode:
    """The mode ``OTEL_SEMCONV_STABILITY_OPT_IN`` asks for (a comma-separated list).

    ``gen_ai_latest_experimental``: the current names only; ``gen_ai_latest_experimental/dup``:
    both; otherwise the old names, as the GenAI conventions' transition plan requires.
    """
    values = {
        v.strip()
        for v in (os.environ if env is None else env)
        .get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
        .split(",")
    }
    if f"{_OPT_IN}/dup" in values:
        return "both"
    if _OPT_IN in values:
        return "new"
    return "old"


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"must be true or false, got {value!r}", source="environment", key=name)


@attrs.frozen
class TelemetrySettings:
    """The ``[telemetry]`` section (``otel``, ``capture_content``, ``semconv``).

    ``tracer_provider`` and ``meter_provider`` are code-only: None uses OpenTelemetry's global
    providers.
    """

    otel: bool = False
    #: record prompts and completions on spans (off: they never leave the process)
    capture_content: bool = False
    #: None follows ``OTEL_SEMCONV_STABILITY_OPT_IN``
    semconv: SemconvMode | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.in_(("old", "new", "both"))),
    )
    tracer_provider: Any = attrs.field(default=None, eq=False, repr=False)
    meter_provider: Any = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], source: str = "[telemetry]"
    ) -> TelemetrySettings:
        """The settings of a ``[telemetry]`` TOML table; unknown keys are an error."""
        known = {"otel", "capture_content", "semconv"}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"unknown key (known: {sorted(known)})", source=source, key=key)
            if key != "semconv" and not isinstance(value, bool):
                raise ConfigError(f"must be true or false, got {value!r}", source=source, key=key)
        try:
            return cls(**table)
        except ValueError as exc:
            raise ConfigError(str(exc), source=source, key="semconv") from exc

    def with_env(self, env: Mapping[str, str] | None = None) -> TelemetrySettings:
        """These settings with ``HAFS_OTEL`` and the content-capture variable applied on top."""
        env = os.environ if env is None else env
        otel = _flag(env, "HAFS_OTEL")
        content = _flag(env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        return attrs.evolve(
            self,
            otel=self.otel if otel is None else otel,
            capture_content=self.capture_content if content is None else content,
        )


def resolve_telemetry(
    telemetry: bool | TelemetrySettings | None,
    configured: TelemetrySettings | None,
    env: Mapping[str, str] | None = None,
) -> TelemetrySettings | None:
    """The settings in force, or None when OpenTelemetry export is off.

    ``telemetry=False`` turns it off whatever the config says; ``True`` turns it on with the
    config's other settings; settings given in code are used as they are.
    """
    if isinstance(telemetry, TelemetrySettings):
        return attrs.evolve(telemetry, otel=True)
    settings = (configured or TelemetrySettings()).with_env(env)
    if telemetry is False or (telemetry is None and not settings.otel):
        return None
    return attrs.evolve(settings, otel=True)
