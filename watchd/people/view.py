"""What `watchd oncall` and `/api/v1/oncall` show: per schedule, who is on call at a moment and
the shifts of a range, as JSON-ready dicts and as text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from watchd.people.config import PeopleConfig, ScheduleConfig
from watchd.people.model import Override, Shift
from watchd.people.oncall import gaps, shifts

MAX_RANGE = 92 * 86400.0  # a quarter: enough to plan, bounded for the API
DEFAULT_RANGE = 7 * 86400.0
LOOK_AHEAD = 31 * 86400.0  # how far "on call since/until" looks; beyond it, not given
# Times asked about: from the epoch to year 9000, so every range and look-ahead stays a date.
LAST_TIME = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def range_problem(at: float, start: float, end: float) -> tuple[str, str] | None:
    """What is wrong with asking who is on call at `at` and the shifts of [start, end), as
    (the input at fault: "at", "from" or "to", a sentence), or None."""
    for name, value in (("at", at), ("from", start), ("to", end)):
        if not (math.isfinite(value) and 0 <= value < LAST_TIME):
            return name, "expected a time between 1970-01-01 and 9000-01-01 (UTC)"
    if end <= start:
        return "to", "the range must end after it starts"
    if end - start > MAX_RANGE:
        return "to", f"a range is at most {MAX_RANGE / 86400:.0f} days"
    return None


def override_window(at: float, start: float, end: float) -> tuple[float, float]:
    """The span whose overrides `schedule_view` needs: the range and a look around `at`."""
    return min(start, max(0.0, at - LOOK_AHEAD)), max(end, at + LOOK_AHEAD)


def schedule_view(
    people: PeopleConfig,
    schedule: ScheduleConfig,
    *,
    at: float,
    start: float,
    end: float,
    overrides: Sequence[Override],
) -> dict[str, Any]:
    """The schedule's state: who is on call at `at` (since and until when, each None when more
    than 31 days away), the shifts and the gaps (nobody on call) of [start, end)."""
    zone = ZoneInfo(schedule.timezone)
    since, until = max(0.0, at - LOOK_AHEAD), at + LOOK_AHEAD
    around = shifts(schedule, since, until, overrides)
    current = [_shift(people, s, zone) for s in around if s.start <= at < s.end]
    for entry in current:
        # A shift reaching past what was looked at has an unknown start or end.
        if entry["start"] <= since:
            entry["start"] = entry["start_local"] = None
        if entry["end"] >= until:
            entry["end"] = entry["end_local"] = None
    return {
        "schedule": schedule.name,
        "timezone": schedule.timezone,
        "at": at,
        "on_call": current,
        "from": start,
        "to": end,
        "shifts": [_shift(people, s, zone) for s in shifts(schedule, start, end, overrides)],
        "gaps": [
            {"start": a, "end": b, "start_local": _local(a, zone), "end_local": _local(b, zone)}
            for a, b in gaps(schedule, start, end, overrides)
        ],
    }


def _shift(people: PeopleConfig, shift: Shift, zone: ZoneInfo) -> dict[str, Any]:
    user = people.user(shift.user)
    return {
        "user": shift.user,
        "display_name": user.display_name if user is not None else "",
        "layer": shift.layer,
        "start": shift.start,
        "end": shift.end,
        "start_local": _local(shift.start, zone),
        "end_local": _local(shift.end, zone),
    }


def _local(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat(timespec="minutes")


def render_text(views: Sequence[dict[str, Any]]) -> str:
    """The views as text: one block per schedule, times local to the schedule."""
    lines: list[str] = []
    for view in views:
        lines.append(f"{view['schedule']} ({view['timezone']})")
        for s in view["on_call"]:
            since = s["start_local"] or "more than 31 days ago"
            until = s["end_local"] or "more than 31 days ahead"
            lines.append(f"  on call now: {_who(s)} since {since} until {until}  [{s['layer']}]")
        if not view["on_call"]:
            lines.append("  on call now: nobody")
        rows = [(s["start"], f"{_who(s)}  [{s['layer']}]", s) for s in view["shifts"]]
        rows += [(g["start"], "nobody on call", g) for g in view["gaps"]]
        for _, what, span in sorted(rows, key=lambda row: row[0]):
            lines.append(f"  {span['start_local']} .. {span['end_local']}  {what}")
        lines.append("")
    return "\n".join(lines)


def _who(shift: dict[str, Any]) -> str:
    name = shift["display_name"]
    return f"{name} ({shift['user']})" if name else str(shift["user"])
