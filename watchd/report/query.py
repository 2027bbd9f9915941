"""Tallies per check for any span, from the cheapest source that covers each part of it:

    [start ─────────────────────────────────────────────── end)   (end capped at now)
     raw │ hourly rows │ daily rows ... daily rows │ hourly rows │ raw (not rolled up yet)

Daily rows serve the rolled days (rollup_days: local days of the zone they were cut in) that
lie whole inside the span, hourly rows whole hours before the hourly watermark, raw samples
the rest. Time no source covers is unmonitored. `daily_tallies` cuts a span into local days
for the report's and the status page's per-day figures.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.report.availability import Tally
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import is_service_key
from watchd.report.period import local_days
from watchd.report.rollup import HOUR, Watermark, load_watermark, raw_tallies, summed_rows
from watchd.store.rollup_tables import rollup_days, rollups_daily, rollups_hourly
from watchd.store.series import series_ids


@dataclass(frozen=True, slots=True)
class Span:
    source: str  # "daily", "hourly" or "raw"
    start: float
    end: float


def plan_spans(
    start: float, end: float, mark: Watermark, days: Mapping[float, float] | None = None
) -> list[Span]:
    """Cut [start, end) into runs served by daily rows, hourly rows or raw samples; `days`
    maps each rolled day's start to its end."""
    days = days or {}
    starts = sorted(days)
    spans: list[Span] = []
    t = start
    while t < end:
        ends = days.get(t)
        if mark.daily_until is not None and ends is not None and ends <= min(end, mark.daily_until):
            source, step = "daily", ends - t
        elif (
            mark.hourly_until is not None
            and t % HOUR == 0
            and t + HOUR <= min(end, mark.hourly_until)
        ):
            source, step = "hourly", HOUR
        else:
            # Up to the next hour, or the next day where that comes first (a zone whose
            # midnight is not on the hour).
            i = bisect.bisect_right(starts, t)
            stop = min(end, (t // HOUR + 1) * HOUR, starts[i] if i < len(starts) else end)
            source, step = "raw", stop - t
        if spans and spans[-1].source == source and spans[-1].end == t:
            spans[-1] = Span(source, spans[-1].start, t + step)
        else:
            spans.append(Span(source, t, t + step))
        t += step
    return spans


@dataclass(frozen=True, slots=True)
class _Sources:
    """What the store holds for a span: the watermark, the series and the rolled days."""

    mark: Watermark
    ids: Mapping[Key, int]
    days: Mapping[float, float]


async def _sources(conn: AsyncConnection, start: float, end: float) -> _Sources:
    found = await conn.execute(
        select(rollup_days.c.start, rollup_days.c.end).where(
            rollup_days.c.start >= start, rollup_days.c.start < end
        )
    )
    return _Sources(
        await load_watermark(conn), await series_ids(conn), {a: b for a, b in found.all()}
    )


async def tallies(
    conn: AsyncConnection,
    catalog: Catalog,
    start: float,
    end: float,
    *,
    now: float,
    keys: Sequence[Key] | None = None,
) -> dict[Key, Tally]:
    """Each check's Tally over [start, min(end, now)); every tally's total is that length.

    `keys` None means every check known to the rollups or the configuration; a combined
    service's series (watchd.report.combine.service_key) is computed from its members where
    no rollup row has it yet.
    """
    end = min(end, now)
    if end <= start:
        return {}
    return await _tallies(conn, catalog, start, end, await _sources(conn, start, end), keys)


async def daily_tallies(
    conn: AsyncConnection,
    catalog: Catalog,
    start: float,
    end: float,
    *,
    zone: str,
    now: float,
    keys: Sequence[Key] | None = None,
) -> list[tuple[float, dict[Key, Tally]]]:
    """(day start, tallies as `tallies` gives them) for each local day of `zone` in
    [start, min(end, now)), the first and last day clipped to the span."""
    end = min(end, now)
    if end <= start:
        return []
    sources = await _sources(conn, start, end)
    return [
        (a, await _tallies(conn, catalog, a, b, sources, keys))
        for a, b in local_days(start, end, zone)
    ]


async def other_zone_days(
    conn: AsyncConnection, start: float, end: float, zone: str
) -> list[tuple[str, float, float]]:
    """Runs of rolled days overlapping [start, end) that were cut in another zone than
    `zone`, as (zone, first day's start, last day's end): a report in `zone` reads those
    days' hours from hourly rows, and as unmonitored once hourly_retention dropped them."""
    d = rollup_days.c
    rows = await conn.execute(
        select(d.start, d.end, d.zone).where(d.end > start, d.start < end).order_by(d.start)
    )
    runs: list[tuple[str, float, float]] = []
    for a, b, cut in rows:
        if cut == zone:
            continue
        if runs and runs[-1][0] == cut and runs[-1][2] == a:
            runs[-1] = (cut, runs[-1][1], b)
        else:
            runs.append((cut, a, b))
    return runs


async def _tallies(
    conn: AsyncConnection,
    catalog: Catalog,
    start: float,
    end: float,
    sources: _Sources,
    keys: Sequence[Key] | None,
) -> dict[Key, Tally]:
    ids = sources.ids
    every_check = {*(k for k in ids if not is_service_key(k)), *catalog.labels}
    wanted = sorted(set(keys) if keys is not None else every_check)
    by_id = {ids[k]: k for k in wanted if k in ids}
    out: dict[Key, Tally] = {}
    for span in plan_spans(start, end, sources.mark, sources.days):
        if span.source == "raw":
            found = await raw_tallies(conn, catalog, span.start, span.end, wanted, ids)
        else:
            table = rollups_daily if span.source == "daily" else rollups_hourly
            rows = await summed_rows(conn, table, span.start, span.end, by_id)
            found = {by_id[sid]: tally for sid, tally in rows.items()}
        for key, tally in found.items():
            out[key] = out[key] + tally if key in out else tally
    length = end - start
    for key in wanted:
        got = out.get(key, Tally())
        missing = length - got.total
        if missing > 1e-6:
            got = got + Tally(unmonitored=missing)
        out[key] = got
    return out
