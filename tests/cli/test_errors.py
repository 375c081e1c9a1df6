"""Every failure of the CLI: one line (attempts under -v), a JSON error object with --json,
the documented exit code, never a traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hafs_actors.cli import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

HAFS = [sys.executable, "-m", "hafs_actors"]


def _exit_code(argv: list[str]) -> int:
    """``main``'s code: returned, or raised as ``SystemExit`` for argument errors."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _json_error(out: str) -> dict[str, object]:
    doc = json.loads(out)
    error = doc["error"]
    assert set(error) >= {"type", "message", "attempts", "exit_code"}
    return error  # type: ignore[no-any-return]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("hafs 0.")


def test_unknown_flag_shows_the_subcommand_usage_and_the_closest_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _exit_code(["generate", "hi", "--temprature", "0.2"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: hafs generate ")
    assert "unrecognized arguments: --temprature 0.2; did you mean '--temperature'?" in err
    assert "Traceback" not in err


def test_unknown_command_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["genrate", "hi", "--json"]) == EXIT_USAGE
    captured = capsys.readouterr()
    error = _json_error(captured.out)
    assert error["type"] == "UsageError"
    assert "did you mean 'generate'?" in str(error["message"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tier", "fsat"], "--tier: unknown 'fsat'; did you mean 'fast'? (choose from "),
        (["--provider", "opnai"], "--provider: unknown 'opnai'; did you mean 'openai'?"),
        (["--fallback", "olama:x"], "--fallback: unknown 'olama'; did you mean 'ollama'?"),
        (["--timeout", "nan"], "--timeout must be a positive number, got nan"),
        (["--timeout", "-1"], "--timeout must be a positive number"),
        (["--temperature", "inf"], "--temperature must be a number >= 0"),
    ],
)
def test_generate_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "hi", "--emulate", "--json", *argv]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err
    assert message in str(_json_error(captured.out)["message"])
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("command", ["generate", "stream", "embed"])
def test_request_commands_without_a_provider_are_config_errors(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "hi", "--json"]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert "no provider is configured" in captured.err
    assert captured.err.count("\n") == 1
    assert _json_error(captured.out)["exit_code"] == EXIT_CONFIG


def test_status_rejects_a_negative_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--emulate", "--timeout", "-1"]) == EXIT_USAGE
    assert "--timeout must be a positive number, got -1.0" in capsys.readouterr().err


def test_status_of_the_emulators_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--emulate"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "ok" in out
    assert "…" not in out


def test_status_escapes_markup_in_unconfigured_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[providers.ollama]\nbase_url = "http://127.0.0.1:9"\n')
    main(["status", "--config", str(config), "--timeout", "0.5"])
    out = " ".join(capsys.readouterr().out.split())
    assert "[providers.llamacpp]" in out  # "add a [providers.llamacpp] table", not "add a  table"


def test_prompt_that_is_not_utf8(capsys: pytest.CaptureFixture[str]) -> None:
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")  # what Python makes of such argv
    assert main(["generate", bad, "--emulate"]) == EXIT_USAGE
    assert "the prompt is not valid UTF-8 (byte 0xe9 at offset 3)" in capsys.readouterr().err


def test_stdin_that_is_not_utf8() -> None:
    proc = subprocess.run(
        [*HAFS, "generate", "--emulate", "--json"],
        input=b"\xff\xfe",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == EXIT_USAGE
    assert b"standard input is not valid UTF-8 (byte 0xff at offset 0)" in proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "UsageError"


class _Piped(io.TextIOWrapper):
    def isatty(self) -> bool:
        return False


def test_piped_stdin_comes_before_the_prompt_as_in_llm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def input_tokens(stdin: bytes) -> int:
        monkeypatch.setattr(sys, "stdin", _Piped(io.BytesIO(stdin), encoding="utf-8"))
        assert main(["generate", "summarize", "--emulate", "--json"]) == EXIT_OK
        return int(json.loads(capsys.readouterr().out)["usage"]["input_tokens"])

    alone = input_tokens(b"")
    with_context = input_tokens(b"word " * 200)
    assert with_context > alone + 100


def test_a_down_provider_is_one_line_and_its_attempts_under_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[providers.ollama]\nbase_url = "http://127.0.0.1:9"\n'
        "[retry]\nbase_delay = 0.001\nmax_delay = 0.001\n"
    )
    argv = ["generate", "hi", "--config", str(config), "--provider", "ollama", "--no-fallback"]
    assert main(argv) == EXIT_FAILED
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "hafs: AllProvidersFailed: all 1 candidate(s) failed"
    assert len(err) == 2
    assert err[1].startswith("  - ollama/")
    assert err[1].endswith("(3 attempts)")
    assert err[1].count("ollama/") == 1  # the error text does not repeat the candidate

    assert main([*argv, "-v", "--json"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 4  # the failure, then each attempt
    error = _json_error(captured.out)
    assert error["type"] == "AllProvidersFailed"
    assert error["message"] == "all 1 candidate(s) failed"
    attempts = error["attempts"]
    assert isinstance(attempts, list)
    assert [a["retry"] for a in attempts] == [0, 1, 2]
    assert {a["provider"] for a in attempts} == {"ollama"}


def test_no_traceback_for_an_unexpected_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--config", "/nonexistent/dir/c.toml", "--json"]) in (
        EXIT_OK,
        EXIT_CONFIG,
    )
    assert "Traceback" not in capsys.readouterr().err
