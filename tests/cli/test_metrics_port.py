"""``--metrics-port`` on ``hafs emulate``: a real scrape of the emulators' counters over
loopback, from the command run as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx


def test_emulate_serves_its_counters_to_a_prometheus_scrape() -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hafs_actors",
            "emulate",
            "--provider",
            "openai",
            "--metrics-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    ) as proc:
        try:
            assert proc.stdout is not None
            lines: list[str] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                lines.append(line)
                if line.startswith("# metrics at "):
                    break
            metrics_url = lines[-1].removeprefix("# metrics at ").strip()
            exported = dict(
                line.removeprefix("export ").strip().split("=", 1)
                for line in lines
                if line.startswith("export ")
            )
            base, key = (
                exported["OPENAI_BASE_URL"].strip("'\""),
                exported["OPENAI_API_KEY"].strip("'\""),
            )
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            answer = httpx.post(
                f"{base}/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert answer.status_code == 200
            scrape = httpx.get(metrics_url, timeout=10).text
            labels = 'endpoint="chat.completions",provider="openai",status="200"'
            assert f"hafs_emulator_requests_total{{{labels}}} 1.0" in scrape
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


def test_demo_serves_the_orchestrators_metrics_while_it_runs() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hafs_actors",
            "demo",
            "--requests",
            "30",
            "--concurrency",
            "10",
            "--no-progress",
            "--metrics-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert out.returncode == 0, out.stderr
    assert "metrics: http://127.0.0.1:" in out.stdout
