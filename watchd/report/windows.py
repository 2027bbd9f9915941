"""Maintenance time per check: the configured windows (one-off and cron) and recorded changes,
as intervals, for availability's "maintenance" state.

A window applies to a check when it names the check's item (or an ancestor: `items` cover
children) or when its matchers match the check's labels: the item's and check's labels plus
`item` and `check`. A change covers its item and the items below it, as in the mute step.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.config import MaintenanceWindow
from watchd.inventory import Inventory
from watchd.matchers import matches_all
from watchd.report.availability import Interval, merge_intervals
from watchd.store.incident_tables import changes as ch


def occurrences(window: MaintenanceWindow, start: float, end: float) -> list[Interval]:
    """The times `window` is active that overlap [start, end), as (from, to) epoch pairs."""
    zone = zoneinfo.ZoneInfo(window.timezone)
    if window.start is not None and window.end is not None:
        a, b = (_aware(d, zone).timestamp() for d in (window.start, window.end))
        return [(a, b)] if a < end and b > start else []
    assert window.cron is not None and window.duration is not None
    duration = float(window.duration)
    found: list[Interval] = []
    # Start one duration early: an occurrence that began before `start` may still run.
    it = croniter(
        window.cron, datetime.fromtimestamp(start - duration, zone) - timedelta(seconds=1)
    )
    while True:
        at = float(it.get_next(datetime).timestamp())
        if at >= end:
            return found
        if at + duration > start:
            found.append((at, at + duration))


def _aware(moment: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """Windows and changes over one span, answering "when was this check in maintenance?"."""

    windows: Sequence[MaintenanceWindow]
    inventory: Inventory
    changes: Sequence[tuple[str, float, float]] = ()  # (item, starts_at, ends_at)
    start: float = 0.0
    end: float = 0.0
    _cache: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)

    def intervals(self, item: str, labels: Mapping[str, str]) -> list[Interval]:
        """Merged maintenance intervals of a check of `item` with `labels`, within the span."""
        if not self.windows and not self.changes:
            return []
        found: list[Interval] = []
        for window in self.windows:
            covers = item in self._covered(window.name, window.items)
            if covers or (window.matchers and matches_all(window.parsed(), labels)):
                found += occurrences(window, self.start, self.end)
        for change_item, a, b in self.changes:
            if (
                a < self.end
                and b > self.start
                and (item == change_item or item in self.inventory.descendants(change_item))
            ):
                found.append((a, b))
        return merge_intervals(found)

    def _covered(self, key: str, items: Sequence[str]) -> frozenset[str]:
        cached = self._cache.get(key)
        if cached is None:
            names = set(items)
            for name in items:
                names |= self.inventory.descendants(name)
            cached = self._cache[key] = frozenset(names)
        return cached


async def load_plan(
    conn: AsyncConnection,
    windows: Sequence[MaintenanceWindow],
    inventory: Inventory,
    start: float,
    end: float,
) -> MaintenancePlan:
    """The plan for [start, end): configured windows plus the changes overlapping the span."""
    rows = await conn.execute(
        select(ch.c.item, ch.c.starts_at, ch.c.ends_at).where(
            ch.c.starts_at < end, ch.c.ends_at > start
        )
    )
    changes = [(str(item), float(a), float(b)) for item, a, b in rows]
    return MaintenancePlan(tuple(windows), inventory, tuple(changes), start, end)
