"""Percentiles, distributions, SLO parsing and the arrival processes."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.bench import (
    BenchSpec,
    BenchSpecError,
    ClosedLoop,
    Distribution,
    OpenLoop,
    RequestSample,
    Slo,
    parse_duration,
    parse_slo,
    percentile,
    summarize,
)

floats = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)


@given(st.lists(floats, min_size=2, max_size=200))
def test_percentile_matches_the_inclusive_quantiles(values):
    ordered = sorted(values)
    # statistics.quantiles(method="inclusive") is the same linear interpolation as numpy's default.
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    for p in range(1, 100):
        assert percentile(ordered, p) == pytest.approx(cuts[p - 1], rel=1e-9, abs=1e-9)
    assert percentile(ordered, 0) == ordered[0]
    assert percentile(ordered, 100) == ordered[-1]


@given(st.lists(floats, min_size=1, max_size=200))
def test_distribution_is_ordered_and_bounded(values):
    d = Distribution.of(values)
    assert d is not None
    assert d.count == len(values)
    assert d.min <= d.p50 <= d.p90 <= d.p95 <= d.p99 <= d.max
    assert d.min - 1e-9 <= d.mean <= d.max + 1e-9
    assert d.std == pytest.approx(statistics.pstdev(values), rel=1e-6, abs=1e-9)


def test_distribution_of_nothing_is_unknown():
    assert Distribution.of([]) is None
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_single_value_distribution():
    d = Distribution.of([0.25])
    assert d == Distribution(
        1,
        0.25,
        0.0,
        0.25,
        0.25,
        0.25,
        0.25,
        0.25,
        0.25,
        {"p50": 0.25, "p90": 0.25, "p95": 0.25, "p99": 0.25},
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("1.5", 1.5), ("250us", 250e-6), ("1m", 60.0), (" 3 s ", 3.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "1h", "-1s", "1..2s"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_slo():
    assert parse_slo("ttft=500ms") == Slo("ttft", 0.5)
    assert parse_slo("E2E=2s") == Slo("e2e", 2.0)
    assert parse_slo("tpot=50") == Slo("tpot", 0.05)  # bare numbers are milliseconds
    assert str(parse_slo("ttft=0.5s")) == "ttft<=500ms"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ttft", "METRIC=DURATION"),
        ("ttft=", "METRIC=DURATION"),
        ("itl=5ms", "one of ttft, tpot, e2e"),
        ("ttft=0", "positive"),
        ("ttft=soon", "not a duration"),
    ],
)
def test_parse_slo_errors_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_slo(text)


def _sample(index, *, ttft=0.1, e2e=0.5, tokens=5, error=None, warmup=False, start=0.0):
    return RequestSample(
        index=index,
        warmup=warmup,
        start=start,
        e2e=e2e,
        chunks=(ttft, e2e) if error is None else (),
        output_tokens=tokens,
        tokens_source="usage",
        error_type=error,
    )


def test_summarize_from_samples():
    samples = [
        _sample(0, warmup=True, e2e=9.0),
        _sample(1, start=1.0),
        _sample(2, start=1.5, ttft=0.3, e2e=1.1),
        _sample(3, start=2.0, error="ServerError", e2e=0.2),
    ]
    s = summarize(samples, window_start=1.0, slos=[Slo("ttft", 0.2)], dropped=1)
    assert (s.requests, s.ok, s.errors, s.warmup_requests, s.dropped) == (
        3,
        2,
        {"ServerError": 1},
        1,
        1,
    )
    assert s.duration == pytest.approx(1.6)  # last end 2.6 (2.2 failed, 2.6 ok) - 1.0
    assert s.request_rate == pytest.approx(2 / 1.6)
    assert s.ttft is not None
    assert s.ttft.mean == pytest.approx(0.2)
    assert s.tpot is not None
    assert s.tpot.max == pytest.approx((1.1 - 0.3) / 4)
    assert s.goodput is not None
    assert (s.goodput.good, s.goodput.offered) == (1, 4)


def test_summarize_nothing_measured():
    s = summarize([_sample(0, warmup=True)], window_start=0.0)
    assert (s.requests, s.duration, s.request_rate, s.ttft, s.goodput) == (0, 0.0, 0.0, None, None)


# --- arrival processes -------------------------------------------------------------------


def _gaps(load: OpenLoop, n: int, seed: int = 1) -> list[float]:
    times = load.arrival_times(random.Random(seed))
    points = [next(times) for _ in range(n + 1)]
    return [b - a for a, b in itertools.pairwise(points)]


def test_poisson_arrivals_have_the_requested_rate():
    gaps = _gaps(OpenLoop(rate=50.0), 20_000)
    assert statistics.fmean(gaps) == pytest.approx(1 / 50, rel=0.03)
    # Exponential gaps: the standard deviation equals the mean.
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_burstiness_sets_the_variability(burstiness):
    gaps = _gaps(OpenLoop(rate=20.0, arrival="gamma", burstiness=burstiness), 20_000)
    assert statistics.fmean(gaps) == pytest.approx(1 / 20, rel=0.04)
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    assert cv == pytest.approx(1 / math.sqrt(burstiness), rel=0.08)


def test_constant_arrivals_are_evenly_spaced():
    assert _gaps(OpenLoop(rate=4.0, arrival="constant"), 5) == [0.25] * 5


@given(
    rate=st.floats(min_value=0.1, max_value=1000),
    ramp=st.floats(min_value=0.0, max_value=100),
    t=st.floats(min_value=0.0, max_value=1000),
)
def test_intensity_and_its_inverse_agree(rate, ramp, t):
    load = OpenLoop(rate=rate, ramp=ramp)
    assert load.time_at(load.intensity(t)) == pytest.approx(t, rel=1e-7, abs=1e-7)


@given(
    rate=st.floats(min_value=0.1, max_value=100),
    ramp=st.floats(min_value=0.0, max_value=30),
    seed=st.integers(0, 2**32),
    arrival=st.sampled_from(["poisson", "gamma", "constant"]),
)
def test_arrivals_start_at_zero_and_never_go_back(rate, ramp, seed, arrival):
    burst = 0.5 if arrival == "gamma" else 1.0
    load = OpenLoop(rate=rate, arrival=arrival, burstiness=burst, ramp=ramp)
    times = load.arrival_times(random.Random(seed))
    points = [next(times) for _ in range(50)]
    assert points[0] == 0.0
    assert points == sorted(points)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: OpenLoop(rate=0), "rate"),
        (lambda: OpenLoop(rate=float("inf")), "rate"),
        (lambda: OpenLoop(rate=1, burstiness=0.5), "gamma arrivals only"),
        (lambda: OpenLoop(rate=1, arrival="gamma", burstiness=0), "burstiness"),
        (lambda: OpenLoop(rate=1, arrival="uniform"), "arrival"),  # type: ignore[arg-type]
        (lambda: OpenLoop(rate=1, max_outstanding=0), "max_outstanding"),
        (lambda: OpenLoop(rate=1, ramp=-1), "ramp"),
        (lambda: ClosedLoop(concurrency=0), "concurrency"),
    ],
)
def test_load_models_reject_bad_values(make, message):
    with pytest.raises(BenchSpecError, match=message):
        make()


class _Named:
    def __init__(self, name):
        self.name = name
        self.description = {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": []}, "at least one target"),
        ({"targets": [_Named("a"), _Named("a")], "requests": 1}, "unique: a"),
        ({"targets": [_Named("a")]}, "exactly one of requests and duration"),
        ({"targets": [_Named("a")], "requests": 1, "duration": 2.0}, "exactly one"),
        ({"targets": [_Named("a")], "requests": 0}, "requests"),
        ({"targets": [_Named("a")], "duration": -1.0}, "duration"),
        (
            {"targets": [_Named("a")], "requests": 1, "warmup_requests": 1, "warmup_seconds": 1.0},
            "not both",
        ),
        ({"targets": [_Named("a")], "requests": 1, "max_tokens": 0}, "max_tokens"),
        (
            {"targets": [_Named("a")], "requests": 1, "slos": [Slo("ttft", 1), Slo("ttft", 2)]},
            "one SLO per metric",
        ),
    ],
)
def test_spec_rejects_bad_values(kwargs, message):
    with pytest.raises(BenchSpecError, match=message):
        BenchSpec(**kwargs)
