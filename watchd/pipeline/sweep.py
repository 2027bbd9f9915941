"""Re-deciding mutes as time passes: windows start and end, silences expire, parents recover.

One sweep, in one transaction, re-evaluates the mute reason of every alert of an incident that
is active or still owes its resolved notification, lets the incidents settle (this is where
"window ended: still firing → notified once, resolved meanwhile → resolved notified" happens),
releases symptoms whose item is reachable again (to await a fresh result) and correlates on
their own those that got none within recheck_timeout.

The timers' sweep (`AlertPipeline.sweep`) runs in steps, since 100,000 firing alerts took
seconds to look through: `mute_flips` reads a page of members at a time without the write
lock, `apply_flips` writes the flips of some incidents per transaction (skipping a member
changed since it was read: the next sweep decides it again) and `release` ends with the
symptoms. An operator's action (a silence, a change) sweeps at once in its own transaction
(`sweep`). When nothing mutes anything, only members muted now or made inside watchd (whose
flapping mutes them) can change: just those are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.ledger import Ledger
from watchd.incidents.lifecycle import SYSTEM, settle
from watchd.incidents.model import ACTIVE_STATES
from watchd.incidents.settings import IncidentSettings
from watchd.model import is_flapping
from watchd.pipeline.correlate import Correlator
from watchd.pipeline.mute import MuteView
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incidents as inc
from watchd.store.members import bound_values, one_of
from watchd.store.tables import INTERNAL_SOURCE
from watchd.store.tables import alerts as al

Flip = tuple[str, str | None, str | None]  # fingerprint, muted before, muted after


async def sweep(
    conn: AsyncConnection, now: float, settings: IncidentSettings
) -> tuple[int, set[tuple[str, str]]]:
    """Apply mute changes since the last sweep in `conn`'s transaction; return how many
    alerts changed mute state and the (item, check) whose fresh result released symptoms now
    await."""
    ledger = Ledger(conn, now, settings)
    view = await MuteView.load(conn, now, settings)
    touched, _ = await mute_flips(conn, view)
    flips = await apply_flips(ledger, touched)
    return flips, await release(ledger, view)


async def mute_flips(
    conn: AsyncConnection, view: MuteView, *, after: int = 0, limit: int | None = None
) -> tuple[dict[int, list[Flip]], int | None]:
    """The mute flips of members of incidents with an id above `after`, by incident: all of
    them, or those of the incidents among the next `limit` members (an incident is read
    whole); with the last incident id read when more may follow (None when done)."""
    rows = await _members(conn, view, after=after, limit=limit)
    more = None
    if limit is not None and len(rows) == limit:
        # The last incident may go on past the page: it is read whole.
        more = rows[-1].incident_id
        rows = [r for r in rows if r.incident_id != more]
        rows += await _members(conn, view, only=more)
    touched: dict[int, list[Flip]] = {}
    for incident_id, fp, muted, labels, notes, source in rows:
        reason = view.reason(dict(labels), flapping=is_flapping(notes, source))
        if reason != muted:
            touched.setdefault(incident_id, []).append((fp, muted, reason))
    return touched, more


async def _members(
    conn: AsyncConnection,
    view: MuteView,
    *,
    after: int = 0,
    limit: int | None = None,
    only: int | None = None,
) -> list[Row[Any, Any, Any, Any, Any, Any]]:
    """Members whose mute a sweep decides, by incident id: above `after` (`limit` at most),
    or of incident `only`."""
    which = ia.c.incident_id == only if only is not None else ia.c.incident_id > after
    if not view.mutes_nothing:
        return await _member_rows(conn, limit, which)
    # Only flapping can mute now: what may change is a member muted now and a member made
    # inside watchd (its flapping mutes it). Each is found through a partial index (migration
    # 0020); one query for both read every member of every active incident (335 ms per timer
    # tick with 100,000 firing alerts). The alerts of watchd's own sources are read first, on
    # their own: asked as a subquery, PostgreSQL planned from the members while its statistics
    # lagged a burst of new ones (180-480 ms a tick).
    muted = await _member_rows(conn, limit, which, ia.c.muted.is_not(None))
    internal = list((await conn.execute(select(al.c.fingerprint).where(INTERNAL_SOURCE))).scalars())
    own = []
    if internal:
        dialect = conn.dialect.name
        own = await _member_rows(
            conn,
            limit,
            which,
            ia.c.muted.is_(None),
            one_of(dialect, ia.c.fingerprint, "internal"),
            values={"internal": bound_values(dialect, internal)},
        )
    rows = sorted([*muted, *own], key=lambda row: (row.incident_id, row.fingerprint))
    return rows if limit is None else rows[:limit]


async def _member_rows(
    conn: AsyncConnection,
    limit: int | None,
    *conditions: ColumnElement[bool],
    values: Mapping[str, Any] | None = None,
) -> list[Row[Any, Any, Any, Any, Any, Any]]:
    """Members of incidents active or owing their resolved notification, with `conditions`
    (their parameters bound from `values`), in (incident id, fingerprint) order, `limit` at
    most."""
    query = (
        select(
            ia.c.incident_id,
            ia.c.fingerprint,
            ia.c.muted,
            al.c.labels,
            al.c.annotations,
            al.c.source,
        )
        .select_from(
            ia.join(inc, inc.c.id == ia.c.incident_id).join(
                al, al.c.fingerprint == ia.c.fingerprint
            )
        )
        .where(
            ia.c.role == "member",
            or_(
                inc.c.state.in_(ACTIVE_STATES),
                and_(inc.c.notified == "firing", ia.c.muted.is_not(None)),
            ),
            *conditions,
        )
        .order_by(ia.c.incident_id, ia.c.fingerprint)
        .limit(limit)
    )
    return list((await conn.execute(query, values)).all())


async def apply_flips(
    ledger: Ledger, touched: Mapping[int, list[Flip]], *, recheck: bool = False
) -> int:
    """Record the flips and let their incidents settle; with `recheck` (flips read in an
    earlier transaction), a member whose mute changed since is left to the next sweep.
    Returns how many alerts changed mute state."""
    if recheck and touched:
        rows = await ledger.conn.execute(
            select(ia.c.incident_id, ia.c.fingerprint, ia.c.muted).where(
                ia.c.role == "member", ia.c.incident_id.in_(list(touched))
            )
        )
        current = {(r.incident_id, r.fingerprint): r.muted for r in rows}
        touched = {
            incident_id: kept
            for incident_id, flips in touched.items()
            if (kept := [f for f in flips if current.get((incident_id, f[0]), "-") == f[1]])
        }
    for incident_id, flips in touched.items():
        incident = await ledger.load(incident_id)
        for fp, before, after in flips:
            await ledger.set_member(incident_id, fp, muted=after)
            kind = "alert_unmuted" if after is None else "alert_muted"
            incident = await ledger.event(
                incident, kind, SYSTEM, {"fingerprint": fp, "was": before, "now": after}
            )
        await settle(ledger, incident)
    return sum(len(flips) for flips in touched.values())


async def release(ledger: Ledger, view: MuteView) -> set[tuple[str, str]]:
    """Release symptoms whose item is reachable again and correlate those that waited too
    long; the (item, check) whose fresh result they now await."""
    correlator = Correlator(ledger, view)
    with_symptoms = await ledger.conn.execute(
        select(ia.c.incident_id)
        .distinct()
        .where(ia.c.role == "symptom", ia.c.status == "firing")
        .order_by(ia.c.incident_id)  # the ledger's lock order
    )
    for (incident_id,) in with_symptoms.all():
        await correlator.release_symptoms(await ledger.load(incident_id))
    await correlator.release_unconfirmed()
    await correlator.flush()
    return correlator.rechecks
