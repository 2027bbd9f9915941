"""The rollup job: closed hours of raw samples become hourly rollup rows, closed days daily rows.

    every rollup_interval:  watermark ──► each closed hour (at most `max_hours` per run)
                              samples [hour - max gap, hour + 1h) ─► tally per check ─► upsert
                                                   └─► combined services (rule all/any) ─┘
                              hour reaches the next local midnight ─► daily rows = sums of
                                  the day's hourly rows (+ raw samples for part-hours)
                              watermark moves on ── in the same transaction as the rows
    once an hour:           hourly rows older than hourly_retention are deleted

Days are local days of `[daemon] timezone` (23 or 25 hours across a DST change), so a local
month older than hourly_retention is read exactly from daily rows. Each rolled day is
recorded in rollup_days with its span and zone. The zone is the one configured when the day
is rolled: after a zone change (reload or restart) the days not yet rolled follow the new
zone, the first of them running from the last rolled day's end to the new zone's next
midnight; days already rolled are kept as made, not re-rolled, so the figures of a day never
change once it is rolled (and days older than hourly_retention could not be re-cut anyway).
A report in another zone than a day's reads the hours of that day from hourly rows while
they are kept, and names the zone the days were cut in (query.other_zone_days).

The watermark is a state row (namespace "report", key "rollup"), so a restart resumes where
the job stopped and re-rolling an hour replaces its rows instead of adding to them. An hour is
rolled once SETTLE seconds have passed after it, so samples still in the writer's queue land
first. Maintenance windows and changes are applied as known when the hour is rolled, and so
are the services' members and rules (watchd.report.combine).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.report.availability import Tally, tally_span, total
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import is_service_key, service_key, service_tallies
from watchd.report.period import local_date, midnight
from watchd.report.windows import load_plan
from watchd.store.engine import write_transaction
from watchd.store.rollup_tables import rollup_days, rollup_series, rollups_daily, rollups_hourly
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


def day_start(t: float, zone: str) -> float:
    """The local midnight of `zone` at or before `t`."""
    return midnight(local_date(t, zone), zone)


def day_end(start: float, zone: str) -> float:
    """The first local midnight of `zone` after `start`: the end of the day rolled from
    `start` (a whole local day when `start` is a midnight of `zone`)."""
    return midnight(local_date(start, zone) + timedelta(days=1), zone)


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


async def raw_tallies(
    conn: AsyncConnection,
    catalog: Catalog,
    start: float,
    end: float,
    keys: Sequence[Key] | None = None,
    known: Collection[Key] = (),
) -> dict[Key, Tally]:
    """Tallies over [start, end) straight from the raw samples: of every check with samples
    reaching into the span and every combined service (`keys` None), or of the checks and
    service series among `keys` (a service's members found among `known`)."""
    lookback = start - catalog.max_gap()
    if keys is None:
        services = [service_key(s) for s in catalog.services]
        checks: list[Key] | None = None
    else:
        services = [k for k in keys if is_service_key(k)]
        by_name = {service_key(s): s for s in catalog.services}
        members = {m for k in services if k in by_name for m in catalog.members(by_name[k], known)}
        checks = sorted({*(k for k in keys if not is_service_key(k)), *members})
    by_check = await read_samples(conn, lookback, end, checks)
    # From the lookback on: combined services tell a failure at the span's start from
    # downtime going on.
    plan = await load_plan(conn, catalog.windows, catalog.inventory, lookback, end)
    asked = None if keys is None else set(keys)
    out = {
        key: tally_span(
            samples,
            start=start,
            end=end,
            max_gap=catalog.gap(key),
            maintenance=plan.intervals(key[0], catalog.check_labels(key)),
        )
        for key, samples in by_check.items()
        if asked is None or key in asked
    }
    return out | service_tallies(catalog, services, by_check, plan, start, end)


async def summed_rows(
    conn: AsyncConnection,
    table: Table,
    start: float,
    end: float,
    ids: Collection[int] | None = None,
) -> dict[int, Tally]:
    """The sums of `table`'s rows starting in [start, end) per series id (every series, or
    those in `ids`); latency_max and latency_p95 are the worst."""
    c = table.c
    query = (
        select(
            c.series_id,
            func.sum(c.up),
            func.sum(c.down),
            func.sum(c.unknown),
            func.sum(c.maintenance),
            func.sum(c.unmonitored),
            func.sum(c.checks),
            func.sum(c.failures),
            func.sum(c.latency_sum),
            func.sum(c.latency_count),
            func.max(c.latency_max),
            func.max(c.latency_p95),
        )
        .where(c.start >= start, c.start < end)
        .group_by(c.series_id)
    )
    if ids is not None and len(ids) <= 500:
        query = query.where(c.series_id.in_(list(ids)))
    wanted = None if ids is None else set(ids)
    out: dict[int, Tally] = {}
    for (
        sid,
        up,
        down,
        unk,
        mnt,
        unmon,
        checks,
        fails,
        lsum,
        lcount,
        lmax,
        p95,
    ) in await conn.execute(query):
        if wanted is None or sid in wanted:
            out[sid] = Tally(
                float(up),
                float(down),
                float(unk),
                float(mnt),
                float(unmon),
                int(checks),
                int(fails),
                float(lsum),
                int(lcount),
                None if lmax is None else float(lmax),
                None if p95 is None else float(p95),
            )
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
        """Roll up every closed hour since the watermark (up to `max_hours`), and every local
        day they close; return how many hours."""
        now = self._clock.now()
        closed_until = floor_to(now - SETTLE, HOUR)
        await self._backfill_services()
        rolled = 0
        while rolled < self._max_hours:
            catalog = self._catalog()
            zone = catalog.timezone
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
                await self._roll_hour(conn, catalog, hour)
                day = mark.daily_until if mark.daily_until is not None else day_start(hour, zone)
                while (until := day_end(day, zone)) <= hour + HOUR:
                    await roll_day(conn, catalog, day, until)
                    day = until
                await upsert_states(
                    conn,
                    STATE_NAMESPACE,
                    {STATE_KEY: {"hourly_until": hour + HOUR, "daily_until": day}},
                    now,
                )
            rolled += 1
        if now - self._pruned_at >= HOUR:
            await self.prune(now)
            self._pruned_at = now
        if rolled:
            log.debug("rolled_up", hours=rolled)
        return rolled

    async def _roll_hour(self, conn: AsyncConnection, catalog: Catalog, hour: float) -> None:
        found = await raw_tallies(conn, catalog, hour, hour + HOUR)
        # A check gets a row when it was monitored or ran in the hour; a service when some
        # member was monitored.
        tallies = {
            k: t
            for k, t in found.items()
            if t.unmonitored < HOUR or (t.checks and not is_service_key(k))
        }
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
        runs once per service. A day's row sums the day's whole hours (in a zone whose
        midnight is not on the hour, its part-hours stay unmonitored)."""
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
            days = (
                await conn.execute(
                    select(rollup_days.c.start, rollup_days.c.end).order_by(rollup_days.c.start)
                )
            ).all()
            ids = await series_ids(conn, missing)
            hourly = [row_of(ids[k], h, t) for k, found in hours.items() for h, t in found.items()]
            daily = [
                row_of(ids[k], a, _day_tally(in_day, a, b))
                for k, found in hours.items()
                for (a, b), in_day in _by_day(found, days).items()
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


def _by_day(
    hours: Mapping[float, Tally], days: Sequence[tuple[float, float]]
) -> dict[tuple[float, float], list[Tally]]:
    """The hours' tallies by the rolled day (start, end) that holds each whole hour."""
    starts = [a for a, _ in days]
    out: dict[tuple[float, float], list[Tally]] = defaultdict(list)
    for hour, tally in hours.items():
        i = bisect.bisect_right(starts, hour) - 1
        if i >= 0 and hour + HOUR <= days[i][1]:
            out[days[i]].append(tally)
    return out


def _day_tally(parts: Sequence[Tally], start: float, end: float) -> Tally:
    """A day's Tally from tallies of its parts: time no part covers is unmonitored."""
    summed = total(parts)
    return replace(summed, unmonitored=(end - start) - summed.monitored)


async def roll_day(conn: AsyncConnection, catalog: Catalog, start: float, end: float) -> None:
    """Replace the daily rows of the day [start, end) (cut in `catalog.timezone`) with the
    sums of its hourly rows, and record the day's span and zone.

    A part-hour at either end (a zone whose midnight is not on the hour, or the first day
    after a zone change) is tallied from the raw samples, which the job reads within
    minutes of the day's end. A day's unmonitored time includes its hours that have no row
    (watchd down all hour).
    """
    first, last = math.ceil(start / HOUR) * HOUR, floor_to(end, HOUR)
    parts: dict[int, list[Tally]] = defaultdict(list)
    if first < last:
        for sid, tally in (await summed_rows(conn, rollups_hourly, first, last)).items():
            parts[sid].append(tally)
    edges = [(start, end)] if first > last else [(start, first), (last, end)]
    for a, b in edges:
        if b <= a:
            continue
        found = {
            k: t
            for k, t in (await raw_tallies(conn, catalog, a, b)).items()
            if t.monitored > 0 or (t.checks and not is_service_key(k))
        }
        ids = await series_ids(conn, found)
        for key, tally in found.items():
            parts[ids[key]].append(tally)
    d = rollups_daily
    await conn.execute(delete(d).where(d.c.start == start))
    await conn.execute(delete(rollup_days).where(rollup_days.c.start == start))
    await conn.execute(
        insert(rollup_days), [{"start": start, "end": end, "zone": catalog.timezone}]
    )
    rows = [row_of(sid, start, _day_tally(found, start, end)) for sid, found in parts.items()]
    if rows:
        await conn.execute(insert(d), rows)
