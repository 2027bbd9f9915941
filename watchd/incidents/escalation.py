"""Escalation steps and SLA timers of active incidents, at one moment.

An unacknowledged, audible incident walks its escalation policy's steps as their delays pass
(counted from its first notification, its last unacknowledgement, the end of its flapping, or
the severity change that picked its policy: lifecycle.settle re-selects the policy when the
severity changes); each severity's SLA gives a time to acknowledge and a time to resolve,
counted while the incident is not muted (`pause_while_muted`, the default; lifecycle keeps the
mute clock), and a breach is recorded once, as a timeline event and a notification. Neither runs while the
incident is held because its alert flaps: its notifications are suppressed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.ledger import Ledger
from watchd.incidents.lifecycle import SYSTEM
from watchd.incidents.model import ACTIVE_STATES, FLAPPING_REASON, Incident, State
from watchd.incidents.settings import IncidentSettings
from watchd.store.incident_tables import incidents as inc


async def escalate_and_check_sla(
    conn: AsyncConnection, now: float, settings: IncidentSettings
) -> None:
    """Take every escalation step and record every SLA breach that is due at `now`."""
    ledger = Ledger(conn, now, settings)
    rows = await conn.execute(
        select(inc.c.id)
        .where(inc.c.state.in_(ACTIVE_STATES), inc.c.notified == "firing")
        .order_by(inc.c.id)  # the ledger's lock order
    )
    for (incident_id,) in rows.all():
        incident = await ledger.load(incident_id)
        incident = await _escalate(ledger, incident, now, settings)
        await _check_sla(ledger, incident, now, settings)


async def _escalate(
    ledger: Ledger, incident: Incident, now: float, settings: IncidentSettings
) -> Incident:
    policy = next(
        (p for p in settings.incidents.escalation if p.name == incident.escalation_policy), None
    )
    if policy is None or incident.state is not State.OPEN or not incident.audible:
        return incident
    base = incident.escalation_from if incident.escalation_from is not None else incident.opened_at
    step = incident.escalation_step
    while step < len(policy.steps) and now >= base + policy.steps[step].after:
        detail = {"policy": policy.name, "step": step + 1}
        incident = await ledger.event(incident, "escalated", SYSTEM, detail)
        incident = await ledger.notify(
            incident, "escalated", detail, receivers=policy.steps[step].receivers
        )
        step += 1
        incident = await ledger.update(incident, escalation_step=step)
    return incident


async def _check_sla(
    ledger: Ledger, incident: Incident, now: float, settings: IncidentSettings
) -> None:
    sla = settings.incidents.sla.get(incident.severity)
    if sla is None or await _held_by_flapping(ledger, incident):
        return
    # The clocks stop while the incident is muted (planned work); the breach records how long.
    paused = incident.muted_for(now) if sla.pause_while_muted else 0.0
    age = now - incident.opened_at - paused
    about: dict[str, Any] = {"severity": incident.severity}
    if paused:
        about["paused"] = round(paused, 3)
    if (
        sla.ack
        and incident.state is State.OPEN
        and not incident.sla_ack_breached
        and age >= sla.ack
    ):
        detail = {"target": "acknowledge", "within": sla.ack, **about}
        incident = await ledger.update(incident, sla_ack_breached=True)
        incident = await ledger.event(incident, "sla_breach", SYSTEM, detail)
        incident = await ledger.notify(incident, "sla_breach", detail)
    if sla.resolve and not incident.sla_resolve_breached and age >= sla.resolve:
        detail = {"target": "resolve", "within": sla.resolve, **about}
        incident = await ledger.update(incident, sla_resolve_breached=True)
        incident = await ledger.event(incident, "sla_breach", SYSTEM, detail)
        await ledger.notify(incident, "sla_breach", detail)


async def _held_by_flapping(ledger: Ledger, incident: Incident) -> bool:
    """Whether the incident is silent because an alert of it flaps (escalation, which needs it
    audible, stops too)."""
    if incident.audible:
        return False
    members = await ledger.member_groups(incident.id)
    return any(
        m.role == "member" and m.status == "firing" and m.muted == FLAPPING_REASON for m in members
    )
