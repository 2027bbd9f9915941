"""Window aggregates, counter increases across wraps and resets, and the linear forecast."""

from __future__ import annotations

import math
import statistics

from hypothesis import given
from hypothesis import strategies as st

from watchd.model import counter_increase
from watchd.rules.conditions.aggregates import Window, aggregate, percentile, window_value
from watchd.rules.conditions.forecast import fit_line
from watchd.rules.model import OPERATORS, Over, Threshold

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
values = st.lists(finite, min_size=1, max_size=60)


@given(values)
def test_gauge_aggregates_match_the_textbook(xs: list[float]) -> None:
    """avg, min, max, last, sum and count agree with the standard library."""
    assert math.isclose(aggregate("avg", xs), statistics.fmean(xs), rel_tol=1e-9, abs_tol=1e-6)
    assert aggregate("min", xs) == min(xs)
    assert aggregate("max", xs) == max(xs)
    assert aggregate("last", xs) == xs[-1]
    assert math.isclose(aggregate("sum", xs), math.fsum(xs), rel_tol=1e-9, abs_tol=1e-6)
    assert aggregate("count", xs) == len(xs)


@given(values, st.floats(min_value=0.01, max_value=100), st.floats(min_value=0.01, max_value=100))
def test_percentile_is_bounded_and_monotonic(xs: list[float], q1: float, q2: float) -> None:
    """A percentile lies within min..max and never falls as q rises; p100 is the max."""
    low, high = sorted((q1, q2))
    assert min(xs) <= percentile(xs, low) <= percentile(xs, high) <= max(xs)
    assert percentile(xs, 100) == max(xs)


def test_percentile_interpolates_linearly() -> None:
    """p90 of 1..10 is 9.1, as numpy's default computes it."""
    assert math.isclose(percentile([float(i) for i in range(1, 11)], 90), 9.1)


@given(
    st.sampled_from([32, 64]),
    st.integers(min_value=0),
    st.lists(st.integers(min_value=0, max_value=2**31), min_size=1, max_size=30),
)
def test_delta_over_a_wrapping_counter_is_the_true_growth(
    bits: int, start: int, increments: list[int]
) -> None:
    """Readings taken modulo 2**bits give back the exact sum of the increments."""
    start %= 2**bits
    readings = [start]
    for inc in increments:
        readings.append((readings[-1] + inc) % 2**bits)
    points = Window([(0.0, float(readings[0]), 0.0)])
    for i in range(1, len(readings)):
        inc = counter_increase(readings[i - 1], readings[i], bits=bits)
        points.add(float(i * 60), float(readings[i]), inc)
    over = Over(window=1e9, fn="delta", counter_bits=bits)
    assert window_value(over, points) == sum(increments)
    rate = window_value(Over(window=1e9, fn="rate", counter_bits=bits), points)
    assert rate is not None and math.isclose(rate, sum(increments) / (60 * len(increments)))


@given(st.integers(min_value=1, max_value=2**32 - 1), st.integers(min_value=0, max_value=2**32 - 1))
def test_a_reset_counts_from_zero_not_as_a_wrap(previous: int, current: int) -> None:
    """After a reset the growth is the current reading, whatever the width."""
    assert counter_increase(previous, current, bits=32, reset=True) == current


def test_rate_needs_two_points_and_evict_keeps_the_window() -> None:
    """One point gives no rate; points at or before now - window are dropped, and evict says
    how much counter increase left with them."""
    points = Window([(0.0, 1.0, 0.0)])
    assert window_value(Over(window=300, fn="rate"), points) is None
    points.add(300.0, 2.0, 1.0)
    points.add(301.0, 3.0, 1.0)
    assert points.evict(600.0, 300.0) == 1.0
    assert points.tolist() == [301.0, 3.0, 1.0]


@given(
    st.floats(min_value=-100, max_value=100, allow_nan=False),
    st.floats(min_value=-1e-2, max_value=1e-2, allow_nan=False).filter(lambda s: abs(s) > 1e-6),
)
def test_a_fit_through_a_line_finds_its_crossing(intercept: float, slope: float) -> None:
    """Points on an exact line give back the slope and the time it meets a threshold."""
    times = [t * 600.0 for t in range(10)]
    fit = fit_line(times, [intercept + slope * t for t in times])
    assert fit is not None and math.isclose(fit.slope, slope, rel_tol=1e-6)
    target = intercept + slope * 1e6
    op = ">=" if slope > 0 else "<="
    when = fit.crossing(Threshold(op, target, OPERATORS[op]), 5400.0)
    assert when is not None and math.isclose(when, 1e6, rel_tol=1e-6)
    away = "<=" if slope > 0 else ">="
    assert fit.crossing(Threshold(away, intercept - slope * 1e6, OPERATORS[away]), 5400.0) is None


def test_a_fit_needs_two_distinct_times() -> None:
    """No line through a single instant."""
    assert fit_line([1.0, 1.0], [1.0, 2.0]) is None
