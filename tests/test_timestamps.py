"""The range of times watchd accepts and shows (watchd.timestamps)."""

from __future__ import annotations

import math

import pytest

from watchd.timestamps import EARLIEST, LATEST, format_time, shown_time, time_problem


@pytest.mark.parametrize("value", [EARLIEST, 1.8e9, LATEST])
def test_times_from_1970_to_9999_are_accepted(value: float) -> None:
    """The epoch, now and the last second of year 9999 are times."""
    assert time_problem(value) is None


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e13, 1e300, -1.0, LATEST + 1])
def test_other_values_are_refused_with_the_range_and_the_value(value: float) -> None:
    """Infinity, NaN and times outside 1970..9999 get a reason naming the range and the value."""
    problem = time_problem(value)
    assert problem is not None and "9999-12-31" in problem and repr(value) in problem


def test_stored_values_are_shown_clamped_and_marked() -> None:
    """Out-of-range stored times show at the nearest end, marked with what was stored; NaN
    (PostgreSQL sorts it above every number) shows as the latest time."""
    assert shown_time(math.inf) == shown_time(1e300) == shown_time(math.nan) == LATEST
    assert shown_time(-math.inf) == EARLIEST
    assert format_time(1e13) == "9999-12-31 23:59:59 UTC (stored as 10000000000000.0)"
    assert format_time(0.0) == "1970-01-01 00:00:00 UTC"
