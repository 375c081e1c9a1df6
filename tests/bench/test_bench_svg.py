"""The chart helpers: tick values, axis ranges, latency labels."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.bench.svg import Series, axis_limit, format_seconds, format_tick, nice_ticks


@given(
    low=st.floats(min_value=0, max_value=1e3),
    span=st.floats(min_value=1e-6, max_value=1e4),
    count=st.integers(2, 10),
)
def test_nice_ticks_cover_the_range_with_round_steps(low, span, count):
    high = low + span
    ticks = nice_ticks(low, high, count)
    assert ticks == sorted(ticks)
    assert 1 <= len(ticks) <= 2 * count + 2
    assert all(low - span * 1e-6 <= t <= high + span * 1e-6 for t in ticks)
    if len(ticks) > 1:
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        # ticks[1] - ticks[0] carries the rounding error of numbers as large as ``high``
        float_error = 10 * 4.5e-16 * abs(high) / step
        assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6 + float_error


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.00085, "850 µs"), (0.0123, "12.3 ms"), (0.25, "250 ms"), (1.254, "1.25 s"), (0, "0 ms")],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_format_tick_drops_trailing_zeros():
    assert [format_tick(t) for t in (0, 0.0005, 0.25, 1.5, 2.0)] == [
        "0",
        "500 µs",
        "250 ms",
        "1.5 s",
        "2 s",
    ]


def test_axis_starts_at_zero_unless_values_are_far_from_it():
    wide = Series("a", "#000", [0.1, 0.2, 0.9])
    assert axis_limit([wide])[0] == 0.0
    narrow = Series("b", "#000", [0.0102, 0.0105, 0.0113])
    low, high, clipped = axis_limit([narrow])
    assert 0.0 < low < 0.0102 < 0.0113 < high
    assert not clipped


def test_axis_clips_a_far_tail():
    values = sorted([0.1] * 999 + [50.0])
    low, high, clipped = axis_limit([Series("a", "#000", values)])
    assert clipped
    assert high < 1.0
    assert 0.0 < low < 0.1
