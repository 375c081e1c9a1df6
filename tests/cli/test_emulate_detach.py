"""``eval "$(hafs emulate --detach)"`` returns, the emulators answer, ``--stop`` stops them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from hafs_actors.cli import main


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_detach_then_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid_file = tmp_path / "emulate.pid"
    hafs = f"{shlex.quote(sys.executable)} -m hafs_actors"
    script = f"""set -e
eval "$({hafs} emulate --detach --provider ollama --pid-file {pid_file})"
echo "$OLLAMA_HOST"
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    try:
        assert proc.returncode == 0, proc.stderr
        url = proc.stdout.strip()
        with urllib.request.urlopen(f"{url}/api/tags", timeout=10) as response:
            assert response.status == 200
        assert main(["emulate", "--detach", "--pid-file", str(pid_file)]) == 1
        assert "already running in the background" in capsys.readouterr().err
    finally:
        stopped = main(["emulate", "--stop", "--pid-file", str(pid_file)])
    assert stopped == 0
    assert "stopped pid" in capsys.readouterr().err
    assert not pid_file.exists()
    assert main(["emulate", "--stop", "--pid-file", str(pid_file)]) == 1
    assert "no background emulators to stop" in capsys.readouterr().err
