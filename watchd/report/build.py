"""Build an availability report for a period: one JSON-able dict that every output renders.

    period ─► local days ─► tallies per check and day (query.tallies) ─┬─► checks, items, services
                                                                     ├─► daily availability
    incidents opened in the period ─► MTTR, MTTA, SLA breaches, per week
    incidents and pages of the period ─► MTTA/MTTR per person and team, pages, night pages
    rule states ─► forecasts, certificates ─┐
    daily latency and failures ─► trends ───┴─► maintenance candidates

Times are epoch seconds and ISO 8601 in the period's zone (`[daemon] timezone`) to the second;
months, days and weeks are local ones (watchd.report.period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.report import maintenance, metrics
from watchd.report.availability import Tally, total
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import is_service_key, query_keys, service_total
from watchd.report.compare import change, previous_period
from watchd.report.config import ServiceConfig
from watchd.report.people import load_pages, people_section
from watchd.report.period import Period, iso
from watchd.report.query import daily_tallies, other_zone_days
from watchd.report.reviews import review_section
from watchd.store.series import series_ids
from watchd.store.states import select_states

TOP_OFFENDERS = 10


async def build_report(
    engine: AsyncEngine,
    catalog: Catalog,
    period: Period,
    *,
    now: float,
    service: str | None = None,
) -> dict[str, Any]:
    """The report of `period` (all checks and services, or one service) as a JSON-able dict.

    Raises KeyError naming the service when `service` is not configured.
    """
    services: Sequence[ServiceConfig] = catalog.services
    if service is not None:
        found = catalog.service(service)
        if found is None:
            raise KeyError(service)
        services = (found,)
    async with engine.connect() as conn:
        known = [k for k in await series_ids(conn) if not is_service_key(k)]
        members = {s.name: catalog.members(s, known) for s in services}
        keys = (
            sorted({k for ks in members.values() for k in ks})
            if service is not None
            else sorted({*known, *catalog.labels})
        )
        asked = sorted({*keys, *(k for s in services for k in query_keys(s, members[s.name]))})
        days = await daily_tallies(
            conn, catalog, period.start, period.end, zone=period.zone, now=now, keys=asked
        )
        cut_elsewhere = await other_zone_days(conn, period.start, period.end, period.zone)
        incidents = await metrics.load_incidents(conn, period.start, period.end)
        if service is not None:
            incidents = [i for i in incidents if i.item in {k[0] for k in keys}]
        causes = await metrics.load_causes(conn, [r.id for r in incidents])
        pages = await load_pages(conn, period.start, period.end)
        if service is not None:
            pages = [p for p in pages if p.item in {k[0] for k in keys}]
        review_list = await review_section(
            conn,
            period.start,
            period.end,
            now=now,
            zone=period.zone,
            incidents=None if service is None else {i.id for i in incidents},
        )
        rule_states = await select_states(conn, "rules")
        before = await previous_period(
            conn,
            catalog,
            period,
            services,
            members,
            now=now,
            items=None if service is None else sorted({k[0] for k in keys}),
        )
    per_check: dict[Key, Tally] = {k: total(d[k] for _, d in days if k in d) for k in asked}
    items = sorted({k[0] for k in keys})
    policy = catalog.report.maintenance_policy
    zone = period.zone
    by_item: dict[str, list[Key]] = defaultdict(list)
    for key in keys:
        by_item[key[0]].append(key)
    incidents_by_item: dict[str, list[metrics.IncidentRow]] = defaultdict(list)
    for row in incidents:
        incidents_by_item[row.item].append(row)

    service_rows = []
    for s in services:
        ks = members[s.name]
        pol = catalog.policy(s)
        tally, n = service_total(s, per_check, ks)
        service_items = {k[0] for k in ks}
        shown = metrics.figures(tally, pol, members=n)
        opened = sum(1 for r in incidents if r.item in service_items)
        then = before["services"][s.name]
        service_rows.append(
            {
                "name": s.name,
                "objective_percent": s.objective,
                "maintenance_policy": pol,
                "availability_rule": s.availability,
                "checks": [f"{i}/{c}" for i, c in ks],
                **shown,
                "error_budget": metrics.error_budget(
                    tally,
                    pol,
                    s.objective,
                    members=n,
                    period_seconds=period.end - period.start,
                ),
                "incidents": metrics.incident_figures(
                    [r for r in incidents if r.item in service_items]
                ),
                "previous": {
                    **then,
                    "availability_delta": change(
                        shown["availability_percent"], then["availability_percent"]
                    ),
                    "incidents_delta": opened - then["incidents"],
                },
                "daily": [
                    {
                        "date": iso(d, zone)[:10],
                        "availability_percent": metrics.figures(
                            service_total(s, t, ks)[0], pol, members=n
                        )["availability_percent"],
                    }
                    for d, t in days
                ],
            }
        )
    check_rows = [
        {"item": k[0], "check": k[1], **metrics.figures(per_check[k], policy)} for k in keys
    ]
    item_rows = [
        {
            "item": item,
            **metrics.figures(
                total(per_check[k] for k in by_item[item]), policy, members=len(by_item[item])
            ),
            "incidents": metrics.incident_figures(incidents_by_item.get(item, [])),
        }
        for item in items
    ]
    offenders = sorted(
        (r for r in check_rows if r["downtime_seconds"]),
        key=lambda r: -float(r["downtime_seconds"]),
    )[:TOP_OFFENDERS]
    forecast_list = [
        f
        for f in maintenance.forecasts(rule_states, now, zone)
        if service is None or f["item"] in items
    ]
    cert_list = [
        c
        for c in maintenance.certificates(rule_states, catalog.report.cert_expiry_rules, now, zone)
        if service is None or c["item"] in items
    ]
    return {
        "period": {
            "label": period.label,
            "timezone": zone,
            "from": iso(period.start, zone),
            "to": iso(period.end, zone),
            "elapsed_to": iso(min(period.end, max(period.start, now)), zone),
            # Days rolled up in another zone (before a `[daemon] timezone` change): their
            # hours older than hourly_retention count as unmonitored in this zone's days.
            "days_cut_in_other_zones": [
                {"timezone": cut, "from": iso(a, zone), "to": iso(b, zone)}
                for cut, a, b in cut_elsewhere
            ],
        },
        "generated_at": iso(now, zone),
        "service": service,
        "maintenance_policy": policy,
        "services": service_rows,
        "previous": {
            "period": {k: before[k] for k in ("label", "from", "to")},
            "incidents": before["incidents"],
            "incidents_delta": len(incidents) - before["incidents"],
        },
        "daily": [
            {
                "date": iso(d, zone)[:10],
                "availability_percent": metrics.figures(
                    total(t[k] for k in keys if k in t), policy, members=max(1, len(keys))
                )["availability_percent"],
            }
            for d, t in days
        ],
        "checks": check_rows,
        "items": item_rows,
        "incidents": {
            **metrics.incident_figures(incidents),
            "weekly": metrics.weekly(incidents, period.start, min(period.end, now), zone),
            "mtta_by_acknowledger": metrics.mtta_by_acknowledger(incidents),
            "list": [
                {
                    "id": r.id,
                    "item": r.item,
                    "title": r.title,
                    "severity": r.severity,
                    "state": r.state,
                    "opened_at": iso(r.opened_at, zone),
                    "resolved_at": None if r.resolved_at is None else iso(r.resolved_at, zone),
                    "mttr_seconds": None
                    if r.resolved_at is None
                    else round(r.resolved_at - r.opened_at, 3),
                    "cause": causes.get(r.id) or r.title,
                    "sla_breaches": r.sla_breaches,
                }
                for r in incidents
            ],
        },
        "people": people_section(catalog.people, incidents, pages),
        "top_offenders": [
            {"item": r["item"], "check": r["check"], "downtime_seconds": r["downtime_seconds"]}
            for r in offenders
        ],
        "forecasts": forecast_list,
        "certificates": cert_list,
        "reviews": review_list,
        "maintenance_candidates": maintenance.candidates(
            forecast_list=forecast_list,
            cert_list=cert_list,
            cert_warn_days=catalog.report.cert_warn_days,
            daily=maintenance.daily_points(days, keys),
        ),
    }
