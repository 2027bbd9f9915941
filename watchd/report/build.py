"""Build an availability report for a period: one JSON-able dict that every output renders.

    period ─► UTC days ─► tallies per check and day (query.tallies) ─┬─► checks, items, services
                                                                     ├─► daily availability
    incidents opened in the period ─► MTTR, MTTA, SLA breaches, per week
    rule states ─► forecasts, certificates ─┐
    daily latency and failures ─► trends ───┴─► maintenance candidates

Times are epoch seconds and ISO 8601 UTC; months and days are UTC.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.report import maintenance, metrics
from watchd.report.availability import Tally, total
from watchd.report.catalog import Catalog, Key
from watchd.report.config import ServiceConfig
from watchd.report.query import tallies
from watchd.report.rollup import DAY
from watchd.store.series import series_ids
from watchd.store.states import select_states
from watchd.timestamps import time_problem

TOP_OFFENDERS = 10
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A report period cannot be understood; `text` is what was given."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"The report period {text!r} is not valid: {reason}.")
        self.text = text
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Period:
    start: float
    end: float
    label: str

    @classmethod
    def month(cls, text: str) -> Period:
        """A calendar month in UTC from "YYYY-MM"."""
        found = _MONTH.match(text)
        if not found or not 1 <= int(found[2]) <= 12:
            raise PeriodError(text, "expected a month as YYYY-MM, e.g. 2026-10")
        year, month = int(found[1]), int(found[2])
        if not (1970, 1) <= (year, month) <= (9999, 11):
            # Its end must be a time a report can show (datetime ends with year 9999).
            raise PeriodError(text, "expected a month from 1970-01 to 9999-11")
        first = datetime(year, month, 1, tzinfo=UTC)
        days = calendar.monthrange(year, month)[1]
        return cls(first.timestamp(), first.timestamp() + days * DAY, text)

    @classmethod
    def between(cls, start: str, end: str) -> Period:
        """From two ISO dates or times (UTC unless they say otherwise); end exclusive."""
        a, b = _moment(start), _moment(end)
        if b <= a:
            raise PeriodError(f"{start}..{end}", "the end must come after the start")
        return cls(a, b, f"{start}..{end}")

    def bounded(self, longest: float) -> Period:
        """This period, if it spans at most `longest` seconds ([report] max_period)."""
        if self.end - self.start > longest:
            raise PeriodError(
                self.label,
                f"it spans {_days(self.end - self.start)}, more than the longest a report may "
                f"cover, {_days(longest)} ([report] max_period)",
            )
        return self

    @classmethod
    def this_month(cls, now: float) -> Period:
        today = datetime.fromtimestamp(now, UTC)
        return cls.month(f"{today.year:04d}-{today.month:02d}")


def _moment(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(text, "expected an ISO date or time, e.g. 2026-10-01") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    moment = parsed.timestamp()
    if (problem := time_problem(moment)) is not None:
        raise PeriodError(text, problem)
    return moment


def _days(seconds: float) -> str:
    days = seconds / DAY
    return f"{days:,.0f} days" if days == int(days) or days >= 10 else f"{days:.1f} days"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


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
        known = list(await series_ids(conn))
        members = {s.name: catalog.members(s, known) for s in services}
        keys = (
            sorted({k for ks in members.values() for k in ks})
            if service is not None
            else sorted({*known, *catalog.labels})
        )
        days: list[tuple[float, dict[Key, Tally]]] = []
        day = period.start - period.start % DAY
        while day < min(period.end, now):
            a, b = max(day, period.start), min(day + DAY, period.end)
            days.append((day, await tallies(conn, catalog, a, b, now=now, keys=keys)))
            day += DAY
        incidents = await metrics.load_incidents(conn, period.start, period.end)
        rule_states = await select_states(conn, "rules")
    per_check: dict[Key, Tally] = {k: total(d[k] for _, d in days if k in d) for k in keys}
    items = sorted({k[0] for k in keys})
    if service is not None:
        incidents = [i for i in incidents if i.item in items]
    policy = catalog.report.maintenance_policy
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
        tally = total(per_check[k] for k in ks)
        service_items = {k[0] for k in ks}
        service_rows.append(
            {
                "name": s.name,
                "objective_percent": s.objective,
                "maintenance_policy": pol,
                "checks": [f"{i}/{c}" for i, c in ks],
                **metrics.figures(tally, pol, members=len(ks)),
                "error_budget": metrics.error_budget(
                    tally,
                    pol,
                    s.objective,
                    members=len(ks),
                    period_seconds=period.end - period.start,
                ),
                "incidents": metrics.incident_figures(
                    [r for r in incidents if r.item in service_items]
                ),
                "daily": [
                    {
                        "date": _iso(d)[:10],
                        "availability_percent": metrics.figures(
                            total(t[k] for k in ks if k in t), pol, members=len(ks)
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
        f for f in maintenance.forecasts(rule_states, now) if service is None or f["item"] in items
    ]
    cert_list = [
        c
        for c in maintenance.certificates(rule_states, catalog.report.cert_expiry_rules, now)
        if service is None or c["item"] in items
    ]
    daily_points = {
        k: [
            (n, t[k].latency_avg, t[k].failures)
            for n, (_, t) in enumerate(days)
            if k in t and t[k].monitored > 0
        ]
        for k in keys
    }
    return {
        "period": {
            "label": period.label,
            "from": _iso(period.start),
            "to": _iso(period.end),
            "elapsed_to": _iso(min(period.end, max(period.start, now))),
        },
        "generated_at": _iso(now),
        "service": service,
        "maintenance_policy": policy,
        "services": service_rows,
        "daily": [
            {
                "date": _iso(d)[:10],
                "availability_percent": metrics.figures(
                    total(t.values()), policy, members=max(1, len(t))
                )["availability_percent"],
            }
            for d, t in days
        ],
        "checks": check_rows,
        "items": item_rows,
        "incidents": {
            **metrics.incident_figures(incidents),
            "weekly": metrics.weekly(incidents, period.start, min(period.end, now)),
            "mtta_by_acknowledger": metrics.mtta_by_acknowledger(incidents),
            "list": [
                {
                    "id": r.id,
                    "item": r.item,
                    "title": r.title,
                    "severity": r.severity,
                    "state": r.state,
                    "opened_at": _iso(r.opened_at),
                    "mttr_seconds": None
                    if r.resolved_at is None
                    else round(r.resolved_at - r.opened_at, 3),
                    "sla_breaches": r.sla_breaches,
                }
                for r in incidents
            ],
        },
        "top_offenders": [
            {"item": r["item"], "check": r["check"], "downtime_seconds": r["downtime_seconds"]}
            for r in offenders
        ],
        "forecasts": forecast_list,
        "certificates": cert_list,
        "maintenance_candidates": maintenance.candidates(
            forecast_list=forecast_list,
            cert_list=cert_list,
            cert_warn_days=catalog.report.cert_warn_days,
            daily=daily_points,
        ),
    }
