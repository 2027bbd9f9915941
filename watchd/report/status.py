"""What a status page shows of a service, from the report's own figures: its current state
from its members' current check states, and its availability per local day.

A member check's current state: its HARD status (OK and WARNING up, CRITICAL down, UNKNOWN
unknown, as availability.status_class counts them), "maintenance" while a maintenance window
or a change covers it (windows.MaintenancePlan, as in reports), "unmonitored" before its
first result. The service's state combines them by its availability rule
(combine.combined_state; "weighted" as "any": only every member down is an outage):

    combined   shown          unless
    down       down
    maintenance under maintenance
    unknown,   unknown        (watchd cannot tell: no member result, or UNKNOWN results)
    unmonitored
    up         degraded       a member is down, unknown or WARNING, or an incident is ongoing
               operational    otherwise

Days are local days of `[daemon] timezone`; a service's availability of a day follows its
rule and maintenance policy exactly as `watchd report` counts it (the same days from
query.daily_tallies, combine.service_total, metrics.figures), from daily or hourly rollups
and raw samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.model import Status
from watchd.report.availability import DOWN, UP, Tally, status_class, total
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import (
    MAINTENANCE,
    UNMONITORED,
    combined_state,
    is_service_key,
    query_keys,
    service_total,
)
from watchd.report.config import ServiceConfig
from watchd.report.metrics import figures
from watchd.report.period import iso, local_date, midnight
from watchd.report.query import daily_tallies
from watchd.report.windows import MaintenancePlan
from watchd.store.series import series_ids

OPERATIONAL, DEGRADED, OUTAGE, UNDER_MAINTENANCE, NO_DATA = (
    "operational",
    "degraded",
    "down",
    "maintenance",
    "unknown",
)


def member_state(
    hard_status: str | None, key: Key, catalog: Catalog, plan: MaintenancePlan, now: float
) -> tuple[str, bool]:
    """A member check's state now (up, down, unknown, maintenance, unmonitored) and whether
    it is WARNING; `hard_status` is a Status name, None before its first result."""
    intervals = plan.intervals(key[0], catalog.check_labels(key))
    if any(a <= now < b for a, b in intervals):
        return MAINTENANCE, False
    if hard_status is None or hard_status not in Status.__members__:
        return UNMONITORED, False
    status = Status[hard_status]
    return status_class(status), status == Status.WARNING


def service_state(
    service: ServiceConfig, members: Sequence[tuple[str, bool]], *, incident: bool
) -> str:
    """The state shown for `service` from its members' (state, warning) pairs (the module's
    table); `incident` says whether an incident touching it is ongoing."""
    if not members:
        return NO_DATA
    states = [state for state, _ in members]
    rule = "all" if service.availability == "all" else "any"
    combined = combined_state(states, rule)
    if combined == DOWN:
        return OUTAGE
    if combined == MAINTENANCE:
        return UNDER_MAINTENANCE
    if combined != UP:
        return NO_DATA
    troubled = any(state != UP or warning for state, warning in members)
    return DEGRADED if troubled or incident else OPERATIONAL


@dataclass(frozen=True, slots=True)
class Day:
    """One local day of a service: its date and availability (None: nothing eligible)."""

    date: str
    availability_percent: float | None


@dataclass(frozen=True, slots=True)
class History:
    """A service's last days, oldest first, and its availability over all of them."""

    days: tuple[Day, ...]
    availability_percent: float | None


async def daily_history(
    conn: AsyncConnection,
    catalog: Catalog,
    services: Sequence[ServiceConfig],
    *,
    days: int,
    now: float,
) -> dict[str, History]:
    """Each service's availability per local day over the `days` local days ending today
    (today up to `now`), by its rule and maintenance policy, keyed by service name."""
    found = await recent_days(conn, catalog, services, days=days, now=now)
    return {s.name: history(catalog, s, found) for s in services}


@dataclass(frozen=True, slots=True)
class RecentDays:
    """The tallies per local day of some services' checks over the last days, oldest first,
    and each service's member checks (by name)."""

    zone: str
    members: dict[str, list[Key]]
    days: list[tuple[float, dict[Key, Tally]]]


async def recent_days(
    conn: AsyncConnection,
    catalog: Catalog,
    services: Sequence[ServiceConfig],
    *,
    days: int,
    now: float,
) -> RecentDays:
    """The tallies `history` needs for `services` over the `days` local days of
    `[daemon] timezone` ending today (today up to `now`); they hold each member check's own
    tally too (its latency per day, say)."""
    zone = catalog.timezone
    first = midnight(local_date(now, zone) - timedelta(days=days - 1), zone)
    known = [k for k in await series_ids(conn) if not is_service_key(k)]
    members = {s.name: catalog.members(s, known) for s in services}
    asked = sorted({k for s in services for k in query_keys(s, members[s.name])})
    found = await daily_tallies(conn, catalog, first, now, zone=zone, now=now, keys=asked)
    return RecentDays(zone, members, found)


def history(catalog: Catalog, service: ServiceConfig, found: RecentDays) -> History:
    """`service`'s availability per day of `found` and over all of them, by its rule and
    maintenance policy."""
    ks, policy, zone = found.members[service.name], catalog.policy(service), found.zone
    per_day = [(a, service_total(service, t, ks)) for a, t in found.days]
    whole = total(tally for _, (tally, _) in per_day)
    n = per_day[0][1][1] if per_day else 1
    return History(
        days=tuple(
            Day(iso(a, zone)[:10], figures(tally, policy, members=m)["availability_percent"])
            for a, (tally, m) in per_day
        ),
        availability_percent=figures(whole, policy, members=n)["availability_percent"],
    )
