"""The dashboard's incident filters from the address (?state=&severity=&service=&item=&q=&sort=
&from=&to=), so a filtered view is a link to share. A bad value is named on the page and
ignored, never a blank page (in the page's language: a `Problem` is translated when shown)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from watchd.i18n import N_
from watchd.pipeline.incident_query import ORDERS, IncidentFilter
from watchd.report.catalog import Catalog
from watchd.report.period import zone_of

STATES = ("open", "acknowledged", "resolved", "closed")
SEVERITIES = ("critical", "error", "warning", "info")
OPEN = ("open", "acknowledged")
HISTORY = ("resolved", "closed")
_KEYS = ("state", "severity", "item", "service", "q", "sort", "from", "to")
TEXT_LIMIT = 200  # characters of a search, item or service name


@dataclass(frozen=True, slots=True)
class Problem:
    """A bad filter value: a catalog message and the values its placeholders take."""

    text: str
    values: Mapping[str, str]


_NOT_ONE_OF = N_("Ignored %(field)s: %(value)s is not one of %(choices)s.")
_NOT_A_DATE = N_("Ignored %(field)s: %(value)s is not a date like 2026-11-30.")
_NO_SERVICE = N_("Ignored service: no service is named %(value)s.")


@dataclass(frozen=True, slots=True)
class Filters:
    """What the filter form shows (the address's values) and the query it makes."""

    query: IncidentFilter
    values: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    services: tuple[str, ...] = ()


def _not_one_of(name: str, value: str, allowed: tuple[str, ...]) -> Problem:
    return Problem(
        _NOT_ONE_OF, {"field": name, "value": repr(value[:40]), "choices": ", ".join(allowed)}
    )


def _choices(
    raw: str, allowed: tuple[str, ...], name: str, problems: list[Problem]
) -> tuple[str, ...]:
    chosen = tuple(v for v in raw.split(",") if v)
    bad = [v for v in chosen if v not in allowed]
    if bad:
        problems.append(_not_one_of(name, bad[0], allowed))
    return tuple(v for v in chosen if v in allowed)


def _day(raw: str, name: str, problems: list[Problem]) -> dt.date | None:
    """The date `raw` (YYYY-MM-DD), or None (with a problem if it is not one)."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    problems.append(Problem(_NOT_A_DATE, {"field": name, "value": repr(raw[:40])}))
    return None


def _midnight(day: dt.date | None, zone: str) -> float | None:
    """When `day` starts in the report time zone (what a local day means to its team)."""
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(), tzinfo=zone_of(zone)).timestamp()


def parse_filters(
    query: Mapping[str, str], catalog: Catalog, *, default_state: tuple[str, ...]
) -> Filters:
    """The filters the address asks for; states default to `default_state` (open incidents on
    the front page, ended ones in the history)."""
    problems: list[Problem] = []
    values = {k: query.get(k, "")[:TEXT_LIMIT].strip() for k in _KEYS}
    state = _choices(values["state"], STATES, "state", problems) or default_state
    severity = _choices(values["severity"], SEVERITIES, "severity", problems)
    items: tuple[str, ...] | None = (values["item"],) if values["item"] else None
    services = tuple(s.name for s in catalog.services)
    if values["service"]:
        service = next((s for s in catalog.services if s.name == values["service"]), None)
        if service is None:
            problems.append(Problem(_NO_SERVICE, {"value": repr(values["service"][:40])}))
        else:
            members = {key[0] for key in catalog.members(service, ())}
            items = tuple(sorted(members if items is None else members & set(items)))
    order = values["sort"] or "newest"
    if order not in ORDERS:
        problems.append(_not_one_of("sort", order, ORDERS))
        order = "newest"
    start = _day(values["from"], "from", problems)
    last = _day(values["to"], "to", problems)  # the last day shown, whole
    after = None if last is None else last + dt.timedelta(days=1)
    return Filters(
        IncidentFilter(
            state=state,
            severity=severity,
            items=items,
            text=values["q"],
            opened_from=_midnight(start, catalog.timezone),
            opened_before=_midnight(after, catalog.timezone),
            order=order,  # type: ignore[arg-type]  # checked against ORDERS above
        ),
        values,
        problems,
        services,
    )
