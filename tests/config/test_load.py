"""load_config: the seed's file, file location, environment, arguments, precedence and sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from hafs_actors.adapters.base import AdapterSettings
from hafs_actors.config import (
    HafsConfig,
    Limits,
    ProviderConfig,
    ProviderLimits,
    load_config,
    resolve_config_path,
)
from hafs_actors.errors import ConfigError
from hafs_actors.routing import ProviderState, RouteRequest, plan_route
from hafs_actors.routing.tiers import DEFAULT_TIER_ROUTES, Provider, TaskTier

# The seed's config.toml (docs/usage.md), verbatim.
SEED_TOML = """\
[providers]
default = "gemini"

[providers.gemini]
api_key_env = "GEMINI_API_KEY"
default_model = "gemini-3-flash-preview"

[providers.anthropic]
api_key_env = "ANTHROPIC_API_KEY"
default_model = "claude-sonnet-4-20250514"

[providers.ollama]
base_url = "http://localhost:11434"
default_model = "qwen2.5-coder:14b"
"""

SECRET = "sk-test-0123456789abcdef"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_config_verbatim(tmp_path: Path) -> None:
    path = write(tmp_path, SEED_TOML)
    config = load_config(path, env={"GEMINI_API_KEY": SECRET})
    assert config.source_file == path
    assert config.default_provider == "gemini"
    gemini = config.providers["gemini"]
    assert gemini.api_key == SECRET
    assert gemini.default_model == "gemini-3-flash-preview"
    assert config.providers["anthropic"].default_model == "claude-sonnet-4-20250514"
    ollama = config.providers["ollama"]
    assert ollama.base_url == "http://localhost:11434"
    assert ollama.default_model == "qwen2.5-coder:14b"
    assert ollama.enabled is True  # declared in the file
    assert config.configured_providers() == ("gemini", "ollama")
    assert config.providers["anthropic"].unconfigured_reason == "no API key: set ANTHROPIC_API_KEY"
    label = f"file {path}"
    assert config.sources["providers.default"] == label
    assert config.sources["providers.gemini.default_model"] == label
    assert config.sources["providers.gemini.api_key"] == "env GEMINI_API_KEY"
    assert config.sources["providers.ollama.enabled"] == f"auto (declared by {label})"
    assert "providers.openai.base_url" not in config.sources  # a default


def test_seed_config_routes_coding_requests(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SEED_TOML), env={"GEMINI_API_KEY": SECRET})
    plan = plan_route(RouteRequest(tier=TaskTier.CODING), config.routing_snapshot())
    assert [(c.provider, c.model) for c in plan.candidates] == [
        ("gemini", "gemini-3-flash-preview"),
        ("ollama", "qwen2.5-coder:14b"),
    ]
    plan = plan_route(RouteRequest(tier=TaskTier.REASONING), config.routing_snapshot())
    assert [s.reason for s in plan.skipped] == ["not configured"]


def test_missing_implicit_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(env={"HOME": str(tmp_path)})
    assert config.source_file is None
    assert config == HafsConfig()
    assert config.configured_providers() == ()
    assert dict(config.routes) == dict(DEFAULT_TIER_ROUTES)


def test_file_location_precedence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    explicit = tmp_path / "explicit.toml"
    assert resolve_config_path(env={"HOME": str(home)}) == (
        home / ".config" / "hafs" / "config.toml",
        None,
    )
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}
    assert resolve_config_path(env=env) == (xdg / "hafs" / "config.toml", None)
    # A relative XDG_CONFIG_HOME is invalid per the XDG spec and ignored.
    relative = {"HOME": str(home), "XDG_CONFIG_HOME": "rel/dir"}
    assert resolve_config_path(env=relative)[0] == home / ".config" / "hafs" / "config.toml"
    env["HAFS_CONFIG"] = str(explicit)
    assert resolve_config_path(env=env) == (explicit, "HAFS_CONFIG")
    assert resolve_config_path(tmp_path / "arg.toml", env=env) == (
        tmp_path / "arg.toml",
        "argument",
    )


def test_xdg_and_hafs_config_files_are_read(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "hafs").mkdir(parents=True)
    write(xdg / "hafs", '[providers]\ndefault = "openai"\n')
    config = load_config(env={"XDG_CONFIG_HOME": str(xdg), "HOME": str(tmp_path)})
    assert config.default_provider == "openai"
    other = write(tmp_path, '[providers]\ndefault = "anthropic"\n', "other.toml")
    env = {"XDG_CONFIG_HOME": str(xdg), "HAFS_CONFIG": str(other)}
    assert load_config(env=env).default_provider == "anthropic"
    assert load_config(env=env).source_file == other


def test_environment_keys_and_custom_key_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.openai]\napi_key_env = "WORK_OPENAI_KEY"\n')
    env = {"OPENAI_API_KEY": "ignored", "WORK_OPENAI_KEY": SECRET, "ANTHROPIC_API_KEY": "  "}
    config = load_config(path, env=env)
    assert config.providers["openai"].api_key == SECRET
    assert config.sources["providers.openai.api_key"] == "env WORK_OPENAI_KEY"
    # An exported but empty (blank) variable counts as unset.
    assert config.providers["anthropic"].api_key is None


def test_api_key_env_from_arguments_decides_which_variable_is_read(tmp_path: Path) -> None:
    config = load_config(
        env={"HOME": str(tmp_path), "GEMINI_API_KEY": "a", "OTHER": "b"},
        overrides={"providers": {"gemini": {"api_key_env": "OTHER"}}},
    )
    assert config.providers["gemini"].api_key == "b"
    assert config.sources["providers.gemini.api_key"] == "env OTHER"


def test_precedence_is_per_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[providers.openai]
base_url = "http://file.example/v1"
default_model = "from-file"
embed_model = "embed-from-file"
api_key = "file-key"
""",
    )
    env = {"OPENAI_BASE_URL": "http://env.example/v1/", "OPENAI_API_KEY": "env-key"}
    overrides = {"providers": {"openai": {"default_model": "from-argument"}}}
    config = load_config(path, env=env, overrides=overrides)
    openai = config.providers["openai"]
    assert openai.default_model == "from-argument"
    assert openai.base_url == "http://env.example/v1"  # trailing slash dropped
    assert openai.embed_model == "embed-from-file"
    assert openai.api_key == "env-key"
    assert openai.max_connections == 256
    assert config.sources["providers.openai.default_model"] == "argument"
    assert config.sources["providers.openai.base_url"] == "env OPENAI_BASE_URL"
    assert config.sources["providers.openai.embed_model"] == f"file {path}"
    assert config.sources["providers.openai.api_key"] == "env OPENAI_API_KEY"
    assert "providers.openai.max_connections" not in config.sources
    # Arguments beat the environment too.
    config = load_config(
        path, env=env, overrides={"providers": {"openai": {"base_url": "http://arg/v1"}}}
    )
    assert config.providers["openai"].base_url == "http://arg/v1"
    assert config.sources["providers.openai.base_url"] == "argument"


@pytest.mark.parametrize(
    ("variable", "provider", "value", "expected"),
    [
        ("OPENAI_BASE_URL", "openai", "http://127.0.0.1:9000/v1", "http://127.0.0.1:9000/v1"),
        ("ANTHROPIC_BASE_URL", "anthropic", "http://127.0.0.1:9001", "http://127.0.0.1:9001"),
        ("GEMINI_BASE_URL", "gemini", "http://127.0.0.1:9002/v1beta", None),
        ("LLAMACPP_BASE_URL", "llamacpp", "http://127.0.0.1:9003", None),
        ("OLLAMA_HOST", "ollama", "localhost:11434", "http://localhost:11434"),
        ("OLLAMA_HOST", "ollama", "0.0.0.0", "http://0.0.0.0:11434"),
        ("OLLAMA_HOST", "ollama", "https://ollama.example.com", None),
    ],
)
def test_base_url_variables(
    tmp_path: Path, variable: str, provider: str, value: str, expected: str | None
) -> None:
    config = load_config(env={"HOME": str(tmp_path), variable: value})
    assert config.providers[provider].base_url == (expected or value)
    assert config.sources[f"providers.{provider}.base_url"] == f"env {variable}"
    # An explicit endpoint makes even a keyless cloud provider usable (gateway, emulator).
    assert config.providers[provider].configured


def test_model_override_variables(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "HAFS_MODEL_PROVIDER": "anthropic"}
    assert load_config(env=env).override == ("anthropic", None)
    env["HAFS_MODEL_MODEL"] = "claude-opus-4-5-20251101"
    config = load_config(env=env)
    assert config.override == ("anthropic", "claude-opus-4-5-20251101")
    assert config.sources["routing.provider"] == "env HAFS_MODEL_PROVIDER"
    assert config.routing_snapshot().override == ("anthropic", "claude-opus-4-5-20251101")
    # HAFS_MODEL_MODEL alone applies to providers.default.
    path = write(tmp_path, '[providers]\ndefault = "gemini"\n')
    config = load_config(path, env={"HAFS_MODEL_MODEL": "gemini-3-pro-preview"})
    assert config.override == ("gemini", "gemini-3-pro-preview")


def test_rotation_variable_splits_on_the_first_colon(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "HAFS_MODEL_ROTATION": "gemini:gemini-3-flash-preview, ollama:qwen2.5-coder:14b,"
        "anthropic:claude-sonnet-4,llamacpp",
    }
    config = load_config(env=env)
    assert config.routing.rotation == (
        ("gemini", "gemini-3-flash-preview"),
        ("ollama", "qwen2.5-coder:14b"),
        ("anthropic", "claude-sonnet-4"),
        ("llamacpp", None),
    )
    assert config.sources["routing.rotation"] == "env HAFS_MODEL_ROTATION"


def test_rotation_and_routes_in_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[routes]
coding = ["ollama:qwen2.5-coder:14b", ["gemini", "gemini-3-flash-preview"], "llamacpp"]
summarize = ["openai:gpt-4o-mini"]

[routing]
rotation = ["ollama:llama3.1:8b"]
default_tier = "summarize"
embed_route = "ollama:nomic-embed-text,openai"
""",
    )
    config = load_config(path, env={})
    assert config.routes["coding"] == (
        ("ollama", "qwen2.5-coder:14b"),
        ("gemini", "gemini-3-flash-preview"),
        ("llamacpp", None),
    )
    assert config.routes["summarize"] == (("openai", "gpt-4o-mini"),)
    assert config.routes["fast"] == DEFAULT_TIER_ROUTES["fast"]  # other tiers keep defaults
    assert config.routing.rotation == (("ollama", "llama3.1:8b"),)
    assert config.routing.default_tier == "summarize"
    assert config.routing.embed_route == (("ollama", "nomic-embed-text"), ("openai", None))
    snapshot = config.routing_snapshot()
    assert snapshot.default_tier == "summarize"
    assert snapshot.tier_routes["coding"][2] == ("llamacpp", None)


def test_configured_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[providers.llamacpp]

[providers.openai]
enabled = false
api_key = "k"

[providers.gateway]
kind = "openai_compatible"
base_url = "https://gateway.example/v1"

[providers.nourl]
kind = "openai_compatible"

[providers.mine]
default_model = "custom-model"
""",
    )
    config = load_config(path, env={"GATEWAY_API_KEY": SECRET})
    p = config.providers
    assert p["llamacpp"].configured  # an empty table declares it
    assert p["llamacpp"].base_url == "http://localhost:8080"
    assert p["ollama"].unconfigured_reason == (
        "not enabled: add a [providers.ollama] table, set OLLAMA_HOST or set enabled = true"
    )
    assert p["openai"].unconfigured_reason == "disabled (enabled = false)"
    assert p["gateway"].configured
    assert p["gateway"].api_key == SECRET  # api_key_env defaults to NAME_API_KEY
    assert p["gateway"].api_key_env == "GATEWAY_API_KEY"
    assert p["nourl"].unconfigured_reason == "no base_url"
    assert p["mine"].kind == "custom"
    assert not p["mine"].configured
    assert "register_adapter" in (p["mine"].unconfigured_reason or "")
    assert p["gemini"].unconfigured_reason == "no API key: set GEMINI_API_KEY"


def test_enabled_false_wins_over_a_declaration(tmp_path: Path) -> None:
    config = load_config(
        env={"HOME": str(tmp_path), "OLLAMA_HOST": "127.0.0.1:1"},
        overrides={"providers": {"ollama": {"enabled": False}}},
    )
    assert not config.providers["ollama"].configured


def test_keys_never_in_repr_or_str(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[providers.openai]
api_key = "{SECRET}"
headers = {{ "X-Secret" = "{SECRET}" }}
proxy = "http://user:{SECRET}@proxy.example:3128"
""",
    )
    config = load_config(path, env={"GEMINI_API_KEY": SECRET})
    for text in (repr(config), str(config), repr(config.providers["openai"])):
        assert SECRET not in text
    tree = config.redacted()
    assert SECRET not in repr(tree)
    assert tree["providers"]["openai"]["api_key"] == f"set (from file {path})"
    assert tree["providers"]["gemini"]["api_key"] == "set (from env GEMINI_API_KEY)"
    assert tree["providers"]["anthropic"]["api_key"] is None
    assert tree["providers"]["openai"]["headers"] == {"X-Secret": "***"}
    assert tree["providers"]["openai"]["proxy"] == "http://***@proxy.example:3128"
    assert tree["routes"]["coding"] == ["gemini:gemini-3-flash-preview", "ollama:qwen2.5-coder:14b"]
    assert tree["providers"]["default"] is None
    assert any("api_key is stored in the config file" in w for w in config.warnings())


def test_model_capability_and_limit_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[providers.ollama.models."qwen2.5-coder:14b"]
context_window = 16384
input_price = 0.5

[providers.openai.models."gpt-4o*"]
input_price = 2.5
output_price = 10.0

[providers.openai.limits]
rpm = 500
tpm = 30000

[providers.openai.limits.models."gpt-4o"]
rpm = 100
""",
    )
    config = load_config(path, env={})
    caps = config.providers["ollama"].capabilities.lookup("qwen2.5-coder:14b")
    assert caps.context_window == 16384
    assert caps.input_price == 0.5
    assert config.providers["openai"].capabilities.lookup("gpt-4o-mini").output_price == 10.0
    limits = config.providers["openai"].limits
    assert limits.for_model("gpt-4o") == Limits(rpm=100, tpm=30000)
    assert limits.for_model("gpt-5") == Limits(rpm=500, tpm=30000)
    key = 'providers.ollama.models."qwen2.5-coder:14b".context_window'
    assert config.sources[key] == f"file {path}"
    state = config.provider_state("ollama")
    assert state.capabilities.lookup("qwen2.5-coder:14b").context_window == 16384


def test_global_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[timeouts]
request_deadline = 30
stream_ttft_timeout = 2.5

[retry]
max_retries_per_candidate = 0
budget_ratio = 0.1

[cost]
max_cost_per_request = 0.05

[supervision]
intensity = 5
health_probe_interval = 10
""",
    )
    config = load_config(path, env={})
    assert config.timeouts.request_deadline == 30.0
    assert config.timeouts.attempt_timeout == 60.0
    assert config.retry.max_retries_per_candidate == 0
    assert config.retry.max_delay == 8.0
    assert config.cost.max_cost_per_request == 0.05
    assert config.supervision.intensity == 5
    assert config.adapter_settings("openai").stream_ttft_timeout == 2.5


def test_adapter_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[providers.openai]
transport = "httpx"
http2 = true
verify = "/etc/ssl/ca.pem"
max_connections = 32
embed_batch_size = 64
headers = { "OpenAI-Organization" = "org-1" }

[providers.openai.timeouts]
connect = 1.5
read = 20
""",
    )
    config = load_config(path, env={"OPENAI_API_KEY": SECRET})
    settings = config.adapter_settings(Provider.OPENAI)
    assert settings == AdapterSettings(
        base_url="https://api.openai.com/v1",
        api_key=SECRET,
        default_model="gpt-5.2-mini",
        connect_timeout=1.5,
        read_timeout=20.0,
        write_timeout=30.0,
        pool_timeout=30.0,
        stream_ttft_timeout=30.0,
        max_connections=32,
        max_keepalive_connections=32,
        transport="httpx",
        http2=True,
        proxy=None,
        verify="/etc/ssl/ca.pem",
        extra_headers={"OpenAI-Organization": "org-1"},
        embed_batch_size=64,
    )
    assert SECRET not in repr(settings)
    with pytest.raises(ConfigError, match=r"no provider 'opnai' is configured \(did you mean"):
        config.adapter_settings("opnai")


def test_for_emulators() -> None:
    config = HafsConfig.for_emulators(
        {Provider.OPENAI: "http://127.0.0.1:5001/v1", "relay": "http://127.0.0.1:5002/v1"},
        api_key="test-key",
    )
    assert config.configured_providers() == ("openai", "relay")
    assert config.providers["relay"].kind == "openai_compatible"
    assert config.providers["gemini"].unconfigured_reason == "disabled (enabled = false)"
    assert config.adapter_settings("openai").api_key == "test-key"
    assert config.adapter_settings("relay").base_url == "http://127.0.0.1:5002/v1"
    plan = plan_route(RouteRequest(tier="fast"), config.routing_snapshot())
    assert [(c.provider, c.model) for c in plan.candidates] == [("openai", "gpt-5.2-mini")]


def test_routing_snapshot_registered_and_down() -> None:
    config = HafsConfig.for_emulators({"gemini": "http://127.0.0.1:1", "ollama": "http://x:2"})
    custom = ProviderState(configured=True, default_model="custom-model")
    snapshot = config.routing_snapshot(down={"gemini"}, registered={"custom": custom})
    assert snapshot.providers["gemini"].down
    assert snapshot.providers["custom"] == custom
    assert not snapshot.providers["anthropic"].supports_embeddings
    assert snapshot.providers["ollama"].supports_embeddings
    chain = (("gemini", None), ("custom", None), ("ollama", None))
    plan = plan_route(RouteRequest(fallback_providers=chain), snapshot)
    assert [(c.provider, c.model) for c in plan.candidates] == [
        ("custom", "custom-model"),
        ("ollama", "qwen2.5-coder:14b"),
    ]
    assert plan.skipped[0].reason == "marked down"


def test_programmatic_construction() -> None:
    config = HafsConfig(
        providers=[ProviderConfig(name="openai", api_key="k")],
        default_provider=Provider.OPENAI,
        routes={TaskTier.FAST: ["openai:gpt-4o"]},
    )
    assert set(config.providers) == {"openai", "gemini", "anthropic", "ollama", "llamacpp"}
    assert config.default_provider == "openai"
    assert config.routes == {"fast": (("openai", "gpt-4o"),)}
    assert ProviderConfig(name="x", limits=ProviderLimits(rpm=5)).limits.for_model("m").rpm == 5
    with pytest.raises(ConfigError, match="name"):
        ProviderConfig(name="bad name")
    with pytest.raises(ConfigError, match="default"):
        ProviderConfig(name="default")
