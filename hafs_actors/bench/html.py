"""Self-contained HTML reports: one file, inline CSS and SVG, no scripts, no network.

The run report leads with one card per target (the numbers people look for first), then a
summary table, latency CDFs (all targets on one axis) with per-target histograms for TTFT, ITL,
TPOT and E2E, a timeline of every request, the errors, and the run's configuration. The markup
is well-formed XML, so tests (and other tools) can parse it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from .compare import Comparison, MetricDelta, TargetPair
from .metrics import (
    DEFAULT_PERCENTILES,
    LATENCY_METRICS,
    Distribution,
    LatencyMetric,
    Slo,
    percentile,
    percentile_name,
)
from .report import BenchReport, TargetResult
from .svg import (
    PALETTE,
    Series,
    XYSeries,
    axis_limit,
    cdf_chart,
    format_seconds,
    histogram_chart,
    timeline_chart,
    xy_chart,
)

__all__ = ["render_comparison_html", "render_html"]

_TITLES: dict[LatencyMetric, str] = {
    "ttft": "Time to first token (TTFT)",
    "itl": "Inter-token latency (ITL)",
    "tpot": "Time per output token (TPOT)",
    "e2e": "End-to-end latency (E2E)",
}
_SHORT: dict[LatencyMetric, str] = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E"}
_HINTS: dict[LatencyMetric, str] = {
    "ttft": "From sending the request to the first output chunk. Successful requests only.",
    "itl": "Gap between successive output chunks, over every chunk of every successful request.",
    "tpot": "(E2E - TTFT) / (output tokens - 1) per request: the decode speed a user sees.",
    "e2e": "From sending the request to the end of the stream. Successful requests only.",
}

_CSS = """
:root{--ink:#1d2433;--muted:#5d6778;--line:#e3e7ee;--bg:#f6f7fb;--card:#fff;--good:#1a7f37;
--bad:#c62828;--accent:#4e79a7}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:28px 24px 60px}
header h1{font-size:26px;margin:0 0 4px;letter-spacing:-.01em}
header .sub{color:var(--muted);margin:0 0 14px}
h2{font-size:18px;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:22px 0 2px}
.hint{color:var(--muted);margin:0 0 10px;font-size:13px}
.chips{display:flex;flex-wrap:wrap;gap:6px}
.chip{background:#e9edf5;border-radius:999px;padding:3px 10px;font-size:12.5px;color:#344}
.chip b{font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px;
margin-top:20px}
.card{background:var(--card);border-radius:10px;padding:14px 16px;
box-shadow:0 1px 2px rgba(16,24,40,.06),0 1px 3px rgba(16,24,40,.08);border-top:4px solid}
.card .name{font-weight:650;font-size:15px;word-break:break-all}
.card .via{color:var(--muted);font-size:12px;margin-bottom:10px}
.kpis{display:grid;grid-template-columns:1fr 1fr;gap:8px 12px}
.kpi .v{font-size:19px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .k{color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.04em}
.status{margin-top:10px;font-size:12.5px}
.ok{color:var(--good)} .err{color:var(--bad)}
table{border-collapse:collapse;width:100%;background:var(--card);border-radius:8px;
overflow:hidden;box-shadow:0 1px 2px rgba(16,24,40,.06)}
.tablewrap{overflow-x:auto;border-radius:8px}
th,td{padding:7px 9px;border-bottom:1px solid var(--line);text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#eef1f7;font-weight:600;font-size:12.5px;color:#3a4456}
td.l,th.l{text-align:left}
table.kv td{white-space:normal;word-break:break-word;text-align:left}
table.kv td:first-child{white-space:nowrap;color:#3a4456;width:1%}
tr:last-child td{border-bottom:none}
td.best{font-weight:700}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;
vertical-align:baseline}
.panel{background:var(--card);border-radius:10px;padding:12px 14px 6px;margin:8px 0 4px;
box-shadow:0 1px 2px rgba(16,24,40,.06)}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12.5px;margin:2px 0 6px}
.pair{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}
.hists{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:10px}
figure{margin:0}
figcaption{font-size:12.5px;color:var(--muted);margin:4px 0 0 6px}
svg.chart{max-width:100%;height:auto;display:block}
svg .plot{fill:#fbfcfe;stroke:#d5dbe5}
svg .grid{stroke:#e6eaf0;stroke-width:1}
svg .tick{font-size:10.5px;fill:#6b7484}
svg .axis-label{font-size:11px;fill:#4a5466}
svg .cdf{fill:none;stroke-width:2.2;stroke-linejoin:round}
svg .pline{stroke:#1d2433;stroke-dasharray:3 3;stroke-width:1;opacity:.6}
svg .plabel{font-size:9.5px;fill:#1d2433;opacity:.75}
svg .bar{opacity:.85}
svg .warmup{fill:#f1e7c8;opacity:.6}
svg .dots{opacity:.55}
svg .empty{font-size:13px;fill:#8a93a3}
svg .fail{stroke:#c62828;stroke-width:1.6;fill:none}
details{margin-top:8px}
summary{cursor:pointer;color:var(--accent)}
pre{background:var(--card);padding:12px;border-radius:8px;overflow:auto;font-size:12px}
.better{color:var(--good);font-weight:600} .worse{color:var(--bad);font-weight:600}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""


_DASH = "\u2013"  # shown for a value that does not exist


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _wrap(table: str) -> str:
    """Wide tables scroll sideways instead of overflowing the page."""
    return f'<div class="tablewrap">{table}</div>'


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _dist(d: Distribution | None, stat: str) -> str:
    return _DASH if d is None else format_seconds(d.stat(stat))


def _page(title: str, body: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en" xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>"
        + "".join(body)
        + "</main></body></html>\n"
    )


def _chips(report: BenchReport) -> str:
    c = report.config
    load = c.get("load", {})
    chips = [("load", str(load.get("description", "?")))]
    if c.get("requests") is not None:
        chips.append(("requests", f"{c['requests']} per target"))
    if c.get("duration") is not None:
        chips.append(("duration", f"{c['duration']:g} s per target"))
    if c.get("warmup_requests"):
        chips.append(("warm-up", f"{c['warmup_requests']} requests"))
    if c.get("warmup_seconds"):
        chips.append(("warm-up", f"{c['warmup_seconds']:g} s"))
    dataset = c.get("dataset") or {}
    if dataset.get("kind") == "synthetic":
        chips.append(("input", f"{dataset.get('input_tokens')} tokens (synthetic)"))
        chips.append(("output", f"{dataset.get('output_tokens')} tokens max"))
    elif dataset:
        chips.append(("dataset", f"{dataset.get('kind')}: {dataset.get('path')}"))
    else:
        chips.append(("max tokens", str(c.get("max_tokens", "?"))))
        chips.append(("prompt", f"~{c.get('prompt_tokens', '?')} tokens"))
    if c.get("label"):
        chips.insert(0, ("label", str(c["label"])))
    for slo in c.get("slos", []):
        chips.append(("SLO", f"{slo['metric']} ≤ {format_seconds(slo['threshold'])}"))
    if c.get("emulated"):
        chips.append(("providers", f"emulated ({c.get('emulator_latency', '?')} latency)"))
    chips.append(("seed", str(c.get("seed", "?"))))
    return (
        '<div class="chips">'
        + "".join(f'<span class="chip">{escape(k)}: <b>{escape(v)}</b></span>' for k, v in chips)
        + "</div>"
    )


def _card(result: TargetResult, color: str) -> str:
    s = result.summary
    via = " · ".join(f"{k} {v}" for k, v in result.description.items() if k != "name")
    kpis = [
        ("TTFT p50", _dist(s.ttft, "p50")),
        ("TTFT p99", _dist(s.ttft, "p99")),
        ("E2E p50", _dist(s.e2e, "p50")),
        ("E2E p99", _dist(s.e2e, "p99")),
        ("requests/s", _num(s.request_rate, 2)),
        ("output tok/s", _num(s.output_token_rate, 0)),
    ]
    if s.goodput is not None:
        kpis.append(("goodput", _pct(s.goodput.fraction)))
        kpis.append(("good req/s", _num(s.goodput.rate, 2)))
    status_bits = [f'<span class="ok">{s.ok} ok</span>']
    if s.failed:
        status_bits.append(f'<span class="err">{s.failed} failed</span>')
    if s.dropped:
        status_bits.append(f'<span class="err">{s.dropped} dropped</span>')
    if s.late:
        status_bits.append(f"{s.late} late")
    status_bits.append(f"of {s.requests + s.dropped} measured · {s.warmup_requests} warm-up")
    return (
        f'<div class="card" style="border-top-color:{color}">'
        f'<div class="name">{escape(result.name)}</div><div class="via">{escape(via)}</div>'
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div>'
            "</div>"
            for k, v in kpis
        )
        + f'</div><div class="status">{" · ".join(status_bits)}</div></div>'
    )


def _name_cell(name: str, color: str) -> str:
    return (
        f'<td class="l"><span class="swatch" style="background:{color}"></span>{escape(name)}</td>'
    )


def _summary_table(report: BenchReport) -> str:
    has_goodput = any(t.summary.goodput is not None for t in report.targets)
    head = [
        "target",
        "ok",
        "failed",
        "dropped",
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "E2E p50",
        "E2E p99",
    ]
    if has_goodput:
        head += ["goodput", "good req/s"]
    rows = []
    for i, t in enumerate(report.targets):
        s = t.summary
        cells = [
            _name_cell(t.name, _color(i)),
            f"<td>{s.ok}</td>",
            f'<td class="{"err" if s.failed else ""}">{s.failed}</td>',
            f'<td class="{"err" if s.dropped else ""}">{s.dropped}</td>',
            f"<td>{_num(s.request_rate, 2)}</td>",
            f"<td>{_num(s.output_token_rate, 0)}</td>",
            f"<td>{_dist(s.ttft, 'p50')}</td>",
            f"<td>{_dist(s.ttft, 'p99')}</td>",
            f"<td>{_dist(s.e2e, 'p50')}</td>",
            f"<td>{_dist(s.e2e, 'p99')}</td>",
        ]
        if has_goodput:
            g = s.goodput
            cells.append(f"<td>{_DASH if g is None else _pct(g.fraction)}</td>")
            cells.append(f"<td>{_DASH if g is None else _num(g.rate, 2)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f'<th class="{"l" if h == "target" else ""}">{escape(h)}</th>' for h in head)
    return _wrap(f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _stats(report: BenchReport) -> list[str]:
    chosen = report.config.get("percentiles") or DEFAULT_PERCENTILES
    return ["mean", *(percentile_name(p) for p in chosen), "max"]


def _latency_table(report: BenchReport) -> str:
    stats = _stats(report)
    rows = []
    for metric in LATENCY_METRICS:
        dists = [t.summary.metric(metric) for t in report.targets]
        best = {
            stat: min((d.stat(stat) for d in dists if d is not None), default=None)
            for stat in stats
        }
        for i, (t, d) in enumerate(zip(report.targets, dists, strict=True)):
            cells = [f'<td class="l">{_SHORT[metric] if i == 0 else ""}</td>']
            cells.append(_name_cell(t.name, _color(i)))
            for stat in stats:
                value = None if d is None else d.stat(stat)
                mark = (
                    ' class="best"'
                    if value is not None and len(report.targets) > 1 and value == best[stat]
                    else ""
                )
                cells.append(f"<td{mark}>{_dist(d, stat)}</td>")
            cells.append(f"<td>{0 if d is None else d.count}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in (*stats, "n"))
    return _wrap(
        '<table><thead><tr><th class="l">metric</th><th class="l">target</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _legend(names: Sequence[str]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><span class="swatch" style="background:{_color(i)}"></span>{escape(n)}</span>'
            for i, n in enumerate(names)
        )
        + "</div>"
    )


def _distribution_section(report: BenchReport, metric: LatencyMetric) -> str:
    series = [Series(t.name, _color(i), t.values(metric)) for i, t in enumerate(report.targets)]
    lo, hi, _ = axis_limit(series)
    hists = "".join(
        "<figure>"
        + histogram_chart(s.values, color=s.color, x_range=(lo, hi), title=_SHORT[metric])
        + f"<figcaption>{escape(s.label)} · n={len(s.values)}</figcaption></figure>"
        for s in series
    )
    return (
        f'<h3 id="{metric}">{_TITLES[metric]}</h3><p class="hint">{_HINTS[metric]}</p>'
        f'<div class="panel">{_legend([t.name for t in report.targets])}'
        + cdf_chart(
            series,
            title=_SHORT[metric],
            width=1000,
            height=320,
            unit="chunks" if metric == "itl" else "requests",
        )
        + "</div>"
        f'<div class="hists">{hists}</div>'
    )


def _timeline(report: BenchReport) -> str:
    series = []
    for i, t in enumerate(report.targets):
        done = [s for s in t.samples if s.ok]
        series.append((Series(t.name, _color(i), [s.e2e for s in done]), [s.start for s in done]))
    failures = [
        (t.name, s.start, s.e2e, s.error_type or "")
        for t in report.targets
        for s in t.samples
        if not s.ok
    ]
    warmups = [t.window_start for t in report.targets if t.summary.warmup_requests]
    warmup_end = max(warmups) if warmups else None
    chart = timeline_chart(series, warmup_end=warmup_end, failures=failures, width=1000)
    return (
        '<p class="hint">Each dot is one successful request: when it started, and how long it '
        "took; a red cross is a failed request and how long it took to fail. The shaded band "
        "is warm-up. Look here for drift, ramp effects, stalls and bursts of errors.</p>"
        f'<div class="panel">{_legend([t.name for t in report.targets])}{chart}</div>'
    )


def _bin_width(span: float) -> float:
    """About 40 bins over the run, on a round step."""
    raw = max(span / 40, 1e-3)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return float(next(f * magnitude for f in (1, 2, 2.5, 5, 10) if raw <= f * magnitude))


def _over_time(report: BenchReport) -> str:
    """Output tokens/s, goodput (requests/s meeting every SLO) and requests in flight per
    time bin, by completion time (in flight: the mean over each bin)."""
    slos = [Slo(s["metric"], s["threshold"]) for s in report.config.get("slos", [])]
    ends = [s.start + s.e2e for t in report.targets for s in t.samples]
    if not ends:
        return '<p class="hint">No requests.</p>'
    width = _bin_width(max(ends))
    bins = math.ceil(max(ends) / width) + 1
    tokens, good, flight = [], [], []
    for i, t in enumerate(report.targets):
        tok = [0.0] * bins
        ok = [0.0] * bins
        busy = [0.0] * bins  # request-seconds in flight per bin
        for s in t.samples:
            end = s.start + s.e2e
            b = min(int(end / width), bins - 1)
            if s.ok:
                tok[b] += s.output_tokens or 0
                if slos and all(slo.met_by(s) for slo in slos):
                    ok[b] += 1
            first, last = int(s.start / width), min(int(end / width), bins - 1)
            for k in range(first, last + 1):
                overlap = min(end, (k + 1) * width) - max(s.start, k * width)
                busy[k] += max(overlap, 0.0)
        xs = [(k + 0.5) * width for k in range(bins)]
        color = _color(i)
        tokens.append(XYSeries(t.name, color, xs, [v / width for v in tok]))
        good.append(XYSeries(t.name, color, xs, [v / width for v in ok]))
        flight.append(XYSeries(t.name, color, xs, [v / width for v in busy]))
    x_label = f"time since the target's run began (s, {width:g} s bins)"
    charts = [
        ("Output token throughput", "output tokens/s (tok/s)", tokens),
        ("Requests in flight", "requests in flight (count)", flight),
    ]
    if slos:
        charts.insert(1, ("Request goodput", "requests/s meeting every SLO (req/s)", good))
    return "".join(
        f'<h3>{title}</h3><div class="panel">{_legend([t.name for t in report.targets])}'
        + xy_chart(series, x_label=x_label, y_label=label, y_format="count", lines=True)
        + "</div>"
        for title, label, series in charts
    )


def _ttft_vs_input(report: BenchReport) -> str:
    series = []
    for i, t in enumerate(report.targets):
        points = [
            (s.input_tokens, s.ttft)
            for s in t.samples
            if s.ok and not s.warmup and s.ttft is not None and s.input_tokens is not None
        ]
        series.append(
            XYSeries(t.name, _color(i), [float(x) for x, _ in points], [y for _, y in points])
        )
    return (
        '<p class="hint">Each dot is one successful request: its prompt length and its time to '
        "first token. A slope is prefill cost; a flat cloud means queueing or network dominate."
        f'</p><div class="panel">{_legend([t.name for t in report.targets])}'
        + xy_chart(series, x_label="input length (tokens)", y_label="TTFT", empty="no TTFT data")
        + "</div>"
    )


def _itl_by_position(report: BenchReport) -> str:
    series = []
    for i, t in enumerate(report.targets):
        gaps: list[list[float]] = []
        for s in t.samples:
            if s.ok and not s.warmup:
                for k, gap in enumerate(s.itl()):
                    if k == len(gaps):
                        gaps.append([])
                    gaps[k].append(gap)
        enough = [g for g in gaps if len(g) >= max(3, len(gaps[0]) // 10)] if gaps else []
        series.append(
            XYSeries(
                t.name,
                _color(i),
                [float(k + 2) for k in range(len(enough))],
                [percentile(sorted(g), 50) for g in enough],
            )
        )
    return (
        '<p class="hint">Median gap before the n-th output chunk, over the successful requests '
        "that reached it (positions reached by under a tenth of them are left out). A rising "
        "line is a decode that slows as the context grows.</p>"
        f'<div class="panel">{_legend([t.name for t in report.targets])}'
        + xy_chart(
            series,
            x_label="output chunk position (chunk number)",
            y_label="median ITL",
            lines=True,
            empty="no ITL data",
        )
        + "</div>"
    )


def _errors(report: BenchReport) -> str:
    rows = []
    for i, t in enumerate(report.targets):
        examples: dict[str, str] = {}
        for s in t.samples:
            if s.error_type is not None and not s.warmup:
                examples.setdefault(s.error_type, s.error or "")
        for kind, count in t.summary.errors.items():
            rows.append(
                f'<tr>{_name_cell(t.name, _color(i))}<td class="l">{escape(kind)}</td>'
                f'<td>{count}</td><td class="l">{escape(examples.get(kind, ""))}</td></tr>'
            )
        if t.summary.dropped:
            rows.append(
                f'<tr>{_name_cell(t.name, _color(i))}<td class="l">dropped</td>'
                f'<td>{t.summary.dropped}</td><td class="l">open-loop outstanding cap reached'
                "</td></tr>"
            )
    if not rows:
        return '<p class="hint ok">No request failed.</p>'
    return _wrap(
        '<table><thead><tr><th class="l">target</th><th class="l">error</th><th>count</th>'
        f'<th class="l">example</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _kv_table(data: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td class="l">{escape(str(k))}</td><td class="l">'
        f"{escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}</td></tr>"
        for k, v in data.items()
    )
    return _wrap(f'<table class="kv"><tbody>{rows}</tbody></table>')


def render_html(report: BenchReport) -> str:
    """The run report as one self-contained HTML page."""
    names = ", ".join(t.name for t in report.targets)
    body = [
        "<header><h1>hafs bench</h1>",
        f'<p class="sub">{escape(names)} · {escape(report.created)}</p>',
        _chips(report),
        "</header>",
        '<section class="cards">',
        *(_card(t, _color(i)) for i, t in enumerate(report.targets)),
        "</section>",
        "<h2>Summary</h2>",
        _summary_table(report),
        "<h2>Latency statistics</h2>",
        _latency_table(report),
        "<h2>Latency distributions</h2>",
        '<p class="hint">CDFs put every target on one axis (further left is faster; dots mark '
        "p50 and p99); the histograms below share that axis. Hover for values.</p>",
        *(_distribution_section(report, m) for m in LATENCY_METRICS),
        "<h2>Timeline</h2>",
        _timeline(report),
        "<h2>Over time</h2>",
        _over_time(report),
        "<h2>TTFT against input length</h2>",
        _ttft_vs_input(report),
        "<h2>Inter-token latency by position</h2>",
        _itl_by_position(report),
        "<h2>Errors</h2>",
        _errors(report),
        "<h2>Run details</h2>",
        "<h3>Configuration</h3>",
        _kv_table(report.config),
        "<h3>Environment</h3>",
        _kv_table(report.environment),
        f"<footer>schema {escape(report.schema)} · raw per-request samples are in the JSON "
        "report.</footer>",
    ]
    return _page(f"hafs bench: {names}", body)


# --- comparison ---------------------------------------------------------------------------


def _format_value(d: MetricDelta, value: float | None) -> str:
    if value is None:
        return _DASH
    if d.unit == "s":
        return format_seconds(value)
    if d.unit == "ratio":
        return _pct(value)
    if d.unit == "count":
        return f"{value:g}"
    return _num(value, 2)


def _change_cell(d: MetricDelta) -> str:
    css = {True: "better", False: "worse", None: ""}[d.verdict]
    return f'<td class="{css}">{escape(d.change_text())}</td>'


def _pair_section(pair: TargetPair, a: BenchReport, b: BenchReport, cmp: Comparison) -> str:
    rows = "".join(
        f'<tr><td class="l">{escape(d.label)}</td><td>{_format_value(d, d.a)}</td>'
        f"<td>{_format_value(d, d.b)}</td>{_change_cell(d)}</tr>"
        for d in pair.deltas
    )
    table = _wrap(
        f'<table><thead><tr><th class="l">metric</th><th>{escape(cmp.a_label)}</th>'
        f"<th>{escape(cmp.b_label)}</th><th>change</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    ta, tb = a.target(pair.a_name), b.target(pair.b_name)
    charts = []
    for metric in LATENCY_METRICS:
        series = [
            Series(cmp.a_label, _color(0), ta.values(metric)),
            Series(cmp.b_label, _color(1), tb.values(metric)),
        ]
        unit = "chunks" if metric == "itl" else "requests"
        chart = cdf_chart(series, title=_SHORT[metric], width=520, height=270, unit=unit)
        charts.append(
            f'<figure class="panel">{chart}<figcaption>{_TITLES[metric]}</figcaption></figure>'
        )
    return (
        f"<h2>{escape(pair.title)}</h2>{_legend([cmp.a_label, cmp.b_label])}"
        f'<div class="pair">{"".join(charts)}</div><h3>Changes</h3>{table}'
    )


def render_comparison_html(comparison: Comparison, a: BenchReport, b: BenchReport) -> str:
    """Two runs side by side: per target, overlaid CDFs and a table of changes (B vs A)."""
    body = [
        "<header><h1>hafs bench compare</h1>",
        f'<p class="sub">{escape(comparison.a_label)} ({escape(a.created)}) vs '
        f"{escape(comparison.b_label)} ({escape(b.created)}). Green is better in "
        f"{escape(comparison.b_label)}, red is worse.</p>",
        '<div class="chips">',
        f'<span class="chip">{escape(comparison.a_label)}: '
        f"<b>{escape(str(a.config.get('load', {}).get('description', '?')))}</b></span>",
        f'<span class="chip">{escape(comparison.b_label)}: '
        f"<b>{escape(str(b.config.get('load', {}).get('description', '?')))}</b></span>",
        "</div></header>",
    ]
    if not comparison.pairs:
        body.append('<p class="hint">The two runs have no target in common.</p>')
    body.extend(_pair_section(p, a, b, comparison) for p in comparison.pairs)
    if comparison.only_in_a or comparison.only_in_b:
        body.append(
            '<p class="hint">Unpaired targets: '
            f"{escape(', '.join(comparison.only_in_a) or 'none')} only in "
            f"{escape(comparison.a_label)}; {escape(', '.join(comparison.only_in_b) or 'none')}"
            f" only in {escape(comparison.b_label)}.</p>"
        )
    return _page(f"hafs bench compare: {comparison.a_label} vs {comparison.b_label}", body)
