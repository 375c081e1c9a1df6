"""A benchmark's results and their versioned JSON form (``"schema": "hafs-bench/1"``).

The JSON holds the configuration, the environment, each target's summary and every raw
per-request sample (warm-up included, flagged), so any figure can be recomputed or plotted
elsewhere. Sample times are stored with microsecond resolution.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs

from .errors import ReportFormatError
from .metrics import DEFAULT_PERCENTILES, LatencyMetric, TargetSummary, vllm_metrics
from .samples import RequestSample

__all__ = [
    "SCHEMA",
    "BenchReport",
    "TargetResult",
    "collect_environment",
    "load_report",
    "report_from_dict",
    "report_to_dict",
    "save_report",
]

SCHEMA = "hafs-bench/1"
_SAMPLE_DIGITS = 6

_converter = cattrs.Converter(forbid_extra_keys=False)


@attrs.frozen
class TargetResult:
    """One target's outcome. ``window_start`` is when measurement began (seconds from the
    target's run start); ``drain_timed_out`` says requests were cancelled at the end."""

    name: str
    description: dict[str, str]
    summary: TargetSummary
    samples: tuple[RequestSample, ...]
    window_start: float = 0.0
    drain_timed_out: bool = False

    def values(self, metric: LatencyMetric) -> list[float]:
        """Every measured value of ``metric`` (successful, non-warm-up requests), sorted."""
        ok = [s for s in self.samples if s.ok and not s.warmup]
        values: list[float]
        if metric == "itl":
            values = [g for s in ok for g in s.itl()]
        elif metric == "e2e":
            values = [s.e2e for s in ok]
        else:
            values = [v for s in ok if (v := getattr(s, metric)) is not None]
        values.sort()
        return values


@attrs.frozen
class BenchReport:
    """Everything one run produced. ``targets`` keep the order they were given in."""

    config: dict[str, Any]
    environment: dict[str, Any]
    targets: tuple[TargetResult, ...]
    created: str = ""
    schema: str = SCHEMA

    def target(self, name: str) -> TargetResult:
        for result in self.targets:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_json(self) -> str:
        """Readable JSON: nested objects indented, flat records (a sample, a distribution)
        each on one line, so the file stays small enough to page through."""
        return _pretty(report_to_dict(self), 0)

    @classmethod
    def from_json(cls, text: str, *, source: str = "<string>") -> BenchReport:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportFormatError(f"{source}: not JSON ({exc})") from None
        return report_from_dict(data, source=source)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _is_flat(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return all(
        _is_scalar(v) or (isinstance(v, list) and all(_is_scalar(x) for x in v)) for v in items
    )


def _pretty(value: Any, level: int) -> str:
    if _is_scalar(value) or not value or _is_flat(value):
        return json.dumps(value, ensure_ascii=False)
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict):
        body = ",\n".join(
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, level + 1)}"
            for k, v in value.items()
        )
        return f"{{\n{body}\n{pad}}}"
    body = ",\n".join(f"{inner}{_pretty(v, level + 1)}" for v in value)
    return f"[\n{body}\n{pad}]"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect_environment(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Where the run happened: interpreter, OS, CPUs and the versions that matter."""
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(affinity(0)) if affinity is not None else None,
        "argv0": Path(sys.argv[0]).name if sys.argv and sys.argv[0] else None,
        "versions": {name: _version(name) for name in ("hafs-actors", "trio", "httpx", "h11")},
        **dict(extra or {}),
    }


def utc_now_iso() -> str:
    """Wall-clock creation stamp for the report's metadata (never used for measurement)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _round_sample(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("start", "e2e", "scheduled", "queued"):
        value = data.get(key)
        if isinstance(value, float):
            data[key] = round(value, _SAMPLE_DIGITS)
    data["chunks"] = [round(c, _SAMPLE_DIGITS) for c in data["chunks"]]
    return data


def report_to_dict(report: BenchReport) -> dict[str, Any]:
    """The JSON-ready form of ``report``."""
    return {
        "schema": report.schema,
        "created": report.created,
        "config": report.config,
        "environment": report.environment,
        "targets": [
            {
                "name": t.name,
                "description": dict(t.description),
                "window_start": t.window_start,
                "drain_timed_out": t.drain_timed_out,
                "summary": _converter.unstructure(t.summary),
                "vllm": vllm_metrics(
                    t.summary, report.config.get("percentiles") or DEFAULT_PERCENTILES
                ),
                "samples": [_round_sample(_converter.unstructure(s)) for s in t.samples],
            }
            for t in report.targets
        ],
    }


def report_from_dict(data: Any, *, source: str = "<data>") -> BenchReport:
    """Rebuild a report, checking the schema; errors say which file and which field."""
    if not isinstance(data, dict):
        raise ReportFormatError(f"{source}: expected a JSON object at the top level")
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith("hafs-bench/"):
        raise ReportFormatError(f"{source}: not a hafs-bench report (schema={schema!r})")
    if schema != SCHEMA:
        raise ReportFormatError(f"{source}: schema {schema!r} is not supported (need {SCHEMA})")
    targets = data.get("targets")
    if not isinstance(targets, list):
        raise ReportFormatError(f"{source}: 'targets' must be a list")
    results: list[TargetResult] = []
    for i, raw in enumerate(targets):
        where = f"{source}: targets[{i}]"
        if not isinstance(raw, dict):
            raise ReportFormatError(f"{where} must be an object")
        try:
            summary = _converter.structure(raw["summary"], TargetSummary)
            samples = tuple(_converter.structure(s, RequestSample) for s in raw.get("samples", []))
            results.append(
                TargetResult(
                    name=str(raw["name"]),
                    description={str(k): str(v) for k, v in raw.get("description", {}).items()},
                    summary=summary,
                    samples=samples,
                    window_start=float(raw.get("window_start", 0.0)),
                    drain_timed_out=bool(raw.get("drain_timed_out", False)),
                )
            )
        except KeyError as exc:
            raise ReportFormatError(f"{where}: missing field {exc}") from None
        except cattrs.BaseValidationError as exc:
            detail = "; ".join(cattrs.transform_error(exc))
            raise ReportFormatError(f"{where}: {detail}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ReportFormatError(f"{where}: {exc}") from None
    return BenchReport(
        config=dict(data.get("config") or {}),
        environment=dict(data.get("environment") or {}),
        targets=tuple(results),
        created=str(data.get("created", "")),
        schema=schema,
    )


def save_report(report: BenchReport, path: str | os.PathLike[str]) -> Path:
    """Write the JSON report to ``path`` and return it."""
    target = Path(path)
    target.write_text(report.to_json() + "\n", encoding="utf-8")
    return target


def load_report(path: str | os.PathLike[str]) -> BenchReport:
    """Read a JSON report written by :func:`save_report` (or ``hafs bench --out``)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportFormatError(f"{source}: cannot read ({exc.strerror or exc})") from None
    return BenchReport.from_json(text, source=str(source))
