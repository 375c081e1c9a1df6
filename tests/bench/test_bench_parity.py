"""What ``hafs bench`` shares with ``vllm bench serve`` and GenAI-Perf, through the CLI:
--rate with --max-concurrency, datasets, token counts in raw samples, percentiles, labels,
CSV, vLLM's metric names, ``compare --json`` with its noise band and load-model warning, and
tables that fit 80 columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import trio
import trio.testing
from rich.console import Console

from hafs_actors.bench import BenchSpec, ClosedLoop, OpenLoop, run_benchmark, save_report
from hafs_actors.bench.compare import compare_reports
from hafs_actors.bench.console import comparison_tables, latency_tables, summary_tables
from hafs_actors.bench.svg import format_seconds
from hafs_actors.cli import main


@pytest.fixture(autouse=True)
def _no_real_providers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hafs_actors.config.model import BASE_URL_ENV_VARS, DEFAULT_API_KEY_ENVS

    for name in (*DEFAULT_API_KEY_ENVS.values(), *BASE_URL_ENV_VARS.values(), "HAFS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COLUMNS", "80")


_FAST = ["--emulator-latency", "zero", "--emulator-server", "trio", "--no-progress"]


def _only(directory: Path, suffix: str) -> Path:
    (path,) = directory.glob(f"*{suffix}")
    return path


def test_rate_with_max_concurrency_queues_and_samples_carry_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": "word " * n, "max_tokens": 5}) + "\n" for n in (5, 50, 500))
    )
    out = tmp_path / "out"
    argv = ["bench", "--via", "adapter", "--target", "openai:gpt-4o-mini", "--rate", "200"]
    argv += ["--max-concurrency", "2", "--requests", "30", "--dataset", "jsonl"]
    argv += ["--dataset-path", str(prompts), "--percentiles", "50,90,99,99.9"]
    argv += ["--label", "base", "--slo", "e2e=5s", "--out", str(out), *_FAST]
    assert main(argv) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "hafs: emulated: no provider is configured" in captured.err
    report = json.loads(_only(out, ".json").read_text())
    assert report["config"]["load"]["max_concurrency"] == 2
    assert report["config"]["label"] == "base"
    samples = report["targets"][0]["samples"]
    assert len(samples) == 30
    for s in samples:
        assert s["error_type"] is None
        assert s["input_tokens"] > 0
        assert s["output_tokens"] > 0
        assert s["max_tokens"] == 5
    assert {s["input_tokens"] > 100 for s in samples} == {True, False}  # the file's lengths
    spans = sorted((s["start"], s["start"] + s["e2e"]) for s in samples)
    for start, _ in spans:  # never more than 2 in flight: the rest queued, none dropped
        assert sum(1 for a, b in spans if a <= start < b) <= 2
    assert any(s["queued"] > 0 for s in samples)
    assert report["targets"][0]["summary"]["dropped"] == 0
    vllm = report["targets"][0]["vllm"]
    assert vllm["output_throughput"] > 0
    assert vllm["request_goodput"] > 0
    assert "p99.9_ttft_ms" in vllm
    rows = list(csv.DictReader(_only(out, "-samples.csv").read_text().splitlines()))
    assert len(rows) == 30
    assert rows[0]["input_tokens"]
    assert "hafs-bench-base-" in _only(out, ".html").name
    summary = list(csv.DictReader(next(out.glob("*[0-9].csv")).read_text().splitlines()))
    assert summary[0]["label"] == "base"
    assert float(summary[0]["request_throughput"]) > 0
    assert "p99.9" in captured.out  # the requested percentile is in the latency table


def test_a_run_where_every_request_fails_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["bench", "--emulate", "--via", "adapter", "--target", "openai:no-such-model"]
    argv += ["--requests", "3", "--json", *_FAST]
    assert main(argv) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["error"]["type"] == "BenchFailed"
    assert "NotFoundError" in doc["error"]["message"]
    assert "openai:no-such-model: 3 x NotFoundError" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prompt-tokens", "uniform:9:3"], "--prompt-tokens: token length 'uniform:9:3'"),
        (["--dataset", "jsonl"], "--dataset jsonl needs --dataset-path FILE"),
        (["--dataset-path", "x.jsonl"], "--dataset-path needs --dataset jsonl or sharegpt"),
        (["--dataset", "sharegpt", "--dataset-path", "nope.json"], "nope.json: cannot read"),
        (["--percentiles", "50,101"], "--percentiles: percentiles must be within 0..100"),
        (["--max-concurrency", "4"], "shape an open loop: give --rate"),
        (["--tier", "fsat"], "--tier: unknown 'fsat'; did you mean 'fast'?"),
        (["--target", "opnai:x"], "not an emulated provider; did you mean 'openai'?"),
        (["--concurency", "4"], "did you mean '--concurrency'?"),
    ],
)
def test_bench_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["bench", "--emulate", *argv, "--json", *_FAST])
    except SystemExit as exc:  # argument errors leave as argparse's do
        code = int(exc.code or 0)
    assert code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert json.loads(captured.out)["error"]["exit_code"] == 2


def test_an_unwritable_out_fails_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["bench", "--emulate", "--out", str(blocker / "sub"), *_FAST]) == 2
    assert "--out " in capsys.readouterr().err


def test_sharegpt_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = [
        {
            "conversations": [
                {"from": "human", "value": "hi " * 40},
                {"from": "gpt", "value": "x" * 40},
            ]
        },
        {"conversations": [{"from": "human", "value": "only one turn"}]},
    ]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(data))
    argv = ["bench", "--emulate", "--via", "adapter", "--target", "ollama:llama3.2"]
    argv += ["--requests", "4", "--dataset", "sharegpt", "--dataset-path", str(path)]
    argv += ["--out", str(tmp_path / "o"), *_FAST]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads(_only(tmp_path / "o", ".json").read_text())
    assert report["config"]["dataset"]["prompts"] == 1
    assert {s["max_tokens"] for s in report["targets"][0]["samples"]} == {10}  # 40 chars


# --- compare ----------------------------------------------------------------------------------


def _report(ttft: float, load: ClosedLoop | OpenLoop, name: str = "openai:gpt-4o-mini"):
    from contextlib import asynccontextmanager

    class Target:
        def __init__(self) -> None:
            self.name = name
            self.description = {"via": "fake"}
            self.calls = 0

        @asynccontextmanager
        async def session(self):  # type: ignore[no-untyped-def]
            yield self

        async def send(self, prompt, max_tokens, trace):  # type: ignore[no-untyped-def]
            self.calls += 1
            await trio.sleep(ttft * (1 + (self.calls % 7) / 20))  # some spread
            trace.chunk_times.append(trio.current_time())
            await trio.sleep(0.01)
            trace.chunk_times.append(trio.current_time())
            trace.output_tokens = 2

    spec = BenchSpec(targets=[Target()], load=load, requests=60, label="")
    return trio.run(run_benchmark, spec, clock=trio.testing.MockClock(autojump_threshold=0))


def test_compare_json_noise_band_and_load_model_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = save_report(_report(0.100, ClosedLoop(concurrency=2)), tmp_path / "a.json")
    b = save_report(_report(0.1003, OpenLoop(rate=5)), tmp_path / "b.json")
    c = save_report(_report(0.200, ClosedLoop(concurrency=2)), tmp_path / "c.json")
    assert main(["bench", "compare", str(a), str(b), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert "load models differ" in doc["warnings"][0]
    assert "warning: load models differ" in captured.err
    ttft = next(m for m in doc["pairs"][0]["metrics"] if m["metric"] == "ttft.p50")
    assert ttft["noise"] is True  # +0.3% is within the bootstrap band: not a verdict
    assert ttft["verdict"] is None
    assert ttft["ci"][0] < 0 < ttft["ci"][1]
    assert main(["bench", "compare", str(a), str(c), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["warnings"] == []
    ttft = next(m for m in doc["pairs"][0]["metrics"] if m["metric"] == "ttft.p50")
    assert ttft["verdict"] == "worse"
    assert ttft["ci"][0] > 0.5


# --- 80 columns ---------------------------------------------------------------------------------


def test_tables_fit_80_columns_and_never_cut_a_number() -> None:
    report = _report(12.345678, ClosedLoop(concurrency=2), name="anthropic:claude-haiku-4-5-long")
    a, b = report, _report(17.25, ClosedLoop(concurrency=2), name="anthropic:claude-haiku-4-5-long")
    console = Console(width=80, record=True, color_system=None)
    tables = [*summary_tables(report, 80), *latency_tables(report, 80)]
    tables += comparison_tables(compare_reports(a, b), 80)
    for table in tables:
        console.print(table)
    text = console.export_text()
    assert "\u2026" not in text  # rich's ellipsis: nothing was cut
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    headers = ["ok", "failed", "dropped", "req/s", "out tok/s", "TTFT p50", "TTFT p99"]
    headers += ["E2E p50", "E2E p99", "mean", "p95", "max", "95% CI", "change"]
    for header in headers:
        assert header in text
    for r in (a, b):
        ttft = r.targets[0].summary.ttft
        assert ttft is not None
        assert format_seconds(ttft.p50) in text
        assert format_seconds(ttft.max) in text
