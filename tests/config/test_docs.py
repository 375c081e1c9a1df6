"""docs/configuration.md stays true: its examples load and it names every key."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from hafs_actors.config import (
    BreakerSettings,
    CostSettings,
    HafsConfig,
    HttpTimeouts,
    Limits,
    ProviderConfig,
    RequestTimeouts,
    RetrySettings,
    RoutingSettings,
    SupervisionSettings,
    load_config,
)
from hafs_actors.config.loader import ENV_VARS
from hafs_actors.routing.capabilities import CapabilityOverride
from hafs_actors.state import StateSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TEXT = DOC.read_text(encoding="utf-8")
TOML_BLOCKS = re.findall(r"```toml\n(.*?)```", TEXT, flags=re.DOTALL)


@pytest.mark.parametrize("block", TOML_BLOCKS)
def test_toml_examples_load(tmp_path: Path, block: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(block, encoding="utf-8")
    assert isinstance(load_config(path, env={}), HafsConfig)


def test_there_are_examples() -> None:
    assert len(TOML_BLOCKS) >= 4


@pytest.mark.parametrize(
    "cls",
    [
        ProviderConfig,
        HttpTimeouts,
        Limits,
        BreakerSettings,
        CapabilityOverride,
        RoutingSettings,
        RequestTimeouts,
        RetrySettings,
        CostSettings,
        SupervisionSettings,
        StateSettings,
    ],
)
def test_every_key_is_documented(cls: type) -> None:
    def documented(key: str) -> bool:
        # A plain key in a table row, or a sub-table with its own heading.
        return f"`{key}`" in TEXT or f"`[providers.NAME.{key}" in TEXT

    missing = [f.name for f in attrs.fields(cls) if f.name != "name" and not documented(f.name)]
    assert missing == []


def test_every_environment_variable_is_documented() -> None:
    for name in (*ENV_VARS, "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        assert f"`{name}`" in TEXT, name
