"""``hafs config show|check`` through ``hafs_actors.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hafs_actors.cli import EXIT_CONFIG, EXIT_OK, main
from hafs_actors.config import ENV_VARS

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The user's real environment and config file must not leak into these tests."""
    for name in (*ENV_VARS, "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


SEED = """\
[providers]
default = "gemini"

[providers.gemini]
api_key_env = "GEMINI_API_KEY"
default_model = "gemini-3-flash-preview"

[providers.ollama]
base_url = "http://localhost:11434"
default_model = "qwen2.5-coder:14b"
"""


def test_show_lists_values_and_sources_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SEED)
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    monkeypatch.setenv("HAFS_MODEL_ROTATION", "ollama:qwen2.5-coder:14b")
    assert main(["config", "show", "--config", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert SECRET not in out
    lines = {line.split(" = ")[0]: line for line in out.splitlines() if " = " in line}
    assert lines["providers.default"].endswith(f"# file {path}")
    assert '"gemini"' in lines["providers.default"]
    assert '"set (from env GEMINI_API_KEY)"' in lines["providers.gemini.api_key"]
    assert lines["providers.gemini.api_key"].endswith("# env GEMINI_API_KEY")
    assert lines["providers.openai.timeouts.read"].endswith("# default")
    assert '["ollama:qwen2.5-coder:14b"]' in lines["routing.rotation"]
    assert lines["routing.rotation"].endswith("# env HAFS_MODEL_ROTATION")
    assert f"# config file: {path}" in out
    assert "gemini     configured" in out
    assert "anthropic  not configured: no API key: set ANTHROPIC_API_KEY" in out


def test_show_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SEED)
    monkeypatch.setenv("HAFS_CONFIG", str(path))  # found through the environment
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    assert main(["config", "show", "--json"]) == EXIT_OK
    out = capsys.readouterr().out
    assert SECRET not in out
    data = json.loads(out)
    assert data["file"] == str(path)
    assert data["file_found"] is True
    assert data["config"]["providers"]["gemini"]["api_key"] == "set (from env GEMINI_API_KEY)"
    assert data["config"]["providers"]["ollama"]["default_model"] == "qwen2.5-coder:14b"
    assert data["sources"]["providers.gemini.api_key"] == "env GEMINI_API_KEY"
    assert data["sources"]["providers.gemini.default_model"] == f"file {path}"
    assert data["sources"]["retry.max_retries_per_candidate"] == "default"
    assert data["providers"]["gemini"] == {"kind": "gemini", "configured": True, "reason": None}
    assert data["providers"]["openai"]["configured"] is False
    assert data["warnings"] == []


def test_show_without_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show"]) == EXIT_OK
    out = capsys.readouterr().out
    expected = tmp_path / "home" / ".config" / "hafs" / "config.toml"
    assert f"# config file: {expected} (not found: defaults)" in out
    assert "warning: no provider is configured" in out


def test_check_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SEED)
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    assert main(["config", "check", "--config", str(path)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.startswith(f"config OK ({path}); configured providers: gemini, ollama")
    assert "  openai: not configured (no API key: set OPENAI_API_KEY)" in captured.out
    assert captured.err == ""
    assert main(["config", "check", "--config", str(path), "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["configured"] == ["gemini", "ollama"]
    assert data["not_configured"]["llamacpp"].startswith("not enabled")


def test_check_bad_config_exits_3_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[providers.gemini.timeouts]\nread = -5\n")
    message = (
        f"file {path}, key 'providers.gemini.timeouts.read': expected a number > 0, found int -5"
    )
    for extra in ([], ["--json"]):
        assert main(["config", "check", "--config", str(path), *extra]) == EXIT_CONFIG
        captured = capsys.readouterr()
        assert captured.err == f"hafs: config error: {message}\n"
        if extra:  # --json: the error object on stdout too
            error = json.loads(captured.out)["error"]
            assert (error["type"], error["message"], error["exit_code"]) == (
                "ConfigError",
                message,
                EXIT_CONFIG,
            )
        else:
            assert captured.out == ""
    assert main(["config", "show", "--config", str(path)]) == EXIT_CONFIG
    assert "providers.gemini.timeouts.read" in capsys.readouterr().err


def test_check_invalid_toml_and_bad_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[providers\n")
    assert main(["config", "check", "--config", str(path)]) == EXIT_CONFIG
    assert f"file {path}: invalid TOML at line 1" in capsys.readouterr().err
    monkeypatch.setenv("HAFS_MODEL_ROTATION", "gemini,:x")
    assert main(["config", "check"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "env HAFS_MODEL_ROTATION, key 'routing.rotation[1]'" in err


def test_check_strict_fails_on_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[routes]\ncoding = ["gemnii:x"]\n')
    assert main(["config", "check", "--config", str(path)]) == EXIT_OK
    err = capsys.readouterr().err
    assert "hafs: warning: routes.coding[0]: provider 'gemnii' is not defined" in err
    assert "(did you mean 'gemini'?)" in err
    assert main(["config", "check", "--strict", "--config", str(path)]) == EXIT_CONFIG


def test_config_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["config"])
    assert info.value.code == 2
    assert "ACTION" in capsys.readouterr().err
