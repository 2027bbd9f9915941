"""Maintenance time per check: the configured windows (one-off and cron) and recorded changes,
as intervals, for availability's "maintenance" state.

A window applies to a check as it applies to the check's alerts in the mute step
(watchd.maintenance): when it names the check's item or an ancestor, or when its matchers
match the check's labels (the item's and check's labels plus `item` and `check`). A change
covers its item and the items below it, as in the mute step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.inventory import Inventory
from watchd.maintenance import Coverage, MaintenanceWindow, with_descendants
from watchd.report.availability import Interval, merge_intervals
from watchd.store.incident_tables import changes as ch


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """Windows and changes over one span, answering "when was this check in maintenance?"."""

    windows: Sequence[MaintenanceWindow]
    inventory: Inventory
    changes: Sequence[tuple[str, float, float]] = ()  # (item, starts_at, ends_at)
    start: float = 0.0
    end: float = 0.0
    _coverage: list[Coverage] = field(default_factory=list, compare=False)

    def intervals(self, item: str, labels: Mapping[str, str]) -> list[Interval]:
        """Merged maintenance intervals of a check of `item` with `labels`, within the span."""
        if not self.windows and not self.changes:
            return []
        found: list[Interval] = []
        for coverage in self._covered():
            if coverage.covers(item, labels):
                found += coverage.window.intervals(self.start, self.end)
        for change_item, a, b in self.changes:
            if (
                a < self.end
                and b > self.start
                and item in with_descendants([change_item], self.inventory)
            ):
                found.append((a, b))
        return merge_intervals(found)

    def _covered(self) -> list[Coverage]:
        # Resolved once per plan: a plan answers for every check of a report.
        if not self._coverage:
            self._coverage.extend(Coverage.of(w, self.inventory) for w in self.windows)
        return self._coverage


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
