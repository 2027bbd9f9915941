"""Maintenance windows ([[maintenance]]): one model for live muting and for availability reports.

    window ──► intervals(a, b)  the runs overlapping [a, b)      (report: maintenance time)
           └─► active(t)        t inside one of those runs       (mute: "maintenance:NAME")
    Coverage(window, inventory).covers(item, labels)             (both: which alerts / checks)

A window is one-off (start/end) or recurring (a cron expression in `timezone`, each run lasting
`duration`); `active` is answered from `intervals`, so the mute step and the report cannot
disagree about when a window runs. It covers its `items` with every item below them in the
parents graph, and anything its matchers match.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field, model_validator

from watchd.configbase import Strict, TimeZone
from watchd.crontab import Crontab, cron_times
from watchd.durations import Duration
from watchd.inventory import Inventory
from watchd.matchers import Matcher, Matchers, matches_all, parse_matchers


class MaintenanceWindow(Strict):
    """A one-off (start/end) or recurring (cron + duration) window muting matching alerts.

    `items` select those items and every item below them in the parents graph.
    """

    name: str = Field(min_length=1)
    matchers: Matchers = []
    items: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    cron: Crontab | None = None
    duration: Duration | None = None
    # The zone of `cron` and of a start/end without an offset. The root config fills in
    # `[daemon] timezone` when a window names none; UTC for a window built on its own.
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        if not self.matchers and not self.items:
            raise ValueError("a maintenance window needs 'matchers' or 'items'")
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration is not None
        if one_off == recurring:
            raise ValueError(
                "a maintenance window needs either start and end, or cron and duration"
            )
        if one_off and (self.start is None or self.end is None):
            raise ValueError("a one-off maintenance window needs both start and end")
        if recurring and (self.cron is None or not self.duration):
            raise ValueError("a recurring maintenance window needs both cron and a duration")
        return self

    def parsed(self) -> tuple[Matcher, ...]:
        return parse_matchers(self.matchers)

    def intervals(self, start: float, end: float) -> list[tuple[float, float]]:
        """The runs of this window overlapping [start, end), as (from, to) epoch pairs, unclipped."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        if self.start is not None and self.end is not None:
            a, b = (_aware(d, zone).timestamp() for d in (self.start, self.end))
            return [(a, b)] if a < end and b > start else []
        assert self.cron is not None and self.duration is not None
        duration = float(self.duration)
        found: list[tuple[float, float]] = []
        # Start one duration early: a run that began before `start` may still go on. Step back
        # in epoch seconds, not on the wall clock: a wall time inside a DST gap does not exist.
        for at in cron_times(self.cron, zone, start - duration - 1.0):
            if at >= end:
                break
            if at + duration > start:
                found.append((at, at + duration))
        return found

    def active(self, now: float) -> bool:
        """True while `now` falls inside one of the window's runs."""
        return any(a <= now < b for a, b in self.intervals(now, now + 1.0))


def _aware(moment: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def with_descendants(items: Iterable[str], inventory: Inventory) -> frozenset[str]:
    """`items` and every item below them in the parents graph."""
    found = set(items)
    for item in tuple(found):
        found |= inventory.descendants(item)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Coverage:
    """What one window covers: its items and their descendants, and what its matchers match."""

    window: MaintenanceWindow
    items: frozenset[str]
    matchers: tuple[Matcher, ...]

    @classmethod
    def of(cls, window: MaintenanceWindow, inventory: Inventory) -> Coverage:
        return cls(window, with_descendants(window.items, inventory), window.parsed())

    def covers(self, item: str, labels: Mapping[str, str]) -> bool:
        """True for an alert or check of `item` with `labels` that the window applies to."""
        return item in self.items or (bool(self.matchers) and matches_all(self.matchers, labels))
