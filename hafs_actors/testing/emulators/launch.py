"""What ``hafs emulate`` was asked to run, in a form a child process can receive.

The CLI serves the emulators itself (trio server) or starts one granian process per provider;
both build each provider's :class:`EmulatorConfig` from the same :class:`LaunchSpec`, which
travels to a granian worker as JSON in an environment variable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from ...errors import ConfigError
from .config import DEFAULT_API_KEY, EmulatorConfig
from .faults import FaultPlan

__all__ = ["SPEC_ENV", "LaunchSpec"]

SPEC_ENV = "HAFS_EMULATOR_SPEC"


@attrs.frozen
class LaunchSpec:
    """The options shared by every emulator of one ``hafs emulate`` run."""

    latency: str = "zero"
    seed: int = 0
    api_key: str = attrs.field(default=DEFAULT_API_KEY, repr=False)
    reply_prefix: str = ""
    reply_tokens: tuple[int, int] = (12, 48)
    accept_any_model: bool = False
    require_auth: bool = False
    faults_file: str | None = None

    def load_faults(self) -> FaultPlan:
        """The fault plan from ``faults_file`` (re-read on every call, e.g. on SIGHUP)."""
        return FaultPlan.from_file(self.faults_file) if self.faults_file else FaultPlan()

    def config(self, plan: FaultPlan | None = None) -> EmulatorConfig:
        if self.latency not in ("zero", "realistic"):
            raise ConfigError(f"latency must be 'zero' or 'realistic', got {self.latency!r}")
        return EmulatorConfig(
            api_key=self.api_key,
            require_auth=True if self.require_auth else None,
            accept_any_model=True if self.accept_any_model else None,
            latency="realistic" if self.latency == "realistic" else "zero",
            seed=self.seed,
            reply_prefix=self.reply_prefix,
            reply_tokens=self.reply_tokens,
            faults=plan if plan is not None else self.load_faults(),
        )

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LaunchSpec:
        data: dict[str, Any] = json.loads(text)
        data["reply_tokens"] = tuple(data["reply_tokens"])
        if data.get("faults_file"):
            data["faults_file"] = str(Path(data["faults_file"]).resolve())
        return cls(**data)
