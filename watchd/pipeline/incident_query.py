"""Which incidents a list shows and in what order: the filters and sorts the dashboard and the
API share (state, severity, items, text in the title, item or labels, the period opened)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, String, case, cast, or_, select

from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incidents as inc
from watchd.store.tables import alerts as al

Order = Literal["newest", "oldest", "severity", "item", "state"]
ORDERS: tuple[Order, ...] = ("newest", "oldest", "severity", "item", "state")
# Most urgent first; a severity not listed sorts after these.
_SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}
_STATE_RANK = {"open": 0, "acknowledged": 1, "resolved": 2, "closed": 3}


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What to show: each field set narrows the list; `items` None is any item, an empty tuple
    none (a service with no configured member)."""

    state: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    items: tuple[str, ...] | None = None
    text: str = ""
    opened_from: float | None = None
    opened_before: float | None = None
    problem_id: int | None = None
    change_id: int | None = None
    order: Order = "newest"


def _like(text: str) -> str:
    """`text` as a case-insensitive LIKE pattern matching it anywhere (wildcards taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(f: IncidentFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.state:
        where.append(inc.c.state.in_(f.state))
    if f.severity:
        where.append(inc.c.severity.in_(f.severity))
    if f.items is not None:
        where.append(inc.c.item.in_(f.items))
    if f.text:
        pattern = _like(f.text)
        # Labels are matched in their JSON text, any of the incident's alerts' labels: "dba"
        # finds team=dba, "db" finds service=db and db1's incidents alike.
        labelled = (
            select(ia.c.incident_id)
            .join(al, al.c.fingerprint == ia.c.fingerprint)
            .where(ia.c.incident_id == inc.c.id)
            .where(cast(al.c.labels, String).ilike(pattern, escape="\\"))
        )
        where.append(
            or_(
                inc.c.title.ilike(pattern, escape="\\"),
                inc.c.item.ilike(pattern, escape="\\"),
                labelled.exists(),
            )
        )
    if f.problem_id is not None:
        where.append(inc.c.problem_id == f.problem_id)
    if f.change_id is not None:
        where.append(inc.c.change_id == f.change_id)
    if f.opened_from is not None:
        where.append(inc.c.opened_at >= f.opened_from)
    if f.opened_before is not None:
        where.append(inc.c.opened_at < f.opened_before)
    return where


def _order(order: Order) -> list[Any]:
    if order == "oldest":
        return [inc.c.id.asc()]
    if order == "severity":
        return [case(_SEVERITY_RANK, value=inc.c.severity, else_=9), inc.c.id.desc()]
    if order == "state":
        return [case(_STATE_RANK, value=inc.c.state, else_=9), inc.c.id.desc()]
    if order == "item":
        return [inc.c.item.asc(), inc.c.id.desc()]
    return [inc.c.id.desc()]


def filtered(query: Select[Any], f: IncidentFilter) -> Select[Any]:
    """`query` over the incidents table narrowed and ordered by `f` (ids break ties, so pages
    are stable)."""
    return query.where(*_conditions(f)).order_by(*_order(f.order))
