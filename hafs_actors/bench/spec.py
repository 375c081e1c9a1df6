"""What to run: :class:`BenchSpec`, the input of :func:`~hafs_actors.bench.run_benchmark`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from .datasets import Dataset, LengthDistribution, SyntheticDataset
from .errors import BenchSpecError
from .load import ClosedLoop, LoadModel, OpenLoop
from .metrics import DEFAULT_PERCENTILES, Slo
from .targets import BenchTarget

__all__ = ["BenchSpec"]


def _to_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen
class BenchSpec:
    """A benchmark run: targets, load model, stop condition, warm-up, request shape, SLOs.

    Give exactly one of ``requests`` (measured requests per target) and ``duration`` (seconds
    of measured load per target). Warm-up (``warmup_requests`` or ``warmup_seconds``) runs the
    same load first and is excluded from every metric. Targets run one after another so they
    do not compete for the client's CPU, unless ``parallel_targets``; every target gets the
    same seeded schedule and prompts. After the last request is issued, requests still in
    flight get ``drain_timeout`` seconds before they are cancelled (and recorded as such).
    Requests come from ``dataset`` (default: synthetic, ``prompt_tokens`` in and
    ``max_tokens`` out). ``percentiles`` are reported for every latency metric; ``label``
    names the run in reports and comparisons.
    """

    targets: tuple[BenchTarget, ...] = attrs.field(converter=_to_tuple)
    load: LoadModel = attrs.field(factory=lambda: ClosedLoop(concurrency=1))
    requests: int | None = None
    duration: float | None = None
    warmup_requests: int = 0
    warmup_seconds: float = 0.0
    max_tokens: int = 128
    prompt_tokens: int = 64
    slos: tuple[Slo, ...] = attrs.field(default=(), converter=_to_tuple)
    seed: int = 0
    drain_timeout: float = 60.0
    parallel_targets: bool = False
    late_threshold: float = 0.01
    dataset: Dataset | None = None
    percentiles: tuple[float, ...] = attrs.field(default=DEFAULT_PERCENTILES, converter=_to_tuple)
    label: str = ""
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def requests_source(self) -> Dataset:
        """The dataset requests come from."""
        if self.dataset is not None:
            return self.dataset
        return SyntheticDataset(
            LengthDistribution("fixed", self.prompt_tokens),
            LengthDistribution("fixed", self.max_tokens),
        )

    def __attrs_post_init__(self) -> None:
        if not self.targets:
            raise BenchSpecError("a benchmark needs at least one target")
        names = [t.name for t in self.targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise BenchSpecError(f"target names must be unique: {', '.join(duplicates)}")
        if not isinstance(self.load, (ClosedLoop, OpenLoop)):
            raise BenchSpecError(f"load must be ClosedLoop or OpenLoop, got {self.load!r}")
        if (self.requests is None) == (self.duration is None):
            raise BenchSpecError("give exactly one of requests and duration")
        if self.requests is not None and self.requests < 1:
            raise BenchSpecError(f"requests must be at least 1, got {self.requests}")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise BenchSpecError(f"duration must be a positive number, got {self.duration}")
        if self.warmup_requests < 0:
            raise BenchSpecError(f"warmup_requests must be >= 0, got {self.warmup_requests}")
        if not (self.warmup_seconds >= 0 and math.isfinite(self.warmup_seconds)):
            raise BenchSpecError(f"warmup_seconds must be >= 0, got {self.warmup_seconds}")
        if self.warmup_requests and self.warmup_seconds:
            raise BenchSpecError("give warm-up as a request count or as seconds, not both")
        if self.max_tokens < 1:
            raise BenchSpecError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.prompt_tokens < 1:
            raise BenchSpecError(f"prompt_tokens must be at least 1, got {self.prompt_tokens}")
        if not (self.drain_timeout >= 0 and math.isfinite(self.drain_timeout)):
            raise BenchSpecError(f"drain_timeout must be >= 0, got {self.drain_timeout}")
        if not (self.late_threshold >= 0):
            raise BenchSpecError(f"late_threshold must be >= 0, got {self.late_threshold}")
        if not self.percentiles or not all(0 <= p <= 100 for p in self.percentiles):
            raise BenchSpecError(f"percentiles must be within 0..100, got {self.percentiles}")
        metrics = [s.metric for s in self.slos]
        if len(set(metrics)) != len(metrics):
            raise BenchSpecError("give at most one SLO per metric")

    def config_record(self) -> dict[str, Any]:
        """The run's configuration as plain JSON data, for the report."""
        load: dict[str, Any]
        if isinstance(self.load, ClosedLoop):
            load = {"model": "closed", "concurrency": self.load.concurrency}
        else:
            load = {
                "model": "open",
                "rate": self.load.rate,
                "arrival": self.load.arrival,
                "burstiness": self.load.burstiness,
                "max_outstanding": self.load.max_outstanding,
                "max_concurrency": self.load.max_concurrency,
            }
        load["ramp"] = self.load.ramp
        load["description"] = self.load.describe()
        return {
            "targets": [{"name": t.name, **t.description} for t in self.targets],
            "load": load,
            "requests": self.requests,
            "duration": self.duration,
            "warmup_requests": self.warmup_requests,
            "warmup_seconds": self.warmup_seconds,
            "max_tokens": self.max_tokens,
            "prompt_tokens": self.prompt_tokens,
            "dataset": self.requests_source.describe(),
            "percentiles": list(self.percentiles),
            "label": self.label,
            "slos": [{"metric": s.metric, "threshold": s.threshold} for s in self.slos],
            "seed": self.seed,
            "drain_timeout": self.drain_timeout,
            "parallel_targets": self.parallel_targets,
            "late_threshold": self.late_threshold,
            **dict(self.metadata),
        }
