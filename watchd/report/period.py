"""Report periods and times in the configured time zone (`[daemon] timezone`).

Storage is UTC epoch seconds; a report's month, its days and its weeks are local ones, so a
team in Asia/Shanghai gets its business month (from 16:00 UTC on the last day of the month
before) and a team in Europe/Berlin gets a 23-hour day when clocks go forward.

    Period.month("2026-10", "Asia/Shanghai")   2026-10-01T00:00+08:00 .. 2026-11-01T00:00+08:00
    local_days(start, end, zone)               [(day start, day end), ...] local midnights
    iso(t, zone)                               "2026-10-01T08:00:00+08:00" ("...Z" in UTC)
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from watchd.timestamps import time_problem

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
DAY = 86400.0


class PeriodError(ValueError):
    """A report period cannot be understood; `text` is what was given."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"The report period {text!r} is not valid: {reason}.")
        self.text = text
        self.reason = reason


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo of an IANA name that config validation has already checked."""
    return zoneinfo.ZoneInfo(name)


def midnight(day: date, zone: str) -> float:
    """The epoch second at which `day` starts in `zone` (00:00 local, or the first moment
    after a DST gap at midnight)."""
    return datetime.combine(day, time(), tzinfo=zone_of(zone)).timestamp()


def local_date(t: float, zone: str) -> date:
    """The local calendar date of epoch second `t` in `zone`."""
    return datetime.fromtimestamp(t, zone_of(zone)).date()


def local_days(start: float, end: float, zone: str) -> list[tuple[float, float]]:
    """The local days overlapping [start, end) as (day start, day end) epoch pairs, clipped
    to the span; a day is 23 or 25 hours long across a DST change."""
    days: list[tuple[float, float]] = []
    day = local_date(start, zone)
    while (a := midnight(day, zone)) < end:
        day += timedelta(days=1)
        b = midnight(day, zone)
        if b > start:
            days.append((max(a, start), min(b, end)))
    return days


def iso(t: float, zone: str) -> str:
    """`t` as ISO 8601 in `zone` to the second, with its offset ("Z" for UTC)."""
    text = datetime.fromtimestamp(round(t), zone_of(zone)).isoformat(timespec="seconds")
    return text[:-6] + "Z" if zone == "UTC" and text.endswith("+00:00") else text


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in epoch seconds, its label, and the zone its months and days are in."""

    start: float
    end: float
    label: str
    zone: str = "UTC"

    @classmethod
    def month(cls, text: str, zone: str = "UTC") -> Period:
        """A calendar month of `zone` from "YYYY-MM"."""
        found = _MONTH.match(text)
        if not found or not 1 <= int(found[2]) <= 12:
            raise PeriodError(text, "expected a month as YYYY-MM, e.g. 2026-10")
        year, month = int(found[1]), int(found[2])
        if not (1970, 1) <= (year, month) <= (9999, 11):
            # Its end must be a time a report can show (datetime ends with year 9999).
            raise PeriodError(text, "expected a month from 1970-01 to 9999-11")
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(midnight(first, zone), midnight(following, zone), text, zone)

    @classmethod
    def between(cls, start: str, end: str, zone: str = "UTC") -> Period:
        """From two ISO dates or times (local to `zone` unless they give an offset); end
        exclusive."""
        a, b = _moment(start, zone), _moment(end, zone)
        if b <= a:
            raise PeriodError(f"{start}..{end}", "the end must come after the start")
        return cls(a, b, f"{start}..{end}", zone)

    @classmethod
    def this_month(cls, now: float, zone: str = "UTC") -> Period:
        """The local month of `zone` that `now` falls in."""
        today = local_date(now, zone)
        return cls.month(f"{today.year:04d}-{today.month:02d}", zone)

    def previous(self) -> Period:
        """The period just before this one: the month before a month, else a span as long."""
        if _MONTH.match(self.label):
            first = local_date(self.start, self.zone) - timedelta(days=1)
            return Period.month(f"{first.year:04d}-{first.month:02d}", self.zone)
        length = self.end - self.start
        return Period(self.start - length, self.start, f"before {self.label}", self.zone)

    def bounded(self, longest: float) -> Period:
        """This period, if it spans at most `longest` seconds ([report] max_period)."""
        if self.end - self.start > longest:
            raise PeriodError(
                self.label,
                f"it spans {_days(self.end - self.start)}, more than the longest a report may "
                f"cover, {_days(longest)} ([report] max_period)",
            )
        return self


def _moment(text: str, zone: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(text, "expected an ISO date or time, e.g. 2026-10-01") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone_of(zone))
    moment = parsed.timestamp()
    if (problem := time_problem(moment)) is not None:
        raise PeriodError(text, problem)
    return moment


def _days(seconds: float) -> str:
    days = seconds / DAY
    return f"{days:,.0f} days" if days == int(days) or days >= 10 else f"{days:.1f} days"
