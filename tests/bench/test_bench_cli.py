"""``hafs bench``: argument errors in one line, and ``hafs bench compare``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import attrs
import pytest
import trio
import trio.testing

from hafs_actors.bench import BenchSpec, ClosedLoop, run_benchmark, save_report
from hafs_actors.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--concurrency", "2", "--rate", "3"], "--concurrency (closed loop) or --rate"),
        (["--rate", "0"], "--rate: rate must be a positive number"),
        (["--concurrency", "0"], "--concurrency: concurrency must be at least 1"),
        (["--burstiness", "0.5"], "need an open loop: give --rate"),
        (["--rate", "5", "--arrival", "poisson", "--burstiness", "2"], "gamma only"),
        (["--requests", "10", "--duration", "5s"], "--requests or --duration, not both"),
        (["--requests", "0"], "--requests must be at least 1"),
        (["--duration", "soon"], "--duration: not a duration"),
        (["--warmup", "1.5"], "request count (10) or a duration (5s)"),
        (["--slo", "ttft"], "--slo: SLO 'ttft' must look like METRIC=DURATION"),
        (["--slo", "itl=5ms"], "metric must be one of ttft, tpot, e2e"),
        (["--target", "openai"], "expected PROVIDER:MODEL"),
        (["--ramp=-2s"], "--ramp: not a duration"),
        (["--max-tokens", "0"], "--max-tokens: token length '0': expected N (>= 1)"),
        (["--html", "x.html"], "--html is for 'hafs bench compare'"),
        (["--tier", "fast", "--via", "adapter"], "--tier needs --via orchestrator"),
        (["compare", "only-one.json"], "exactly two JSON reports"),
    ],
)
def test_bad_arguments_fail_in_one_line(argv, message, capsys):
    code = main(["bench", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert err.startswith("hafs: error: ")


def test_unknown_action_is_a_usage_error_with_the_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "compre", "a.json", "b.json"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hafs bench ")
    assert "invalid choice: 'compre'; did you mean 'compare'?" in err


def _run_report(ttft: float, name: str = "openai:gpt-4o-mini"):
    from contextlib import asynccontextmanager

    class Target:
        def __init__(self) -> None:
            self.name = name
            self.description = {"via": "fake"}

        @asynccontextmanager
        async def session(self):
            yield self

        async def send(self, prompt, max_tokens, trace):
            await trio.sleep(ttft)
            trace.chunk_times.append(trio.current_time())
            await trio.sleep(0.05)
            trace.chunk_times.append(trio.current_time())
            trace.output_tokens = 2

    spec = BenchSpec(targets=[Target()], load=ClosedLoop(concurrency=2), requests=10)
    return trio.run(run_benchmark, spec, clock=trio.testing.MockClock(autojump_threshold=0))


def test_compare_prints_changes_and_writes_html(tmp_path, capsys):
    a = save_report(_run_report(0.2), tmp_path / "before.json")
    b = save_report(_run_report(0.1), tmp_path / "after.json")
    html = tmp_path / "diff.html"
    code = main(["bench", "compare", str(a), str(b), "--html", str(html)])
    out = capsys.readouterr().out
    assert code == 0
    assert "compare: openai:gpt-4o-mini" in out
    assert "before" in out
    assert "after" in out
    ttft_row = next(line for line in out.splitlines() if "TTFT p50" in line)
    assert "200 ms" in ttft_row
    assert "100 ms" in ttft_row
    assert "-50.0%" in ttft_row
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_compare_rejects_files_that_are_not_reports(tmp_path, capsys):
    good = save_report(_run_report(0.1), tmp_path / "good.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "something-else"}))
    code = main(["bench", "compare", str(good), str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.json: not a hafs-bench report" in err


def test_compare_without_common_targets(tmp_path, capsys):
    from hafs_actors.bench import BenchReport

    a = _run_report(0.1)
    second = attrs.evolve(a.targets[0], name="second")
    two = BenchReport(config={}, environment={}, targets=(a.targets[0], second))
    b = _run_report(0.1, name="other:model")
    pa = save_report(two, tmp_path / "a.json")
    pb = save_report(b, tmp_path / "b.json")
    code = main(["bench", "compare", str(pa), str(pb)])
    assert code == 2
    assert "no target in common" in capsys.readouterr().err


# --- end to end: `hafs bench` against the emulators in a separate process ------------------


@pytest.fixture
def no_real_providers(monkeypatch, tmp_path):
    """No keys, no endpoints, no config file: `hafs bench` must pick the emulators itself."""
    from hafs_actors.config.model import BASE_URL_ENV_VARS, DEFAULT_API_KEY_ENVS

    for name in (*DEFAULT_API_KEY_ENVS.values(), *BASE_URL_ENV_VARS.values(), "HAFS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _only(directory, suffix):
    (path,) = directory.glob(f"*{suffix}")
    return path


def test_closed_loop_run_writes_json_and_html(tmp_path, capsys, no_real_providers):
    out = tmp_path / "out"
    affinity = getattr(os, "sched_getaffinity", lambda _pid: set())
    cpus_before = affinity(0)
    code = main(
        [
            "bench",
            "--via",
            "adapter",
            "--target",
            "openai:gpt-4o-mini",
            "--target",
            "ollama:llama3.2",
            "--concurrency",
            "4",
            "--requests",
            "24",
            "--warmup",
            "4",
            "--emulator-latency",
            "zero",
            "--slo",
            "e2e=5s",
            "--out",
            str(out),
            "--json",
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)  # --json: stdout is only the summary document
    assert summary["schema"] == "hafs-bench/1"
    assert summary["config"]["emulated"] is True  # chosen automatically: nothing configured
    assert summary["config"]["load"]["model"] == "closed"
    assert [t["name"] for t in summary["targets"]] == ["openai:gpt-4o-mini", "ollama:llama3.2"]
    for target in summary["targets"]:
        assert "samples" not in target
        s = target["summary"]
        assert (s["requests"], s["ok"], s["warmup_requests"], s["errors"]) == (24, 24, 4, {})
        assert s["ttft"]["count"] == 24
        assert s["output_tokens"] > 0
        assert s["goodput"]["fraction"] == 1.0
    assert "hafs bench: summary" in captured.err  # the tables go to stderr with --json
    report = json.loads(_only(out, ".json").read_text())
    assert len(report["targets"][0]["samples"]) == 28
    split = report["config"]["cpu_split"]
    if len(cpus_before) >= 2:  # the emulator never shares the client's core
        assert split["emulator"]
        assert split["client"]
        assert not set(split["emulator"]) & set(split["client"])
        assert report["environment"]["usable_cpus"] == len(split["client"])
    assert affinity(0) == cpus_before  # restored after the run
    html = _only(out, ".html").read_text()
    assert html.count("<svg") == 4 * 3 + 1 + 3 + 1 + 1
    assert "ollama:llama3.2" in html


def test_open_loop_run_prints_tables(tmp_path, capsys):
    code = main(
        [
            "bench",
            "--emulate",
            "--via",
            "adapter",
            "--target",
            "anthropic:claude-haiku-4-5",
            "--rate",
            "40",
            "--arrival",
            "gamma",
            "--burstiness",
            "2",
            "--duration",
            "1.5s",
            "--ramp",
            "0.5s",
            "--emulator-latency",
            "zero",
            "--emulator-server",
            "trio",
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "hafs bench: summary" in captured.out
    row = next(line for line in captured.out.splitlines() if "anthropic:claude-haiku-4-5" in line)
    ok = int(row.split("│")[1])
    assert 20 <= ok <= 70  # 40/s for 1.5 s with a 0.5 s ramp: about 50
    assert "TTFT" in captured.out


def test_unknown_target_provider_is_reported(capsys):
    code = main(
        [
            "bench",
            "--emulate",
            "--via",
            "adapter",
            "--target",
            "mistral:large",
            "--emulator-latency",
            "zero",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--target mistral: not an emulated provider (available: " in err


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_run_and_its_emulator():
    command = [sys.executable, "-m", "hafs_actors", "bench", "--emulate", "--via", "adapter"]
    command += ["--target", "openai:gpt-4o-mini", "--requests", "100000", "--no-progress"]
    command += ["--emulator-server", "trio"]  # one emulator process, no grandchildren
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while not children and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)  # waiting for a process to appear, not timing anything
            children = _children(proc.pid)
        assert children, "the emulator process never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "stopped by SIGTERM; no report written" in err
    assert not [pid for pid in children if _alive(pid)]
