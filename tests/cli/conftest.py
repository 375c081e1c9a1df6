"""Isolation for CLI tests: no real keys, endpoints or config file leak in."""

from __future__ import annotations

from pathlib import Path

import pytest

from hafs_actors.config.model import BASE_URL_ENV_VARS, DEFAULT_API_KEY_ENVS


@pytest.fixture(autouse=True)
def no_real_providers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*DEFAULT_API_KEY_ENVS.values(), *BASE_URL_ENV_VARS.values(), "HAFS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("HAFS_DEBUG", raising=False)
