"""JSON reports (schema, round trip, bad files), the HTML reports, and run comparisons."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from hafs_actors.bench import (
    SCHEMA,
    BenchReport,
    BenchSpec,
    ClosedLoop,
    OpenLoop,
    ReportFormatError,
    compare_reports,
    load_report,
    parse_slo,
    render_comparison_html,
    render_html,
    run_benchmark,
    save_report,
)
from hafs_actors.errors import ServerError

SVG = "{http://www.w3.org/2000/svg}svg"
XHTML = "{http://www.w3.org/1999/xhtml}"


async def _report(fakes, *, ttfts=(0.1, 0.3), names=("openai:gpt-4o-mini", "a<b>&c"), fail=True):
    targets = []
    for name, ttft in zip(names, ttfts, strict=True):

        def plan(n, ttft=ttft):
            if fail and n % 10 == 3:
                return fakes.Plan(error=ServerError("overloaded", provider="x", status=503))
            return fakes.Plan(ttft=ttft * (1 + (n % 7) / 10), gaps=(0.02,) * 5, tokens=6)

        targets.append(fakes.target(name, plan))
    spec = BenchSpec(
        targets=targets,
        load=OpenLoop(rate=20.0, arrival="gamma", burstiness=0.5),
        requests=60,
        warmup_requests=5,
        slos=[parse_slo("ttft=250ms")],
        metadata={"emulated": True, "emulator_latency": "realistic"},
    )
    return await run_benchmark(spec)


def _parse_html(text: str) -> ET.Element:
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text.split("\n", 1)[1])  # well-formed XML, so any tool can read it


async def test_json_report_has_the_versioned_schema(fakes, autojump_clock, tmp_path):
    report = await _report(fakes)
    path = save_report(report, tmp_path / "run.json")
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA == "hafs-bench/1"
    assert data["config"]["load"]["model"] == "open"
    assert data["config"]["load"]["burstiness"] == 0.5
    assert data["config"]["slos"] == [{"metric": "ttft", "threshold": 0.25}]
    assert data["config"]["emulated"] is True
    env = data["environment"]
    assert {"python", "platform", "cpu_count", "versions"} <= env.keys()
    first = data["targets"][0]
    assert first["name"] == "openai:gpt-4o-mini"
    assert len(first["samples"]) == 65  # warm-up included, flagged
    assert sum(s["warmup"] for s in first["samples"]) == 5
    assert first["summary"]["ttft"]["p50"] > 0
    assert first["summary"]["errors"] == {"ServerError": 6}
    assert first["summary"]["goodput"]["offered"] == 60
    sample = next(s for s in first["samples"] if s["error_type"] is None)
    assert {"index", "start", "e2e", "chunks", "output_tokens", "tokens_source"} <= sample.keys()
    assert len(sample["chunks"]) == 6


async def test_json_report_round_trips(fakes, autojump_clock, tmp_path):
    report = await _report(fakes)
    path = save_report(report, tmp_path / "run.json")
    loaded = load_report(path)
    assert [t.summary for t in loaded.targets] == [t.summary for t in report.targets]
    assert loaded.config == json.loads(json.dumps(report.config))
    assert loaded.to_json() == report.to_json()  # sample times are stored at µs resolution
    for a, b in zip(loaded.targets[0].samples, report.targets[0].samples, strict=True):
        assert a.e2e == pytest.approx(b.e2e, abs=1e-6)
        assert a.error_type == b.error_type


def test_json_report_layout_is_readable():
    text = BenchReport(config={"a": 1}, environment={}, targets=()).to_json()
    assert text.splitlines()[:3] == ["{", '  "schema": "hafs-bench/1",', '  "created": "",']


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"schema": "other/1"}', "not a hafs-bench report"),
        ('{"schema": "hafs-bench/9", "targets": []}', "not supported"),
        ('{"schema": "hafs-bench/1", "targets": {}}', "'targets' must be a list"),
        ('{"schema": "hafs-bench/1", "targets": [{"name": "x"}]}', r"targets\[0\]: missing"),
        (
            '{"schema": "hafs-bench/1", "targets": '
            '[{"name": "x", "summary": {"requests": "many"}}]}',
            r"targets\[0\]",
        ),
    ],
)
def test_bad_report_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReportFormatError, match=message) as info:
        load_report(path)
    assert str(path) in str(info.value)


def test_missing_report_file(tmp_path):
    with pytest.raises(ReportFormatError, match="cannot read"):
        load_report(tmp_path / "nope.json")


async def test_html_report_is_self_contained_and_complete(fakes, autojump_clock):
    report = await _report(fakes)
    text = render_html(report)
    root = _parse_html(text)
    assert not re.search(r"<script|<link|\ssrc=|url\(|@import", text)
    assert not re.findall(r"https?://(?!www\.w3\.org/)", text)  # only XML namespaces
    svgs = list(root.iter(SVG))
    # 4 metrics x (1 CDF + 2 histograms) + timeline + tok/s, goodput, in flight over time
    # + TTFT against input length + ITL by position.
    assert len(svgs) == 4 * 3 + 1 + 3 + 1 + 1
    for svg in svgs:  # every chart names what its axes show, with the unit
        labels = [
            e.text or ""
            for e in svg.iter("{http://www.w3.org/2000/svg}text")
            if e.get("class") == "axis-label"
        ]
        if svg.get("aria-label", "").startswith("no "):
            continue
        assert len(labels) == 2, svg.get("aria-label")
        assert all("(" in label or label in ("requests", "chunks") for label in labels), labels
    titles = [e.text for e in root.iter(f"{XHTML}h3")]
    assert titles[:4] == [
        "Time to first token (TTFT)",
        "Inter-token latency (ITL)",
        "Time per output token (TPOT)",
        "End-to-end latency (E2E)",
    ]
    assert "a&lt;b&gt;&amp;c" in text  # names are escaped
    cdf_lines = [
        line
        for svg in svgs
        if svg.get("aria-label", "").endswith("CDF")
        for line in svg.iter("{http://www.w3.org/2000/svg}polyline")
    ]
    assert len(cdf_lines) == 4 * 2
    assert "ServerError" in text
    assert "goodput" in text


async def test_html_report_when_every_request_failed(fakes, autojump_clock):
    target = fakes.target("down", fakes.Plan(error=ServerError("down", status=500)))
    report = await run_benchmark(
        BenchSpec(targets=[target], load=ClosedLoop(concurrency=2), requests=4)
    )
    text = render_html(report)
    _parse_html(text)
    assert "no TTFT data" in text
    assert text.count('class="fail"') == 4  # every failure on the timeline


async def test_compare_reports_pairs_targets_and_computes_changes(fakes, autojump_clock):
    a = await _report(fakes, ttfts=(0.1, 0.3))
    b = await _report(fakes, ttfts=(0.2, 0.3))
    cmp = compare_reports(a, b, a_label="before", b_label="after")
    assert [p.title for p in cmp.pairs] == ["openai:gpt-4o-mini", "a<b>&c"]
    deltas = {d.metric: d for d in cmp.pairs[0].deltas}
    ttft = deltas["ttft.p50"]
    assert ttft.b == pytest.approx(2 * ttft.a)
    assert ttft.change == pytest.approx(1.0)
    assert ttft.verdict is False  # slower is worse, beyond the noise
    assert ttft.ci is not None
    assert ttft.ci[0] > 0
    same = {d.metric: d for d in cmp.pairs[1].deltas}["ttft.p50"]
    assert same.change == pytest.approx(0, abs=1e-12)
    assert same.verdict is None
    rate = deltas["request_rate"]
    assert rate.higher_is_better
    assert rate.verdict in (None, rate.b > rate.a)
    assert deltas["error_rate"].a == pytest.approx(6 / 60)
    assert deltas["goodput.fraction"].unit == "ratio"
    html = render_comparison_html(cmp, a, b)
    root = _parse_html(html)
    assert len(list(root.iter(SVG))) == 2 * 4  # TTFT, ITL, TPOT, E2E CDFs per pair
    assert 'class="worse"' in html


async def test_compare_pairs_lone_targets_with_different_names(fakes, autojump_clock):
    a = await _report(fakes, ttfts=(0.1,), names=("openai:gpt-4o-mini",), fail=False)
    b = await _report(fakes, ttfts=(0.1,), names=("anthropic:claude-haiku-4-5",), fail=False)
    cmp = compare_reports(a, b)
    assert [p.title for p in cmp.pairs] == ["openai:gpt-4o-mini -> anthropic:claude-haiku-4-5"]
    c = await _report(fakes, ttfts=(0.1, 0.1), names=("x", "openai:gpt-4o-mini"), fail=False)
    cmp = compare_reports(c, b)
    assert cmp.pairs == ()
    assert cmp.only_in_a == ("x", "openai:gpt-4o-mini")
    assert cmp.only_in_b == ("anthropic:claude-haiku-4-5",)
