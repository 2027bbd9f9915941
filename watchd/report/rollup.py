"""The rollup job: closed hours of raw samples become hourly rollup rows, closed days daily rows.

    every rollup_interval:  watermark ──► each closed hour (at most `max_hours` per run)
                              samples [hour - max gap, hour + 1h) ─► tally per check ─► upsert
                                                   └─► combined services (rule all/any) ─┘
                              hour closes a day ─► daily rows = sums of its hourly rows
                              watermark moves on ── in the same transaction as the rows
    once an hour:           hourly rows older than hourly_retention are deleted

The watermark is a state row (namespace "report", key "rollup"), so a restart resumes where
the job stopped and re-rolling an hour replaces its rows instead of adding to them. An hour is
rolled once SETTLE seconds have passed after it, so samples still in the writer's queue land
first. Maintenance windows and changes are applied as known when the hour is rolled, and so
are the services' members and rules (watchd.report.combine).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Double, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.report.availability import Tally, tally_buckets, total
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import service_key, service_tallies
from watchd.report.windows import load_plan
from watchd.store.engine import write_transaction
from watchd.store.rollup_tables import rollup_series, rollups_daily, rollups_hourly
from watchd.store.samples import AvailabilitySample
from watchd.store.series import series_ids
from watchd.store.states import select_states, upsert_states
from watchd.store.tables import samples as sm

log = get_logger("watchd.report.rollup")

HOUR = 3600.0
DAY = 86400.0
SETTLE = 120.0
STATE_NAMESPACE = "report"
STATE_KEY = "rollup"
_VALUES = (
    "up",
    "down",
    "unknown",
    "maintenance",
    "unmonitored",
    "checks",
    "failures",
    "latency_sum",
    "latency_count",
    "latency_max",
    "latency_p95",
)


def floor_to(t: float, step: float) -> float:
    return math.floor(t / step) * step


@dataclass(frozen=True, slots=True)
class Watermark:
    """Hourly rows exist for every hour before `hourly_until`, daily rows for every day before
    `daily_until` (None: nothing rolled yet)."""

    hourly_until: float | None = None
    daily_until: float | None = None


async def load_watermark(conn: AsyncConnection) -> Watermark:
    data = (await select_states(conn, STATE_NAMESPACE)).get(STATE_KEY, {})
    return Watermark(data.get("hourly_until"), data.get("daily_until"))


async def read_samples(
    conn: AsyncConnection, start: float, end: float, keys: Sequence[Key] | None = None
) -> dict[Key, list[AvailabilitySample]]:
    """Samples with start <= time < end by check, each list in time order (all checks, or
    only `keys`)."""
    query = (
        select(rollup_series.c.item, rollup_series.c.check, sm.c.time, sm.c.status, sm.c.latency)
        .select_from(sm.join(rollup_series, rollup_series.c.id == sm.c.series_id))
        .where(sm.c.time >= start, sm.c.time < end)
    )
    if keys is not None and len(keys) <= 200:
        items = sorted({k[0] for k in keys})
        query = query.where(rollup_series.c.item.in_(items))
    order = (rollup_series.c.item, rollup_series.c.check, sm.c.time)
    rows = await conn.execute(query.order_by(*order))
    wanted = set(keys) if keys is not None else None
    out: dict[Key, list[AvailabilitySample]] = {}
    for key, group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        if wanted is None or key in wanted:
            out[key] = [AvailabilitySample(i, c, t, s, lat) for i, c, t, s, lat in group]
    return out


def row_of(series_id: int, start: float, tally: Tally) -> dict[str, object]:
    return {"series_id": series_id, "start": start, **{v: getattr(tally, v) for v in _VALUES}}


def tally_of(row: Mapping[str, object]) -> Tally:
    return Tally(**{v: row[v] for v in _VALUES})  # type: ignore[arg-type]


class Rollup:
    """Rolls up closed hours and days; `run` is the housekeeping job."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        catalog: Callable[[], Catalog],
        max_hours: int = 48,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._catalog = catalog
        self._max_hours = max_hours
        self._pruned_at = -math.inf

    async def run(self) -> int:
        """Roll up every closed hour since the watermark (up to `max_hours`); return how many."""
        now = self._clock.now()
        closed_until = floor_to(now - SETTLE, HOUR)
        await self._backfill_services()
        rolled = 0
        while rolled < self._max_hours:
            async with write_transaction(self._engine) as conn:
                mark = await load_watermark(conn)
                hour = mark.hourly_until
                if hour is None:
                    first = (await conn.execute(select(func.min(sm.c.time)))).scalar()
                    if first is None:
                        break
                    hour = floor_to(float(first), HOUR)
                if hour >= closed_until:
                    break
                await self._roll_hour(conn, hour)
                daily_until = (
                    mark.daily_until if mark.daily_until is not None else floor_to(hour, DAY)
                )
                if (hour + HOUR) % DAY == 0:
                    await roll_day(conn, hour + HOUR - DAY)
                    daily_until = hour + HOUR
                await upsert_states(
                    conn,
                    STATE_NAMESPACE,
                    {STATE_KEY: {"hourly_until": hour + HOUR, "daily_until": daily_until}},
                    now,
                )
            rolled += 1
        if now - self._pruned_at >= HOUR:
            await self.prune(now)
            self._pruned_at = now
        if rolled:
            log.debug("rolled_up", hours=rolled)
        return rolled

    async def _roll_hour(self, conn: AsyncConnection, hour: float) -> None:
        catalog = self._catalog()
        end = hour + HOUR
        by_check = await read_samples(conn, hour - catalog.max_gap(), end)
        # From the lookback on: combined services tell a failure at the hour's start from
        # downtime going on.
        plan = await load_plan(
            conn, catalog.windows, catalog.inventory, hour - catalog.max_gap(), end
        )
        tallies: dict[Key, Tally] = {}
        for key, checks in by_check.items():
            maintenance = plan.intervals(key[0], catalog.check_labels(key))
            [(_, tally)] = tally_buckets(
                checks,
                start=hour,
                end=end,
                bucket=HOUR,
                max_gap=catalog.gap(key),
                maintenance=maintenance,
            )
            if tally.unmonitored < HOUR or tally.checks:
                tallies[key] = tally
        combined = service_tallies(
            catalog, [service_key(s) for s in catalog.services], by_check, plan, hour, end
        )
        tallies.update({k: t for k, t in combined.items() if t.unmonitored < HOUR})
        await conn.execute(delete(rollups_hourly).where(rollups_hourly.c.start == hour))
        if not tallies:
            return
        ids = await series_ids(conn, tallies)
        rows = [row_of(ids[key], hour, tally) for key, tally in tallies.items()]
        await conn.execute(insert(rollups_hourly), rows)

    async def _backfill_services(self) -> None:
        """Rows for combined services that have none yet (a new service or rule, a store from
        before availability rules): the hours already rolled up are combined again from the
        raw samples still kept, so only hours older than `[store] sample_retention` stay
        without them. A service's series is created here even when it gets no row, so this
        runs once per service."""
        catalog = self._catalog()
        combined = {service_key(s): s for s in catalog.services if s.availability != "weighted"}
        async with write_transaction(self._engine) as conn:
            known = list(await series_ids(conn))
            missing = sorted(set(combined) - set(known))
            mark = await load_watermark(conn)
            if not missing or mark.hourly_until is None:
                return
            first = (await conn.execute(select(func.min(sm.c.time)))).scalar()
            members = sorted({m for k in missing for m in catalog.members(combined[k], known)})
            hours: dict[Key, dict[float, Tally]] = {k: {} for k in missing}
            hour = mark.hourly_until if first is None else floor_to(float(first), HOUR)
            while hour < mark.hourly_until:
                lookback = hour - catalog.max_gap()
                by_check = await read_samples(conn, lookback, hour + HOUR, members)
                plan = await load_plan(
                    conn, catalog.windows, catalog.inventory, lookback, hour + HOUR
                )
                found = service_tallies(catalog, missing, by_check, plan, hour, hour + HOUR)
                for key, tally in found.items():
                    if tally.unmonitored < HOUR:
                        hours[key][hour] = tally
                hour += HOUR
            ids = await series_ids(conn, missing)
            hourly = [row_of(ids[k], h, t) for k, found in hours.items() for h, t in found.items()]
            daily = [
                row_of(ids[k], day, _day_tally(found, day))
                for k, found in hours.items()
                for day in sorted({floor_to(h, DAY) for h in found})
                if mark.daily_until is not None and day + DAY <= mark.daily_until
            ]
            for table, rows in ((rollups_hourly, hourly), (rollups_daily, daily)):
                if rows:
                    await conn.execute(insert(table), rows)
        log.info("service_rollups_backfilled", services=len(missing), hours=len(hourly))

    async def prune(self, now: float) -> int:
        """Delete hourly rows older than hourly_retention; daily rows are kept for good."""
        keep = self._catalog().report.hourly_retention
        async with write_transaction(self._engine) as conn:
            mark = await load_watermark(conn)
            # Never drop hours whose day has no daily row yet.
            limit = min(now - keep, mark.daily_until if mark.daily_until is not None else -math.inf)
            result = await conn.execute(
                delete(rollups_hourly).where(rollups_hourly.c.start < limit)
            )
        removed = int(result.rowcount)
        if removed:
            log.info("hourly_rollups_pruned", removed=removed)
        return removed


def _day_tally(hours: Mapping[float, Tally], day: float) -> Tally:
    """A day's Tally from its hours in `hours`; hours without one are unmonitored."""
    summed = total(t for h, t in hours.items() if day <= h < day + DAY)
    return summed + Tally(unmonitored=DAY - summed.total)


async def roll_day(conn: AsyncConnection, day: float) -> None:
    """Replace the daily rows of `day` with the sums of its hourly rows.

    A day's unmonitored time includes its hours that have no row (watchd down all hour).
    """
    h, d = rollups_hourly, rollups_daily
    covered = func.sum(h.c.up + h.c.down + h.c.unknown + h.c.maintenance)
    query = (
        select(
            h.c.series_id,
            literal(day, Double),
            func.sum(h.c.up),
            func.sum(h.c.down),
            func.sum(h.c.unknown),
            func.sum(h.c.maintenance),
            literal(DAY, Double) - covered,
            func.sum(h.c.checks),
            func.sum(h.c.failures),
            func.sum(h.c.latency_sum),
            func.sum(h.c.latency_count),
            func.max(h.c.latency_max),
            func.max(h.c.latency_p95),
        )
        .where(h.c.start >= day, h.c.start < day + DAY)
        .group_by(h.c.series_id)
    )
    await conn.execute(delete(d).where(d.c.start == day))
    await conn.execute(insert(d).from_select(["series_id", "start", *_VALUES], query))
