"""Time intervals as Alertmanager evaluates them: an instant is inside an interval when every
listed field (times, weekdays, days of month, months) matches, in the interval's time zone."""

from __future__ import annotations

import calendar
import zoneinfo
from datetime import datetime

from watchd.notify.config import WEEKDAYS, TimeInterval

# A route muted for longer than this is looked at again then (an interval list that never ends).
_HORIZON = 8 * 86400.0


def contains(interval: TimeInterval, t: float) -> bool:
    """True when the instant `t` (epoch seconds) is inside `interval`."""
    local = datetime.fromtimestamp(t, zoneinfo.ZoneInfo(interval.location))
    if interval.times:
        minute = local.hour * 60 + local.minute
        if not any(_in_times(text, minute) for text in interval.times):
            return False
    if interval.weekdays and not any(
        _in_weekdays(text, local.weekday()) for text in interval.weekdays
    ):
        return False
    if interval.days_of_month:
        last = calendar.monthrange(local.year, local.month)[1]
        if not any(_in_days(text, local.day, last) for text in interval.days_of_month):
            return False
    return not interval.months or any(_in_numbers(text, local.month) for text in interval.months)


def any_contains(intervals: tuple[TimeInterval, ...], t: float) -> bool:
    return any(contains(i, t) for i in intervals)


def next_unmuted(
    active: tuple[TimeInterval, ...], mute: tuple[TimeInterval, ...], t: float
) -> float:
    """The first instant at or after `t` (minute steps) when a route with these active and mute
    intervals may notify; `t` itself when it may notify now."""
    probe = t
    while probe - t < _HORIZON:
        if not is_muted(active, mute, probe):
            return probe
        probe = (probe // 60 + 1) * 60
    return probe


def is_muted(active: tuple[TimeInterval, ...], mute: tuple[TimeInterval, ...], t: float) -> bool:
    """Muted now: outside every active interval (when there are some) or inside a mute one."""
    if active and not any_contains(active, t):
        return True
    return any_contains(mute, t)


def _in_times(text: str, minute: int) -> bool:
    start, end = text.split("-")
    low = int(start[:2]) * 60 + int(start[3:])
    high = int(end[:2]) * 60 + int(end[3:])
    return low <= minute < high


def _in_weekdays(text: str, weekday: int) -> bool:
    parts = [WEEKDAYS.index(p) for p in text.lower().split(":")]
    return parts[0] <= weekday <= parts[-1]


def _in_numbers(text: str, value: int) -> bool:
    parts = [int(p) for p in text.split(":")]
    return parts[0] <= value <= parts[-1]


def _in_days(text: str, day: int, last: int) -> bool:
    parts = [int(p) for p in text.split(":")]
    low, high = (p if p > 0 else last + 1 + p for p in (parts[0], parts[-1]))
    return low <= day <= high
