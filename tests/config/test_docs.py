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


_TABLES = {
    ProviderConfig: "### `[providers.NAME]`",
    HttpTimeouts: "`[providers.NAME.timeouts]`",
    BreakerSettings: "`[providers.NAME.breaker]`",
    RoutingSettings: "### `[routing]`",
    RequestTimeouts: "### `[timeouts]`",
    StateSettings: "### `[state]`",
    RetrySettings: "### `[retry]`",
    CostSettings: "### `[cost]`",
    SupervisionSettings: "### `[supervision]`",
}


def _documented_defaults(anchor: str) -> dict[str, str]:
    """Key -> the Default cell of the first table after ``anchor``."""
    rest = TEXT[TEXT.index(anchor) + len(anchor) :]
    rows: dict[str, str] = {}
    started = False
    for line in rest.splitlines():
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip("|").split("|")]
            key = re.fullmatch(r"`([a-z_]+)`", cells[0])
            if key and len(cells) >= 2:
                rows[key.group(1)] = cells[1]
        elif started:
            break
    return rows


def _toml_value(cell: str) -> object:
    if cell.startswith("unset"):
        return None
    literal = re.match(r"`([^`]*)`", cell)
    assert literal, f"no literal default in {cell!r}"
    text = literal.group(1)
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"'):
        return text.strip('"')
    return float(text)


@pytest.mark.parametrize("cls", list(_TABLES))
def test_documented_defaults_are_the_classes(cls: type) -> None:
    """The docs' default tables cannot drift: each scalar default is the class's own."""
    rows = _documented_defaults(_TABLES[cls])
    checked = 0
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory) or default is attrs.NOTHING:  # type: ignore[arg-type]
            continue
        if default is not None and not isinstance(default, (bool, int, float, str)):
            continue
        if field.name not in rows or not rows[field.name].startswith(("`", "unset")):
            continue  # per-kind defaults are described in words
        documented = _toml_value(rows[field.name])
        if isinstance(default, bool) or default is None or isinstance(default, str):
            assert documented == default, field.name
        else:
            assert documented == pytest.approx(float(default)), field.name
        checked += 1
    assert checked, f"no default of {cls.__name__} found in its table"
