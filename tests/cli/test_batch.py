"""``hafs batch``: results as they complete, each with its id; resumable after a kill with
no duplicate and no loss; a torn last line is cut; bad lines are results, not crashes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hafs_actors.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


def _write_input(path: Path, n: int) -> list[str]:
    ids = [f"r{i}" for i in range(n)]
    with path.open("w") as f:
        for ident in ids:
            f.write(json.dumps({"id": ident, "prompt": f"say {ident}", "max_tokens": 4}) + "\n")
    return ids


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_killed_mid_run_then_resumed_has_every_id_once(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = _write_input(source, 2000)
    command = [sys.executable, "-m", "hafs_actors", "batch", str(source), "-o", str(out)]
    command += ["--emulate", "--concurrency", "8", "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.stat().st_size > 20_000:  # some results are in
                break
            time.sleep(0.01)  # waiting for output to appear, not timing anything
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        assert proc.stderr is not None
        proc.stderr.close()
    first = _ids(out)  # every line whole: each parses
    assert 0 < len(first) < len(ids), "the run was not interrupted mid-way"
    with out.open("ab") as f:  # as if the kill had landed inside a write
        f.write(b'{"id": "r1999", "ok": tr')
    assert main(["batch", str(source), "-o", str(out), "--emulate", "-c", "64"]) == EXIT_OK
    final = _ids(out)
    assert len(final) == len(set(final))  # no duplicate
    assert sorted(final) == sorted(ids)  # no loss
    assert final[: len(first)] == first  # the first run's lines are kept as they were
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["ok"] and r["content"] for r in records)


def test_summary_bad_lines_and_a_run_with_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        '{"id": 1, "prompt": "hi"}\n'
        "not json\n"
        '{"id": "x", "messages": [{"role": "user", "content": "hi"}], "system": "be brief"}\n'
        '{"id": "y", "prompt": "hi", "temprature": 1}\n'
        "\n"
        '{"prompt": "no id: the line number is the id"}\n'
    )
    assert main(["batch", str(source), "-o", str(out), "--emulate", "--json"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert json.loads(captured.out.splitlines()[-1]) == {
        "ok": 3,
        "failed": 0,
        "invalid": 2,
        "skipped": 0,
        "output": str(out),
        "interrupted": False,
    }
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {1, 2, "x", "y", 6}
    assert records[2]["error"]["message"].startswith("line 2: not JSON")
    assert "unknown field 'temprature'" in records["y"]["error"]["message"]
    assert main(["batch", str(source), "-o", str(out), "--emulate"]) == EXIT_OK
    assert "0 ok, 0 failed, 0 invalid lines, 5 skipped" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.jsonl", "-o", "out.jsonl"], "missing.jsonl: no such file"),
        (["in.jsonl", "-o", "in.jsonl"], "the output must not be the input file"),
        (["in.jsonl", "-o", "out.jsonl", "-c", "0"], "--concurrency must be at least 1"),
        (["in.jsonl"], "the following arguments are required: -o/--output"),
    ],
)
def test_batch_usage_errors(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "in.jsonl").write_text('{"prompt": "hi"}\n')
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["batch", *argv, "--emulate"])
    except SystemExit as exc:  # argument errors leave as argparse's do
        code = int(exc.code or 0)
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err
