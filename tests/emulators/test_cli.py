"""``hafs emulate`` as a separate process: output, options, signals, fault reloads."""

from __future__ import annotations

import json
import select
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from hafs_actors.cli import main
from hafs_actors.testing.emulators import EmulatorConfig
from hafs_actors.testing.emulators.content import generate_reply

from ._helpers import hafs_emulate


def _stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=15)
    return process.returncode, err


def _read_stderr_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], timeout)
    return process.stderr.readline() if ready else ""


def test_json_output_lists_all_five_and_sigterm_exits_cleanly() -> None:
    with hafs_emulate("--json") as (process, line):
        doc = json.loads(line)
        providers = ["openai", "anthropic", "gemini", "ollama", "llamacpp"]
        assert [k for k in doc if k != "env"] == providers
        ports = [doc[p]["port"] for p in providers]
        assert ports == list(range(ports[0], ports[0] + 5))  # a free consecutive range
        env = doc["env"]
        assert env["OPENAI_BASE_URL"] == doc["openai"]["base_url"] + "/v1"
        assert env["ANTHROPIC_BASE_URL"] == doc["anthropic"]["base_url"]
        assert env["GEMINI_BASE_URL"] == doc["gemini"]["base_url"]
        assert env["OLLAMA_HOST"] == doc["ollama"]["base_url"]
        assert env["LLAMACPP_BASE_URL"] == doc["llamacpp"]["base_url"]
        assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"] == env["GEMINI_API_KEY"]
        with httpx.Client() as client:
            for provider in providers:
                info = client.get(doc[provider]["base_url"] + "/_emulator/info").json()
                assert info["provider"] == provider
        code, err = _stop(process, signal.SIGTERM)
    assert code == 0
    assert "Traceback" not in err


def test_plain_output_is_shell_safe_and_ctrl_c_exits_130() -> None:
    with hafs_emulate("--provider", "ollama", "--provider", "openai") as (process, first):
        assert process.stdout is not None
        lines = [first.rstrip("\n")]
        while not lines[-1].startswith("# latency"):
            lines.append(process.stdout.readline().rstrip("\n"))
        code, err = _stop(process, signal.SIGINT)
    assert lines[0].startswith("# ollama")
    assert lines[1].startswith("# openai")
    exports = [line for line in lines if not line.startswith("#")]
    assert [line.split("=")[0] for line in exports] == [
        "export OLLAMA_HOST",
        "export OPENAI_BASE_URL",
        "export OPENAI_API_KEY",
    ]
    assert code == 130
    assert "Traceback" not in err


def test_options_reach_the_emulators() -> None:
    args = ["--provider", "openai", "--json", "--seed", "9", "--reply-tokens", "20:30"]
    args += ["--reply-prefix", "[cli] ", "--api-key", "k-123", "--latency", "realistic"]
    with hafs_emulate(*args) as (_process, line):
        openai = json.loads(line)["openai"]
        assert openai["api_key"] == "k-123"
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(base_url=openai["base_url"]) as client:
            response = client.post(
                "/v1/chat/completions", json=body, headers={"authorization": "Bearer k-123"}
            )
            info = client.get("/_emulator/info").json()
    expected = generate_reply(
        seed=9,
        provider="openai",
        model="gpt-4o-mini",
        prompt="hi",
        reply_tokens=(20, 30),
        prefix="[cli] ",
    )
    assert response.json()["choices"][0]["message"]["content"] == expected.text
    assert info["latency"] == "realistic"
    assert info["seed"] == 9


def test_sighup_reloads_the_fault_file(tmp_path: Path) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text("faults = []\n")
    body = {"model": "llama3.2", "prompt": "hi", "stream": False}
    with hafs_emulate("--provider", "ollama", "--json", "--faults", str(plan)) as (process, line):
        url = json.loads(line)["ollama"]["base_url"] + "/api/generate"
        with httpx.Client() as client:
            assert client.post(url, json=body).status_code == 200
            plan.write_text('[[faults]]\nkind = "http_error"\nstatus = 503\n')
            process.send_signal(signal.SIGHUP)
            assert "reloaded 1 fault(s)" in _read_stderr_line(process)
            assert client.post(url, json=body).status_code == 503
            plan.write_text('[[faults]]\nkind = "nonsense"\n')
            process.send_signal(signal.SIGHUP)
            assert "keeping the old fault plan" in _read_stderr_line(process)
            assert client.post(url, json=body).status_code == 503
        code, _ = _stop(process, signal.SIGTERM)
    assert code == 0


def test_user_mistakes_exit_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"faults": [{"kind": "hang", "nth": -2}]}')
    assert main(["emulate", "--faults", str(bad)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("hafs: config error:")
    assert str(bad) in err
    assert "nth must be a positive integer" in err
    assert main(["emulate", "--port", "65534"]) == 2
    assert "room for 5 consecutive ports" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["emulate", "--reply-tokens", "9:3"])
    assert exited.value.code == 2
    assert "MIN <= MAX" in capsys.readouterr().err


def test_granian_server_option() -> None:
    with hafs_emulate("--server", "granian", "--provider", "anthropic", "--json") as (
        process,
        line,
    ):
        anthropic = json.loads(line)["anthropic"]
        body = {
            "model": "claude-sonnet-4",
            "max_tokens": 20,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        headers = {"x-api-key": anthropic["api_key"], "anthropic-version": "2023-06-01"}
        with httpx.Client(base_url=anthropic["base_url"]) as client:
            response = client.post("/v1/messages", json=body, headers=headers)
            drop = {"faults": [{"kind": "drop", "after_chunks": 2, "count": 1}]}
            assert client.post("/_emulator/faults", json=drop).status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                client.post("/v1/messages", json=body, headers=headers)
        config = EmulatorConfig()
        assert config.api_key == anthropic["api_key"]
        assert response.status_code == 200
        assert response.text.rstrip().endswith('data: {"type":"message_stop"}')
        assert response.headers["request-id"].startswith("req_")
        code, err = _stop(process, signal.SIGINT)
    assert code == 130
    assert "Traceback" not in err
