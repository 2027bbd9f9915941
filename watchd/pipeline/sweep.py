"""Re-deciding mutes as time passes: windows start and end, silences expire, parents recover.

One sweep, in one transaction, re-evaluates the mute reason of every alert of an incident that
is active or still owes its resolved notification, lets the incidents settle (this is where
"window ended: still firing → notified once, resolved meanwhile → resolved notified" happens),
releases symptoms whose item is reachable again (to await a fresh result) and correlates on
their own those that got none within recheck_timeout.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
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
from watchd.store.tables import alerts as al


async def sweep(
    conn: AsyncConnection, now: float, settings: IncidentSettings
) -> tuple[int, set[tuple[str, str]]]:
    """Apply mute changes since the last sweep; return how many alerts changed mute state and
    the (item, check) whose fresh result released symptoms now await."""
    ledger = Ledger(conn, now, settings)
    view = await MuteView.load(conn, now, settings)
    rows = await conn.execute(
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
        )
        .order_by(ia.c.incident_id)
    )
    touched: dict[int, list[tuple[str, str | None, str | None]]] = {}
    for incident_id, fp, muted, labels, notes, source in rows.all():
        reason = view.reason(dict(labels), flapping=is_flapping(notes, source))
        if reason != muted:
            touched.setdefault(incident_id, []).append((fp, muted, reason))
    for incident_id, flips in touched.items():
        incident = await ledger.load(incident_id)
        for fp, before, after in flips:
            await ledger.set_member(incident_id, fp, muted=after)
            kind = "alert_unmuted" if after is None else "alert_muted"
            incident = await ledger.event(
                incident, kind, SYSTEM, {"fingerprint": fp, "was": before, "now": after}
            )
        await settle(ledger, incident)
    correlator = Correlator(ledger, view)
    with_symptoms = await conn.execute(
        select(ia.c.incident_id)
        .distinct()
        .where(ia.c.role == "symptom", ia.c.status == "firing")
        .order_by(ia.c.incident_id)  # the ledger's lock order
    )
    for (incident_id,) in with_symptoms.all():
        await correlator.release_symptoms(await ledger.load(incident_id))
    await correlator.release_unconfirmed()
    await correlator.flush()
    return sum(len(flips) for flips in touched.values()), correlator.rechecks
