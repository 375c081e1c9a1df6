"""Every way a configuration can be wrong gets a ConfigError naming source, key, expected, found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hafs_actors.config import load_config
from hafs_actors.errors import ConfigError

SECRET = "sk-test-0123456789abcdef"


def load_text(tmp_path: Path, text: str, **kw: Any) -> ConfigError:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=kw.pop("env", {}), **kw)
    return info.value


def assert_error(err: ConfigError, source: str, key: str, *parts: str) -> None:
    assert err.source == source
    assert err.key == key
    text = str(err)
    assert text.startswith(f"{source}, key {key!r}: ")
    for part in parts:
        assert part in text, (part, text)


def test_invalid_toml_names_file_line_and_column(tmp_path: Path) -> None:
    err = load_text(tmp_path, '[providers]\ndefault = "gemini"\n\n[providers.gemini\nx = 1\n')
    assert err.source == f"file {tmp_path / 'config.toml'}"
    assert "invalid TOML at line 4, column" in str(err)
    err = load_text(tmp_path, "[providers]\ndefault = \n")
    assert "invalid TOML at line 2, column 11: Invalid value" in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[providers]\ndefault = "\xff"\n')
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 23\)"):
        load_config(path, env={})


def test_explicit_files_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, env={})
    assert str(info.value) == f"file {missing}: file not found"
    with pytest.raises(ConfigError) as info:
        load_config(env={"HAFS_CONFIG": str(missing)})
    assert str(info.value) == f"file {missing}: file not found (from $HAFS_CONFIG)"
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path, env={})  # a directory


def test_unknown_keys_get_a_hint(tmp_path: Path) -> None:
    source = f"file {tmp_path / 'config.toml'}"
    err = load_text(tmp_path, "[retyr]\nbase_delay = 1\n")
    assert_error(err, source, "retyr", "unknown key 'retyr' (did you mean 'retry'?)")
    err = load_text(tmp_path, "[zzz]\n")
    assert_error(err, source, "zzz", "valid sections: providers, routes, routing")
    err = load_text(tmp_path, "[providers.gemini]\napi_key_evn = 'X'\n")
    assert_error(
        err,
        source,
        "providers.gemini.api_key_evn",
        "unknown key 'api_key_evn' (did you mean 'api_key_env'?)",
    )
    err = load_text(tmp_path, "[providers.gemini.timeouts]\nraed = 5\n")
    assert_error(
        err,
        source,
        "providers.gemini.timeouts.raed",
        "(did you mean 'read'?)",
    )
    err = load_text(tmp_path, "[providers.gemini.breaker]\nqwerty = 5\n")
    assert "valid keys: enabled, failure_rate_threshold" in str(err)
    err = load_text(tmp_path, '[providers.gemini]\nname = "x"\n')
    assert err.key == "providers.gemini.name"


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        (
            '[providers.gemini.timeouts]\nread = "fast"',
            "providers.gemini.timeouts.read",
            "expected a number, found str 'fast'",
        ),
        (
            "[providers.gemini.timeouts]\nread = -1",
            "providers.gemini.timeouts.read",
            "expected a number > 0, found int -1",
        ),
        (
            "[providers.openai]\nmax_connections = 1.5",
            "providers.openai.max_connections",
            "expected an integer, found float 1.5",
        ),
        (
            "[providers.openai]\nmax_connections = true",
            "providers.openai.max_connections",
            "expected an integer, found bool True",
        ),
        (
            "[providers.openai]\nmailbox_size = 0",
            "providers.openai.mailbox_size",
            "expected an integer >= 1, found int 0",
        ),
        (
            '[providers.openai]\nhttp2 = "yes"',
            "providers.openai.http2",
            "expected true or false, found str 'yes'",
        ),
        (
            '[providers.openai]\ntransport = "h11"',
            "providers.openai.transport",
            "expected one of 'hafs', 'httpx', found str 'h11'",
        ),
        (
            '[providers.openai]\nkind = "openai_compat"',
            "providers.openai.kind",
            "(did you mean 'openai_compatible'?)",
        ),
        (
            '[providers.ollama]\nbase_url = "localhost:11434"',
            "providers.ollama.base_url",
            "expected an absolute URL (http|https://host...), found str 'localhost:11434'",
        ),
        (
            "[providers.openai]\nverify = 3",
            "providers.openai.verify",
            "expected true, false or a CA bundle path, found int 3",
        ),
        (
            "[providers.openai]\ntimeouts = 5",
            "providers.openai.timeouts",
            "expected a table, found int 5",
        ),
        (
            "[providers.openai.limits]\nrpm = 0",
            "providers.openai.limits.rpm",
            "expected an integer >= 1, found int 0",
        ),
        (
            "[providers.openai.breaker]\nfailure_rate_threshold = 50",
            "providers.openai.breaker.failure_rate_threshold",
            "expected a number in (0, 1], found int 50",
        ),
        (
            "[providers.openai.breaker]\nopen_duration = 60\nmax_open_duration = 30",
            "providers.openai.breaker.max_open_duration",
            "expected a number >= open_duration (60), found int 30",
        ),
        (
            '[providers.ollama.models."qwen2.5-coder:14b"]\ncontext_window = 0',
            'providers.ollama.models."qwen2.5-coder:14b".context_window',
            "expected an integer >= 1, found int 0",
        ),
        (
            '[providers.openai.models."gpt-4o"]\ncontext = 5',
            "providers.openai.models.gpt-4o.context",
            "(did you mean 'context_window'?)",
        ),
        (
            '[providers.openai.limits.models."gpt-4o"]\nrpm = "many"',
            "providers.openai.limits.models.gpt-4o.rpm",
            "expected an integer, found str 'many'",
        ),
        ('[providers]\ngemini = "yes"', "providers.gemini", "expected a [providers.gemini] table"),
        ("[providers]\ndefault = 3", "providers.default", "expected a provider name, found int 3"),
        ("providers = 3", "providers", "expected a table, found int 3"),
        (
            '[routes]\ncoding = ["gemini:x", ":model"]',
            "routes.coding[1]",
            "expected 'provider:model', 'provider/model' or 'provider', found ':model'",
        ),
        (
            '[routes]\ncoding = ["gemini:"]',
            "routes.coding[0]",
            "found 'gemini:' (empty model)",
        ),
        (
            "[routes]\ncoding = [5]",
            "routes.coding[0]",
            "expected 'provider:model' or a [provider, model] pair, found int 5",
        ),
        ("[routes]\ncoding = 5", "routes.coding", "expected a list of 'provider:model' strings"),
        (
            '[routing]\ndefault_tier = "fsat"',
            "routing.default_tier",
            "found str 'fsat' (did you mean 'fast'?)",
        ),
        (
            '[routing]\nmodel = "gpt-4o"',
            "routing.model",
            "expected routing.provider (HAFS_MODEL_PROVIDER) or providers.default",
        ),
        (
            "[retry]\nbase_delay = 2\nmax_delay = 1",
            "retry.max_delay",
            "expected a number >= base_delay (2), found int 1",
        ),
        (
            "[retry]\nbudget_ratio = 1.5",
            "retry.budget_ratio",
            "expected a number in [0, 1], found float 1.5",
        ),
        (
            "[cost]\nmax_cost_per_request = 0",
            "cost.max_cost_per_request",
            "expected a number > 0, found int 0",
        ),
        (
            "[supervision]\nbackoff_min = 5\nbackoff_max = 1",
            "supervision.backoff_max",
            "expected a number >= backoff_min (5)",
        ),
        (
            "[timeouts]\nrequest_deadline = 0",
            "timeouts.request_deadline",
            "expected a number > 0, found int 0",
        ),
    ],
)
def test_bad_values(tmp_path: Path, toml: str, key: str, message: str) -> None:
    err = load_text(tmp_path, toml + "\n")
    assert_error(err, f"file {tmp_path / 'config.toml'}", key, message)


def test_all_problems_are_listed(tmp_path: Path) -> None:
    err = load_text(
        tmp_path,
        "[providers.gemini]\nmax_connections = 'x'\ntiemouts = {}\n[retry]\nbase_delay = 'y'\n",
    )
    text = str(err)
    assert err.key == "providers.gemini.max_connections"
    assert "also:" in text
    assert "key 'providers.gemini.tiemouts': unknown key" in text
    assert "key 'retry.base_delay': expected a number, found str 'y'" in text


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    err = load_text(tmp_path, "[providers.openai]\napi_key = 12345678901\n")
    assert err.key == "providers.openai.api_key"
    assert "expected a string, found a int (value hidden)" in str(err)
    assert "12345678901" not in str(err)
    err = load_text(tmp_path, f'[providers.openai]\nproxy = "ftp://u:{SECRET}@h"\n')
    assert err.key == "providers.openai.proxy"
    assert SECRET not in str(err)
    assert "(value hidden)" in str(err)
    err = load_text(
        tmp_path, f'[providers.openai]\nheaders = {{ "Authorization" = ["{SECRET}"] }}\n'
    )
    assert SECRET not in str(err)


def test_environment_errors_name_the_variable(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "HAFS_MODEL_ROTATION": "gemini:gemini-3-flash-preview,:bad"}
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert_error(
        info.value,
        "env HAFS_MODEL_ROTATION",
        "routing.rotation[1]",
        "found ':bad' (no provider)",
    )
    with pytest.raises(ConfigError) as info:
        load_config(env={"HOME": str(tmp_path), "OPENAI_BASE_URL": "api.openai.com/v1"})
    assert_error(
        info.value,
        "env OPENAI_BASE_URL",
        "providers.openai.base_url",
        "expected an absolute URL",
    )
    with pytest.raises(ConfigError) as info:
        load_config(env={"HOME": str(tmp_path), "HAFS_MODEL_MODEL": "gpt-4o"})
    assert_error(info.value, "env HAFS_MODEL_MODEL", "routing.model")


def test_argument_errors_say_argument(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            env={"HOME": str(tmp_path)},
            overrides={"providers": {"openai": {"max_in_flight": -3}}},
        )
    assert_error(
        info.value,
        "argument",
        "providers.openai.max_in_flight",
        "expected an integer >= 1, found int -3",
    )


def test_table_conflict_between_layers(tmp_path: Path) -> None:
    err = load_text(
        tmp_path, '[routing]\nrotation = "gemini"\n', overrides={"routing": {"rotation": {"x": 1}}}
    )
    assert err.key == "routing.rotation"
    assert err.source == "argument"
