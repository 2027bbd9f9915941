"""Who is on call: a schedule's layers and overrides resolved into shifts.

    layer ──► rotation turns (wall-clock hand-offs) ∩ restriction ranges ──► layer shifts
    layers (later wins) ◄── overrides (win over every layer; the newest wins among them)
                       └──► shifts(schedule, start, end, overrides), on_call(schedule, at, ...)

Hand-offs and restrictions are wall-clock times in the schedule's zone, turned into instants
with zoneinfo: a daily 09:00 hand-off is at 09:00 local on both sides of a DST change (so that
day's shift is 23 or 25 hours long). A wall time that a spring-forward skips is read with the
offset before the change (02:30 in a 02:00→03:00 gap is 03:30 new time); one that a fall-back
repeats is its first occurrence.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from watchd.people.config import LayerConfig, Restriction, ScheduleConfig, clock_minutes
from watchd.people.model import OVERRIDE_LAYER, Override, Shift


def _instant(local: datetime, zone: ZoneInfo) -> float:
    return local.replace(tzinfo=zone, fold=0).timestamp()


class _Rotation:
    """The turns of one layer: turn k starts at the wall time `start + k × rotation`."""

    def __init__(self, layer: LayerConfig, zone: ZoneInfo) -> None:
        self.layer = layer
        self.zone = zone
        self.step = timedelta(seconds=layer.rotation)
        self.first = _instant(layer.start, zone)

    def hand_off(self, turn: int) -> float:
        return _instant(self.layer.start + turn * self.step, self.zone)

    def turn_at(self, at: float) -> int:
        """The turn running at `at` (negative before the layer's start)."""
        turn = math.floor((at - self.first) / self.layer.rotation)
        # A DST change moves a hand-off by its offset change, less than a turn.
        while turn > 0 and self.hand_off(turn) > at:
            turn -= 1
        while self.hand_off(turn + 1) <= at:
            turn += 1
        return turn if at >= self.first else -1

    def turns(self, start: float, end: float) -> Iterator[Shift]:
        """The layer's turns overlapping [start, end), clipped to it."""
        turn = max(self.turn_at(start), 0)
        users = self.layer.users
        while (a := self.hand_off(turn)) < end:
            b = self.hand_off(turn + 1)
            if b > start:
                yield Shift(users[turn % len(users)], max(a, start), min(b, end), self.layer.name)
            turn += 1


def _ranges(
    restrictions: Sequence[Restriction], zone: ZoneInfo, start: float, end: float
) -> list[tuple[float, float]]:
    """The instants [a, b) the restrictions cover that overlap [start, end), merged, in order."""
    first = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date()
    found: list[tuple[float, float]] = []
    day = first
    while day <= last:
        for r in restrictions:
            if _weekday(day) not in r.days:
                continue
            a_min, b_min = clock_minutes(r.from_), clock_minutes(r.to)
            if b_min <= a_min:
                b_min += 1440
            a, b = _at(day, a_min, zone), _at(day, b_min, zone)
            if a < end and b > start:
                found.append((a, b))
        day += timedelta(days=1)
    merged: list[tuple[float, float]] = []
    for a, b in sorted(found):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _weekday(day: date) -> str:
    return ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]


def _at(day: date, minutes: int, zone: ZoneInfo) -> float:
    """The instant of the wall time `minutes` after the local midnight that starts `day`."""
    extra, minute = divmod(minutes, 1440)
    local = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60))
    return _instant(local, zone)


def layer_shifts(layer: LayerConfig, zone: ZoneInfo, start: float, end: float) -> list[Shift]:
    """One layer's shifts within [start, end): its turns, cut to its restrictions."""
    turns = list(_Rotation(layer, zone).turns(start, end))
    if not layer.restrictions:
        return turns
    ranges = _ranges(layer.restrictions, zone, start, end)
    cut = []
    for shift in turns:
        for a, b in ranges:
            a, b = max(a, shift.start), min(b, shift.end)
            if a < b:
                cut.append(Shift(shift.user, a, b, shift.layer))
    return cut


def shifts(
    schedule: ScheduleConfig, start: float, end: float, overrides: Sequence[Override]
) -> list[Shift]:
    """Who is on call from `start` to `end` (UTC epoch seconds), in order and clipped to the
    range: overrides of this schedule first, else the last layer with someone on call. Times
    with nobody on call have no shift."""
    zone = ZoneInfo(schedule.timezone)
    layers = [layer_shifts(layer, zone, start, end) for layer in schedule.layers]
    mine = sorted(
        (o for o in overrides if o.schedule == schedule.name and o.start < end and o.end > start),
        key=lambda o: (o.created_at, o.id),
    )
    points = {start, end}
    for found in layers:
        points.update(p for shift in found for p in (shift.start, shift.end))
    points.update(min(max(p, start), end) for o in mine for p in (o.start, o.end))
    starts = [[shift.start for shift in found] for found in layers]
    result: list[Shift] = []
    edges = sorted(points)
    for a, b in itertools.pairwise(edges):
        here = _pick(a, mine, layers, starts)
        if here is None:
            continue
        user, layer = here
        last = result[-1] if result else None
        if last is not None and last.end == a and (last.user, last.layer) == (user, layer):
            result[-1] = Shift(user, last.start, b, layer)
        else:
            result.append(Shift(user, a, b, layer))
    return result


def _pick(
    at: float,
    overrides: Sequence[Override],
    layers: Sequence[Sequence[Shift]],
    starts: Sequence[Sequence[float]],
) -> tuple[str, str] | None:
    for override in reversed(overrides):  # the newest override wins
        if override.start <= at < override.end:
            return override.user, OVERRIDE_LAYER
    for found, begins in zip(reversed(layers), reversed(starts), strict=True):
        i = bisect.bisect_right(begins, at) - 1
        if i >= 0 and found[i].end > at:
            return found[i].user, found[i].layer
    return None


def on_call(schedule: ScheduleConfig, at: float, overrides: Sequence[Override]) -> tuple[str, ...]:
    """The users on call in `schedule` at `at` (UTC epoch seconds); empty when nobody is."""
    return tuple(s.user for s in shifts(schedule, at, at + 1.0, overrides) if s.start <= at)


def gaps(
    schedule: ScheduleConfig, start: float, end: float, overrides: Sequence[Override] = ()
) -> list[tuple[float, float]]:
    """The ranges within [start, end) when nobody is on call, in order."""
    found = []
    cursor = start
    for shift in shifts(schedule, start, end, overrides):
        if shift.start > cursor:
            found.append((cursor, shift.start))
        cursor = max(cursor, shift.end)
    if cursor < end:
        found.append((cursor, end))
    return found


GAP_HORIZON = 28 * 86400.0  # check-config looks four weeks ahead
_GAPS_SHOWN = 5


def gap_warnings(schedules: Sequence[ScheduleConfig], now: float) -> list[str]:
    """One warning per schedule with nobody on call at some time in the next four weeks,
    listing the first gaps in the schedule's local time (overrides, which live in the store,
    are not counted: they are a stopgap, not the plan)."""
    warnings = []
    for i, schedule in enumerate(schedules):
        found = gaps(schedule, now, now + GAP_HORIZON)
        if not found:
            continue
        zone = ZoneInfo(schedule.timezone)
        shown = ", ".join(
            f"{_minute(a, zone)} .. {_minute(b, zone)}" for a, b in found[:_GAPS_SHOWN]
        )
        more = f" and {len(found) - _GAPS_SHOWN} more" if len(found) > _GAPS_SHOWN else ""
        hours = sum(b - a for a, b in found) / 3600
        warnings.append(
            f'schedules[{i}]("{schedule.name}"): nobody is on call for {hours:.0f} h of the '
            f"next 4 weeks: {shown}{more}; add a layer or widen the restrictions to cover them"
        )
    return warnings


def _minute(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat(timespec="minutes")
