"""docs/usage.md's configuration: its environment variables and its ``config.toml``, end to end.

``HAFS_MODEL_ROTATION`` is tried first for requests naming no provider, then the
``HAFS_MODEL_PROVIDER``/``HAFS_MODEL_MODEL`` override, then the tier route; an explicit provider
beats both (docs/design.md). docs/usage.md's ``config.toml`` sets the default provider and each
provider's key variable, default model and base URL.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from trio.testing import MockClock

from hafs_actors import AllProvidersFailed, UnifiedOrchestrator, load_config
from hafs_actors.testing.emulators import Emulator, Fault, FaultPlan, open_emulators
from tests.orchestrator._helpers import emulator_config, emulator_urls, served_by, usage_blocks

KEY = "emulator-key"
(ENVIRONMENT,) = usage_blocks("bash")
(CONFIG_TOML,) = usage_blocks("toml")


def usage_exports() -> dict[str, str]:
    """The ``export NAME="value"`` lines of docs/usage.md's environment block."""
    exports = dict(re.findall(r'^export (\w+)="([^"]*)"', ENVIRONMENT, flags=re.MULTILINE))
    assert set(exports) == {
        "GEMINI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "HAFS_MODEL_PROVIDER",
        "HAFS_MODEL_MODEL",
        "HAFS_MODEL_ROTATION",
    }
    return exports


@pytest.fixture
async def emulators() -> AsyncIterator[dict[str, Emulator]]:
    providers = ("gemini", "anthropic", "openai", "ollama")
    configs = {name: emulator_config() for name in providers}
    async with open_emulators(providers, configs=configs) as emus:
        yield emus


def environment(
    emus: dict[str, Emulator], home: Path, *, keep: tuple[str, ...] = ()
) -> dict[str, str]:
    """docs/usage.md's exports (keys pointed at the emulators' dummy key) plus the base URLs.

    ``keep`` names the HAFS_MODEL_* variables to take from docs/usage.md; the others stay unset.
    """
    urls = emulator_urls(emus)
    env = {"HOME": str(home)}
    for name, value in usage_exports().items():
        if name.endswith("_API_KEY"):
            assert value == "..."
            env[name] = KEY
        elif name in keep:
            env[name] = value
    env["GEMINI_BASE_URL"] = urls["gemini"]
    env["ANTHROPIC_BASE_URL"] = urls["anthropic"]
    env["OPENAI_BASE_URL"] = urls["openai"]
    return env


async def test_rotation_is_tried_first_then_the_override_then_the_tier_route(
    autojump_clock: MockClock, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    env = environment(
        emulators,
        tmp_path,
        keep=("HAFS_MODEL_PROVIDER", "HAFS_MODEL_MODEL", "HAFS_MODEL_ROTATION"),
    )
    config = load_config(env=env)
    assert config.routing.rotation == (
        ("gemini", "gemini-3-flash-preview"),
        ("anthropic", "claude-sonnet-4"),
    )
    assert config.override == ("gemini", "gemini-3-flash-preview")

    async with UnifiedOrchestrator(env=env) as orch:
        first = await orch.generate("hi")
        emulators["gemini"].set_faults(FaultPlan([Fault(kind="http_error", status=400)]))
        rotated = await orch.generate("hi", tier="coding")
        explicit = await orch.generate("hi", provider="openai", model="gpt-4o")

    assert served_by(first) == "gemini/gemini-3-flash-preview"
    assert served_by(rotated) == "anthropic/claude-sonnet-4"  # the rotation's second step
    assert [(a.provider, a.model, a.outcome) for a in rotated.attempts] == [
        ("ollama", "qwen2.5-coder:14b", "skipped"),  # the coding route's, not configured here
        ("gemini", "gemini-3-flash-preview", "BadRequestError"),
        ("anthropic", "claude-sonnet-4", "ok"),
    ]
    assert rotated.attempts[0].error == "not configured"
    assert served_by(explicit) == "openai/gpt-4o"  # an explicit provider beats the rotation


async def test_provider_and_model_override_comes_before_the_tier_route(
    autojump_clock: MockClock, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    env = environment(emulators, tmp_path) | {
        "HAFS_MODEL_PROVIDER": "openai",
        "HAFS_MODEL_MODEL": "gpt-4o",
    }
    async with UnifiedOrchestrator(env=env) as orch:
        default = await orch.generate("hi")
        tiered = await orch.generate("hi", tier="reasoning")
        emulators["openai"].set_faults(FaultPlan([Fault(kind="http_error", status=400)]))
        fallen_back = await orch.generate("hi", tier="reasoning")

    assert served_by(default) == "openai/gpt-4o"
    assert served_by(tiered) == "openai/gpt-4o"
    assert served_by(fallen_back) == "gemini/gemini-3-pro-preview"  # then the tier route
    assert [a.provider for a in fallen_back.attempts] == ["openai", "gemini"]


async def test_the_documented_config_file(
    autojump_clock: MockClock, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    urls = emulator_urls(emulators)
    path = tmp_path / "xdg" / "hafs" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG_TOML.replace("http://localhost:11434", urls["ollama"]))
    env = environment(emulators, tmp_path)
    del env["OPENAI_API_KEY"], env["OPENAI_BASE_URL"]
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")

    config = load_config(env=env)
    assert config.source_file == path
    assert config.default_provider == "gemini"
    assert config.providers["gemini"].default_model == "gemini-3-flash-preview"
    assert config.providers["anthropic"].default_model == "claude-sonnet-4-20250514"
    assert config.providers["ollama"].default_model == "qwen2.5-coder:14b"
    assert config.providers["ollama"].base_url == urls["ollama"]
    assert config.sources["providers.gemini.api_key"] == "env GEMINI_API_KEY"
    assert not config.providers["openai"].configured

    async with UnifiedOrchestrator(env=env) as orch:
        default = await orch.generate("hi")
        anthropic = await orch.generate("hi", provider="anthropic")
        ollama = await orch.generate("hi", provider="ollama")
        with pytest.raises(AllProvidersFailed) as info:
            await orch.generate("hi", provider="openai", allow_fallback=False)
        assert "openai" not in orch.status().configured

    assert served_by(default) == "gemini/gemini-3-flash-preview"  # [providers] default
    assert served_by(anthropic) == "anthropic/claude-sonnet-4-20250514"
    assert served_by(ollama) == "ollama/qwen2.5-coder:14b"
    (skipped,) = info.value.attempts
    assert (skipped.provider, skipped.outcome, skipped.error) == (
        "openai",
        "skipped",
        "not configured",
    )
