"""The range of times watchd stores and shows: from the epoch to the last second of year 9999.

A time outside it cannot be shown as a date (Python's datetime stops at year 9999), is not
JSON when it is infinite or NaN, and means nothing for a silence or a change. Input is checked
with `time_problem` where it enters (API, CLI); rows stored before that check existed are shown
with `shown_time` (clamped into the range) so a page never fails on them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from watchd.locale_format import format_moment

EARLIEST = 0.0
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z
_RANGE = "a time between 1970-01-01 and 9999-12-31 (UTC)"


def time_problem(value: float) -> str | None:
    """Why `value` (seconds since the epoch) is not a time watchd accepts, or None when it is."""
    if not math.isfinite(value):
        return f"expected {_RANGE}, got {value!r}"
    if not EARLIEST <= value <= LATEST:
        return f"expected {_RANGE}, got {value!r} seconds since the epoch"
    return None


def shown_time(value: float) -> float:
    """`value` clamped into the range, for stored rows. NaN (only PostgreSQL stores it) counts
    as the latest time: PostgreSQL sorts it above every number, so it acts like one."""
    if math.isnan(value):
        return LATEST
    return min(max(value, EARLIEST), LATEST)


def format_time(
    value: float, fmt: str = "%Y-%m-%d %H:%M:%S UTC", locale: str = "en", zone: str = "UTC"
) -> str:
    """A stored time as text: in UTC as `fmt` says (English) or as the locale writes a date and
    time, marked UTC; in another `zone` (an IANA name), to the second with its offset
    ("2026-11-30 10:05:03 +08:00"). One outside the range is shown clamped and marked with
    "(stored as <value>)" instead of failing."""
    shown = shown_time(value)
    if zone == "UTC":
        text = format_moment(datetime.fromtimestamp(shown, UTC), locale, fmt)
        if locale != "en":
            text += " UTC"  # the locale's own pattern names no zone
    else:
        moment = datetime.fromtimestamp(shown, ZoneInfo(zone))
        offset = moment.strftime("%z")
        text = f"{format_moment(moment, locale, '%Y-%m-%d %H:%M:%S')} {offset[:3]}:{offset[3:]}"
    return text if shown == value else f"{text} (stored as {value!r})"
