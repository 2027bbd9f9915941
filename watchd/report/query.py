"""Tallies per check for any span, from the cheapest source that covers each part of it:

    [start ─────────────────────────────────────────────── end)   (end capped at now)
     raw │ hourly rows │ daily rows ... daily rows │ hourly rows │ raw (not rolled up yet)

Daily rows serve whole days before the daily watermark, hourly rows whole hours before the
hourly one, raw samples the rest. Time no source covers is unmonitored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.report.availability import Tally, tally_span
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import is_service_key, service_key, service_tallies
from watchd.report.rollup import DAY, HOUR, Watermark, load_watermark, read_samples
from watchd.report.windows import load_plan
from watchd.store.rollup_tables import rollups_daily, rollups_hourly
from watchd.store.series import series_ids


@dataclass(frozen=True, slots=True)
class Span:
    source: str  # "daily", "hourly" or "raw"
    start: float
    end: float


def plan_spans(start: float, end: float, mark: Watermark) -> list[Span]:
    """Cut [start, end) into runs served by daily rows, hourly rows or raw samples."""
    spans: list[Span] = []
    t = start
    while t < end:
        if mark.daily_until is not None and t % DAY == 0 and t + DAY <= min(end, mark.daily_until):
            source, step = "daily", DAY
        elif (
            mark.hourly_until is not None
            and t % HOUR == 0
            and t + HOUR <= min(end, mark.hourly_until)
        ):
            source, step = "hourly", HOUR
        else:
            source, step = "raw", min(end, (t // HOUR + 1) * HOUR) - t
        if spans and spans[-1].source == source and spans[-1].end == t:
            spans[-1] = Span(source, spans[-1].start, t + step)
        else:
            spans.append(Span(source, t, t + step))
        t += step
    return spans


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
    mark = await load_watermark(conn)
    ids = await series_ids(conn)
    every_check = {*(k for k in ids if not is_service_key(k)), *catalog.labels}
    wanted = sorted(set(keys) if keys is not None else every_check)
    by_id = {ids[k]: k for k in wanted if k in ids}
    out: dict[Key, Tally] = {}
    for span in plan_spans(start, end, mark):
        if span.source == "raw":
            found = await _raw(conn, catalog, span, wanted, ids)
        else:
            table = rollups_daily if span.source == "daily" else rollups_hourly
            found = await _rows(conn, table, span, by_id)
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


async def _rows(
    conn: AsyncConnection, table: Table, span: Span, by_id: dict[int, Key]
) -> dict[Key, Tally]:
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
        .where(c.start >= span.start, c.start < span.end)
        .group_by(c.series_id)
    )
    if len(by_id) <= 500:
        query = query.where(c.series_id.in_(list(by_id)))
    out: dict[Key, Tally] = {}
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
        key = by_id.get(sid)
        if key is not None:
            out[key] = Tally(
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


async def _raw(
    conn: AsyncConnection,
    catalog: Catalog,
    span: Span,
    wanted: Sequence[Key],
    known: Iterable[Key],
) -> dict[Key, Tally]:
    asked = set(wanted)
    services = [k for k in wanted if is_service_key(k)]
    by_name = {service_key(s): s for s in catalog.services}
    members = {m for k in services if k in by_name for m in catalog.members(by_name[k], known)}
    checks = sorted({*(k for k in wanted if not is_service_key(k)), *members})
    lookback = span.start - catalog.max_gap()
    by_check = await read_samples(conn, lookback, span.end, checks)
    plan = await load_plan(conn, catalog.windows, catalog.inventory, lookback, span.end)
    out = {
        key: tally_span(
            samples,
            start=span.start,
            end=span.end,
            max_gap=catalog.gap(key),
            maintenance=plan.intervals(key[0], catalog.check_labels(key)),
        )
        for key, samples in by_check.items()
        if key in asked
    }
    return out | service_tallies(catalog, services, by_check, plan, span.start, span.end)
