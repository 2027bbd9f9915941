"""Numbers, dates and times as each shipped locale writes them."""

from __future__ import annotations

import datetime as dt

from watchd.locale_format import format_day, format_moment, format_number
from watchd.timestamps import format_time

MOMENT = dt.datetime(2026, 11, 30, 2, 5, 3, tzinfo=dt.UTC)


def test_english_keeps_watchds_iso_times_and_grouped_numbers() -> None:
    """en writes times as watchd always did (ISO, 24-hour, to the second) and numbers with comma grouping."""
    assert format_time(MOMENT.timestamp()) == "2026-11-30 02:05:03 UTC"
    assert format_moment(MOMENT, "en", "%Y-%m-%d %H:%M") == "2026-11-30 02:05"
    assert format_day(MOMENT.date(), "en") == "2026-11-30"
    assert format_number(11301, "en") == "11,301"
    assert format_number(99.9, "en", 3) == "99.900"


def test_chinese_writes_cldr_dates_with_24_hour_times_and_grouped_numbers() -> None:
    """zh_CN writes 2026年11月30日 02:05:03 (marked UTC on the dashboard), and 11,301 and 99.900 as its CLDR data says."""
    assert format_time(MOMENT.timestamp(), locale="zh_CN") == "2026年11月30日 02:05:03 UTC"
    assert format_day(MOMENT.date(), "zh_CN") == "2026年11月30日"
    assert format_number(11301, "zh_CN") == "11,301"
    assert format_number(99.9, "zh_CN", 3) == "99.900"


def test_a_stored_time_out_of_range_is_shown_clamped_and_marked_in_every_locale() -> None:
    """A row stored before times were checked shows clamped with its stored value, in Chinese too."""
    assert format_time(-5.0, locale="zh_CN") == "1970年1月1日 00:00:00 UTC (stored as -5.0)"


def test_a_time_in_the_daemons_zone_is_shown_with_its_offset() -> None:
    """With a time zone other than UTC a stored time is shown local to the second with its offset, in English and Chinese."""
    assert format_time(MOMENT.timestamp(), zone="Asia/Shanghai") == "2026-11-30 10:05:03 +08:00"
    shanghai = format_time(MOMENT.timestamp(), locale="zh_CN", zone="Asia/Shanghai")
    assert shanghai == "2026年11月30日 10:05:03 +08:00"
    assert format_time(MOMENT.timestamp(), zone="America/New_York") == "2026-11-29 21:05:03 -05:00"
