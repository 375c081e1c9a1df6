"""The package's shape: public names are exactly ``__all__``, re-exported the trio way, and a
library import stays a library import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "hafs_actors",
    "hafs_actors.actors",
    "hafs_actors.adapters",
    "hafs_actors.config",
    "hafs_actors.orchestrator",
    "hafs_actors.providers",
    "hafs_actors.resilience",
    "hafs_actors.routing",
    "hafs_actors.testing",
    "hafs_actors.transport",
    "supervisors",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_exactly_all(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, type(sys)) and n != "annotations"
    }
    assert public <= set(module.__all__) | {"log", "logger", "TIER_ROUTES"}, sorted(
        public - set(module.__all__)
    )
    for exported in module.__all__:
        assert hasattr(module, exported), exported


@pytest.mark.parametrize("name", ["hafs_actors.orchestrator", "hafs_actors.routing"])
def test_private_modules_are_re_exported_with_the_public_module_name(name: str) -> None:
    module = importlib.import_module(name)
    classes = [getattr(module, n) for n in module.__all__ if isinstance(getattr(module, n), type)]
    assert classes
    assert all(c.__module__ == name for c in classes)


def test_layers_are_packages() -> None:
    for name in ("orchestrator", "routing", "providers", "adapters.wire", "testing"):
        assert hasattr(importlib.import_module(f"hafs_actors.{name}"), "__path__")


def test_import_loads_no_tooling() -> None:
    """``import hafs_actors`` loads no rich, emulator, testing, bench or CLI module.

    httpx imports its own command line (and so rich) when click is installed; ``click`` is
    hidden here so the check is about this package's imports only.
    """
    code = (
        "import sys; sys.modules['click'] = None; import hafs_actors; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'rich' or m.startswith("
        "('hafs_actors.testing', 'hafs_actors.cli', 'hafs_actors.bench', "
        "'hafs_actors.frontends', 'hafs_actors.observability.otel'))]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_testing_kit_exports() -> None:
    import hafs_actors.testing as kit

    assert {"open_emulated_orchestrator", "ScriptedAdapter", "FunctionAdapter"} <= set(kit.__all__)


def test_the_actor_runtime_does_not_import_the_llm_errors() -> None:
    """``actors/`` knows only the library's root error and its own errors."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "hafs_actors" / "actors"
    for path in folder.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from ..errors" not in text, path.name
        assert "hafs_actors.errors import" not in text, path.name
