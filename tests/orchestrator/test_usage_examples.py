"""docs/usage.md's examples, run as a new user would, against the emulators.

Every Python block of docs/usage.md is read from the document itself and run as written; only
the custom adapter's two backend calls (``_call_api``, ``_call_embedding_api``) are filled in,
here with HTTP calls to the llama.cpp emulator. "Pointed at emulators" means the environment the
document describes (API keys, the SDK base-URL variables) and its ``config.toml``, with the URLs
of local emulators.
"""

from __future__ import annotations

import enum
import importlib
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from trio.testing import MockClock

import hafs_actors
from hafs_actors import GenerateResult, Provider, TaskTier, UnifiedOrchestrator
from hafs_actors.testing.emulators import Emulator, Fault, FaultPlan, open_emulators
from tests.orchestrator._helpers import (
    USAGE,
    emulator_config,
    emulator_urls,
    served_by,
    usage_blocks,
)

KEY = "emulator-key"

PYTHON = usage_blocks("python")
(
    PROVIDER_ENUM,
    TASK_TIER_ENUM,
    BASIC_USAGE,
    DEFINE_PROVIDER,
    CUSTOM_ADAPTER,
    REGISTER_PROVIDER,
    TIER_ROUTES_BLOCK,
    CONFIGURE_TIER_ROUTES,
    FALLBACK_CHAIN,
    EMBEDDINGS,
) = PYTHON
(ENVIRONMENT,) = usage_blocks("bash")
(CONFIG_TOML,) = usage_blocks("toml")

#: The custom adapter's two backend calls, filled in: the "custom
#: backend" is the llama.cpp emulator's OpenAI-compatible API at ``self.base_url``.
PLACEHOLDERS = """
    async def _call_api(self, prompt, model, max_tokens, temperature):
        import httpx

        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {self.api_key}"},
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": max_tokens,
                    "temperature": temperature,
                },
            )
            response.raise_for_status()
            return response.json()["choices"][0]["message"]["content"]

    async def _call_embedding_api(self, text, model):
        import httpx

        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.post("/v1/embeddings", json={"model": model, "input": text})
            response.raise_for_status()
            return response.json()["data"][0]["embedding"]
"""


def run_snippet(code: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(names)
    exec(compile(code, str(USAGE), "exec"), namespace)
    return namespace


def as_coroutine(code: str) -> str:
    """Snippets with a bare ``await`` become the body of ``async def snippet(orch)``."""
    body = "\n".join("    " + line if line.strip() else line for line in code.splitlines())
    return f"async def snippet(orch):\n{body}\n    return locals()\n"


@attrs.frozen
class UsageWorld:
    emulators: dict[str, Emulator]
    urls: dict[str, str]


@pytest.fixture
async def usage_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[UsageWorld]:
    """All five emulators, the documented environment and config.toml, pointed at them.

    Keys are the emulators' dummy key; ``*_BASE_URL`` and ``config.toml``'s ``base_url`` carry
    the emulators' addresses; nothing is read from the real home directory.
    """
    configs = {name: emulator_config() for name in ("gemini", "anthropic", "openai", "ollama")}
    async with open_emulators(configs=configs | {"llamacpp": emulator_config()}) as emus:
        urls = emulator_urls(emus)
        for name in (
            "HAFS_CONFIG",
            "HAFS_MODEL_PROVIDER",
            "HAFS_MODEL_MODEL",
            "HAFS_MODEL_ROTATION",
        ):
            monkeypatch.delenv(name, raising=False)
        for name in ("OLLAMA_HOST", "LLAMACPP_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        for variable in ("GEMINI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
            assert f'export {variable}="..."' in ENVIRONMENT
            monkeypatch.setenv(variable, KEY)
        monkeypatch.setenv("GEMINI_BASE_URL", urls["gemini"])
        monkeypatch.setenv("ANTHROPIC_BASE_URL", urls["anthropic"])
        monkeypatch.setenv("OPENAI_BASE_URL", urls["openai"])
        monkeypatch.setenv("CUSTOM_API_KEY", KEY)
        config_dir = tmp_path / "config" / "hafs"
        config_dir.mkdir(parents=True)
        assert 'base_url = "http://localhost:11434"' in CONFIG_TOML
        (config_dir / "config.toml").write_text(
            CONFIG_TOML.replace("http://localhost:11434", urls["ollama"]), encoding="utf-8"
        )
        yield UsageWorld(emus, urls)


@pytest.fixture
def results(monkeypatch: pytest.MonkeyPatch) -> list[GenerateResult]:
    """Every result ``generate()`` returns, for snippets that only print or drop them."""
    seen: list[GenerateResult] = []
    original = UnifiedOrchestrator.generate

    async def spy(self: UnifiedOrchestrator, *args: Any, **kwargs: Any) -> GenerateResult:
        result = await original(self, *args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(UnifiedOrchestrator, "generate", spy)
    return seen


@pytest.fixture
async def plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usage_world: UsageWorld
) -> AsyncIterator[ModuleType]:
    """``my_plugin`` laid out as docs/usage.md describes, pointed at the llama.cpp emulator."""
    root = tmp_path / "plugins" / "my_plugin"
    (root / "adapters").mkdir(parents=True)
    (root / "providers.py").write_text(DEFINE_PROVIDER)
    (root / "adapters" / "__init__.py").write_text("")
    (root / "adapters" / "custom_adapter.py").write_text(CUSTOM_ADAPTER + PLACEHOLDERS)
    doc_url = "https://api.custom.example.com"
    assert doc_url in REGISTER_PROVIDER
    register = REGISTER_PROVIDER.replace(doc_url, usage_world.urls["llamacpp"])
    # the override snippet names TaskTier and Provider: the plugin's import line brings them
    configure = "from hafs_actors import Provider, TaskTier\n" + CONFIGURE_TIER_ROUTES
    init = register + "\n" + configure
    (root / "__init__.py").write_text(init)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    module = importlib.import_module("my_plugin")
    importlib.import_module("my_plugin.providers")
    yield module
    for name in [m for m in sys.modules if m == "my_plugin" or m.startswith("my_plugin.")]:
        del sys.modules[name]


def test_provider_and_task_tier_are_exactly_the_documented_enums() -> None:
    doc_provider = run_snippet(PROVIDER_ENUM)["Provider"]
    doc_tier = run_snippet(TASK_TIER_ENUM, Enum=enum.Enum)["TaskTier"]  # same file as Provider
    assert [(m.name, m.value) for m in Provider] == [(m.name, m.value) for m in doc_provider]
    assert [(m.name, m.value) for m in TaskTier] == [(m.name, m.value) for m in doc_tier]
    assert issubclass(Provider, str)
    assert issubclass(TaskTier, str)


def test_default_tier_routes_are_the_documented_ones() -> None:
    doc_routes = run_snippet(TIER_ROUTES_BLOCK, TaskTier=TaskTier, Provider=Provider)["TIER_ROUTES"]
    for tier, route in doc_routes.items():
        assert hafs_actors.TIER_ROUTES[tier] == tuple((str(p), m) for p, m in route)
    # the two tiers docs/usage.md leaves open have sensible routes of their own
    assert hafs_actors.TIER_ROUTES[TaskTier.RESEARCH]
    assert hafs_actors.TIER_ROUTES[TaskTier.CREATIVE]


async def test_basic_usage(
    autojump_clock: MockClock,
    usage_world: UsageWorld,
    results: list[GenerateResult],
    capsys: pytest.CaptureFixture[str],
) -> None:
    main: Callable[[], Awaitable[None]] = run_snippet(BASIC_USAGE)["main"]
    await main()  # never closed, as in docs/usage.md: trio.run's end stops it

    coding, explicit = results
    assert served_by(coding) == "gemini/gemini-3-flash-preview"  # TaskTier.CODING's first step
    assert served_by(explicit) == "gemini/gemini-3-pro-preview"
    assert capsys.readouterr().out == explicit.content + "\n"
    assert explicit.tokens_used > 0


async def test_explicit_fallback_chain(
    autojump_clock: MockClock, usage_world: UsageWorld, plugin: ModuleType
) -> None:
    gemini = usage_world.emulators["gemini"]
    async with UnifiedOrchestrator() as orch:
        plugin.register_provider(orch)
        snippet = run_snippet(as_coroutine(FALLBACK_CHAIN), Provider=Provider, TaskTier=TaskTier)
        first = (await snippet["snippet"](orch))["result"]

        gemini.set_faults(FaultPlan([Fault(kind="http_error", status=503)]))
        second = (await snippet["snippet"](orch))["result"]

        usage_world.emulators["ollama"].set_faults(FaultPlan([Fault(kind="http_error")]))
        third = (await snippet["snippet"](orch))["result"]

    assert served_by(first) == "gemini/gemini-3-flash-preview"
    assert not first.fallback_used
    assert served_by(second) == "ollama/qwen2.5-coder:14b"
    assert second.fallback_used
    assert chain_of(second) == [("gemini", "OverloadedError"), ("ollama", "ok")]
    assert served_by(third) == "llamacpp/custom-model"
    tried = chain_of(third)
    assert [provider for provider, _ in tried] == ["gemini", "ollama", "custom"]
    assert tried[0][1] in ("OverloadedError", "CircuitOpenError")  # its breaker may open by now
    assert tried[1:] == [("ollama", "ServerError"), ("custom", "ok")]


def chain_of(result: GenerateResult) -> list[tuple[str, str]]:
    """Each candidate tried, with its last outcome (retries of the same candidate folded)."""
    return [
        (provider, list(group)[-1].outcome)
        for provider, group in itertools.groupby(result.attempts, key=lambda a: a.provider)
    ]


async def test_custom_adapter_registered_after_initialize(
    autojump_clock: MockClock, usage_world: UsageWorld, plugin: ModuleType
) -> None:
    assert plugin.providers.CUSTOM_PROVIDER == "custom"
    orch = UnifiedOrchestrator()
    await orch.initialize()
    try:
        plugin.register_provider(orch)  # after initialize, as docs/usage.md does
        by_name = await orch.generate(prompt="Hello custom", provider="custom")
        explicit = await orch.generate(prompt="Hello", provider="custom", model="custom-model")
        vector = await orch.embed(text="Sample text for embedding", provider="custom")
        status = orch.status()
    finally:
        await orch.aclose()

    # docs/usage.md adapter's own default model (``model: str = "default-model"``) is used by name
    assert served_by(by_name) == "llamacpp/default-model"
    assert by_name.provider == "custom"
    assert by_name.model == "default-model"
    assert served_by(explicit) == "llamacpp/custom-model"
    assert isinstance(vector, list)
    assert vector
    assert all(isinstance(x, float) for x in vector)
    assert "custom" in status.configured
    assert status.providers["custom"].successes == 3


async def test_tier_route_override(
    autojump_clock: MockClock, usage_world: UsageWorld, plugin: ModuleType
) -> None:
    async with UnifiedOrchestrator() as orch:
        plugin.register_provider(orch)
        before = await orch.generate(prompt="Write a function", tier=TaskTier.CODING)
        plugin.configure_tier_routes(orch)
        after = await orch.generate(prompt="Write a function", tier=TaskTier.CODING)
        usage_world.emulators["llamacpp"].set_faults(FaultPlan([Fault(kind="http_error")]))
        degraded = await orch.generate(prompt="Write a function", tier=TaskTier.CODING)

    assert served_by(before) == "gemini/gemini-3-flash-preview"
    assert served_by(after) == "llamacpp/custom-code-model"
    # the overridden route's second step takes over when the custom backend fails
    assert served_by(degraded) == "gemini/gemini-3-flash-preview"
    assert degraded.attempts[0].provider == "custom"


async def test_embeddings(autojump_clock: MockClock, usage_world: UsageWorld) -> None:
    async with UnifiedOrchestrator() as orch:
        snippet = run_snippet(as_coroutine(EMBEDDINGS), Provider=Provider)
        embeddings = (await snippet["snippet"](orch))["embeddings"]
        batch = await orch.embed(texts=["one", "two", "three"], provider=Provider.GEMINI)
        routed = await orch.embeddings(["routed by the embedding route"])

    assert isinstance(embeddings, list)
    assert len(embeddings) == 768  # text-embedding-004
    assert all(isinstance(x, float) for x in embeddings)
    assert [len(v) for v in batch] == [768, 768, 768]
    assert batch[0] != batch[1]
    assert routed.provider == "gemini"  # the first step of the default embedding route
    assert routed.model == "text-embedding-004"
