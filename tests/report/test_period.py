"""Report periods in the configured time zone: local months and days, DST-length days, times
shown to the second with their offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchd.report.period import Period, PeriodError, iso, local_days


def ts(text: str) -> float:
    """Epoch seconds of an ISO time, UTC unless it says otherwise."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def test_a_month_in_shanghai_is_the_local_business_month() -> None:
    """November in Asia/Shanghai runs from Oct 31 16:00 UTC to Nov 30 16:00 UTC, not UTC midnights."""
    month = Period.month("2026-11", "Asia/Shanghai")
    assert (month.start, month.end) == (ts("2026-10-31T16:00"), ts("2026-11-30T16:00"))
    assert iso(month.start, "Asia/Shanghai") == "2026-11-01T00:00:00+08:00"
    days = local_days(month.start, month.end, "Asia/Shanghai")
    assert len(days) == 30 and days[0] == (ts("2026-10-31T16:00"), ts("2026-11-01T16:00"))


def test_the_month_a_moment_falls_in_is_local() -> None:
    """At 2026-11-30T17:00Z it is already December in Shanghai, still November in UTC."""
    now = ts("2026-11-30T17:00")
    assert Period.this_month(now, "Asia/Shanghai").label == "2026-12"
    assert Period.this_month(now).label == "2026-11"


def test_days_across_the_dst_changes_in_berlin_are_23_and_25_hours() -> None:
    """In Europe/Berlin, 2026-03-29 has 23 hours and 2026-10-25 has 25; months end at local midnight."""
    march = Period.month("2026-03", "Europe/Berlin")
    days = local_days(march.start, march.end, "Europe/Berlin")
    lengths = {iso(a, "Europe/Berlin")[:10]: (b - a) / 3600 for a, b in days}
    assert lengths["2026-03-29"] == 23 and lengths["2026-03-28"] == 24
    assert march.end - march.start == (31 * 24 - 1) * 3600
    assert iso(march.end, "Europe/Berlin") == "2026-04-01T00:00:00+02:00"
    october = Period.month("2026-10", "Europe/Berlin")
    days = local_days(october.start, october.end, "Europe/Berlin")
    assert [
        (b - a) / 3600 for a, b in days if iso(a, "Europe/Berlin").startswith("2026-10-25")
    ] == [25]
    assert october.end - october.start == (31 * 24 + 1) * 3600


def test_a_span_without_an_offset_is_local_and_one_with_an_offset_is_kept() -> None:
    """--from/--to dates are local midnights in the configured zone unless they give an offset."""
    span = Period.between("2026-10-05", "2026-10-06T12:00:00+00:00", "Asia/Shanghai")
    assert (span.start, span.end) == (ts("2026-10-04T16:00"), ts("2026-10-06T12:00"))
    assert local_days(span.start, span.end, "Asia/Shanghai")[-1] == (
        ts("2026-10-05T16:00"),
        ts("2026-10-06T12:00"),
    )


def test_times_are_shown_to_the_second_with_the_zone() -> None:
    """No microseconds: 12:00:00.123456 UTC is 20:00:00+08:00 in Shanghai and ...Z in UTC."""
    t = ts("2026-10-05T12:00:00.123456")
    assert iso(t, "Asia/Shanghai") == "2026-10-05T20:00:00+08:00"
    assert iso(t, "UTC") == "2026-10-05T12:00:00Z"


def test_the_previous_period_of_a_month_is_the_month_before_and_of_a_span_as_long() -> None:
    """The comparison period: October for November (local), the same length before a span."""
    previous = Period.month("2026-11", "Asia/Shanghai").previous()
    assert previous == Period.month("2026-10", "Asia/Shanghai")
    span = Period.between("2026-10-05", "2026-10-07")
    assert (span.previous().start, span.previous().end) == (ts("2026-10-03"), ts("2026-10-05"))


def test_a_bad_month_names_what_was_expected() -> None:
    """A month like 2026-13 is refused with the expected form in any zone."""
    with pytest.raises(PeriodError, match="YYYY-MM"):
        Period.month("2026-13", "Asia/Shanghai")
