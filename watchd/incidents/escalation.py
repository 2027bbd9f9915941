"""Escalation steps and SLA timers of active incidents, at one moment.

An unacknowledged, audible incident walks its escalation policy's steps (round after round
with `repeat`) as their delays pass, counted from its first notification, its last
unacknowledgement, the end of its flapping, or the severity change that picked its policy
(lifecycle.settle re-selects the policy when the severity changes). A step pages its receivers
and its people (watchd.incidents.targets): each person's contacts due at once go out with the
step, later ones wait in the store (watchd.incidents.later) and go out when due only if the
incident still waits for them. Each severity's SLA gives a time to acknowledge and a time to
resolve, counted while the incident is not muted (`pause_while_muted`, the default; lifecycle
keeps the mute clock), and a breach is recorded once, as a timeline event and a notification.
Neither runs while the incident is held because its alert flaps: its notifications are
suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents import later
from watchd.incidents.config import EscalationPolicy, EscalationStep, IncidentsConfig, SlaConfig
from watchd.incidents.ledger import Ledger
from watchd.incidents.lifecycle import SYSTEM
from watchd.incidents.model import (
    ACTIVE_STATES,
    FLAPPING_REASON,
    Incident,
    Page,
    State,
    muted_total,
)
from watchd.incidents.settings import IncidentSettings
from watchd.incidents.targets import page_of, resolve_step
from watchd.logging import get_logger
from watchd.store.incident_tables import incidents as inc

log = get_logger("watchd.incidents")


async def escalate_and_check_sla(
    conn: AsyncConnection, now: float, settings: IncidentSettings
) -> None:
    """Take every escalation step, send every later contact and record every SLA breach that
    is due at `now`.

    The candidates' timer columns are read in one statement, unlocked; only an incident with
    a step, a later contact or a breach due is loaded (locked on PostgreSQL) and judged again
    as it is then. Loading every active incident each pass cost a statement each: 5,000 open
    incidents after a storm were 5,000 loads every timer_interval, for as long as they stayed
    open (bench/README.md, issue 13).
    """
    ledger = Ledger(conn, now, settings)
    due = await later.due(conn, now)
    config = settings.incidents
    if config.escalation or config.sla or due:
        rows = await conn.execute(_TIMER_COLUMNS)
        for row in rows.all():  # in id order, the ledger's lock order
            if row.id not in due and not _due(row, now, config):
                continue
            incident = await ledger.load(row.id)
            incident = await _escalate(ledger, incident, now, settings)
            incident = await _send_later(ledger, incident, due.get(row.id, []), settings)
            await _check_sla(ledger, incident, now, settings)
    if due:  # sent above, or their incident is no longer waiting for them
        await later.forget_due(conn, now)


# What _escalate and _check_sla look at, of the incidents they may act on.
_TIMER_COLUMNS = (
    select(
        inc.c.id,
        inc.c.state,
        inc.c.audible,
        inc.c.severity,
        inc.c.opened_at,
        inc.c.escalation_policy,
        inc.c.escalation_step,
        inc.c.escalation_from,
        inc.c.sla_ack_breached,
        inc.c.sla_resolve_breached,
        inc.c.muted_since,
        inc.c.muted_seconds,
    )
    .where(inc.c.state.in_(ACTIVE_STATES), inc.c.notified == "firing")
    .order_by(inc.c.id)
)


def _due(row: Row[*tuple[Any, ...]], now: float, config: IncidentsConfig) -> bool:
    """Whether _escalate or _check_sla would act on an incident with these columns at `now`
    (the same conditions, before flapping is asked about)."""
    state = State(row.state)
    policy = _named(config, row.escalation_policy)
    if policy is not None and state is State.OPEN and row.audible:
        base = row.escalation_from if row.escalation_from is not None else row.opened_at
        if _step_due(policy, row.escalation_step, base, now):
            return True
    sla = config.sla.get(row.severity)
    if sla is None:
        return False
    muted = muted_total(row.muted_seconds, row.muted_since, now)
    age, _ = _sla_age(sla, row.opened_at, muted, now)
    return any(_breaches(sla, state, row.sla_ack_breached, row.sla_resolve_breached, age))


def _named(config: IncidentsConfig, name: str | None) -> EscalationPolicy | None:
    return next((p for p in config.escalation if p.name == name), None)


def _step_due(policy: EscalationPolicy, step: int, base: float, now: float) -> bool:
    """Whether the step taken `step`-th (from 0, across rounds), counted from `base`, is due
    at `now`."""
    return step < policy.total_steps and now >= base + policy.step_at(step)[2]


def _sla_age(sla: SlaConfig, opened_at: float, muted: float, now: float) -> tuple[float, float]:
    """How long the SLA's clocks have run, and how long they stood still (muted)."""
    # The clocks stop while the incident is muted (planned work); the breach records how long.
    paused = muted if sla.pause_while_muted else 0.0
    return now - opened_at - paused, paused


def _breaches(
    sla: SlaConfig, state: State, ack_breached: bool, resolve_breached: bool, age: float
) -> tuple[bool, bool]:
    """Whether the time to acknowledge, and the time to resolve, is breached now and was not
    before."""
    ack = bool(sla.ack) and state is State.OPEN and not ack_breached and age >= sla.ack
    resolve = bool(sla.resolve) and not resolve_breached and age >= sla.resolve
    return ack, resolve


def _policy(incident: Incident, settings: IncidentSettings) -> EscalationPolicy | None:
    return _named(settings.incidents, incident.escalation_policy)


def _base(incident: Incident) -> float:
    """When the running policy's step delays started."""
    return incident.escalation_from if incident.escalation_from is not None else incident.opened_at


def _step_detail(policy: EscalationPolicy, index: int) -> dict[str, Any]:
    """How the timeline names the step taken `index`-th: its number, and its round when the
    policy repeats."""
    round_, position = divmod(index, len(policy.steps))
    detail: dict[str, Any] = {"policy": policy.name, "step": position + 1}
    if policy.repeat:
        detail["round"] = round_ + 1
    return detail


async def _escalate(
    ledger: Ledger, incident: Incident, now: float, settings: IncidentSettings
) -> Incident:
    policy = _policy(incident, settings)
    if policy is None or incident.state is not State.OPEN or not incident.audible:
        return incident
    base = _base(incident)
    step = incident.escalation_step
    while _step_due(policy, step, base, now):
        target, _, _ = policy.step_at(step)
        incident = await _take_step(ledger, incident, policy, step, target, base)
        step += 1
        incident = await ledger.update(incident, escalation_step=step)
    return incident


async def _take_step(
    ledger: Ledger,
    incident: Incident,
    policy: EscalationPolicy,
    index: int,
    target: EscalationStep,
    base: float,
) -> Incident:
    """Page the step's receivers and people now, and keep the people's later contacts for
    their time; the "escalated" event says who is reached, when, and who is not."""
    detail = _step_detail(policy, index)
    people = await resolve_step(
        ledger.conn, target, ledger.settings.people, incident.severity, ledger.now
    )
    now = [c.page for c in people.contacts if c.after <= 0]
    waiting = [c for c in people.contacts if c.after > 0]
    about = dict(detail)
    if waiting:
        about["later"] = [{**c.page.summary(), "after": c.after} for c in waiting]
    if people.nobody_on_call:
        about["nobody_on_call"] = list(people.nobody_on_call)
    if people.unreachable:
        about["unreachable"] = list(people.unreachable)
    if people.nobody_on_call or people.unreachable:
        log.warning(
            "escalation_reaches_nobody",
            incident=incident.id,
            schedules=list(people.nobody_on_call),
            users=list(people.unreachable),
            **detail,
        )
    incident = await ledger.event(incident, "escalated", SYSTEM, about)
    if target.receivers or now:
        incident = await ledger.notify(
            incident, "escalated", detail, receivers=target.receivers, pages=now
        )
    await later.keep(ledger.conn, incident.id, base, policy.name, index, waiting, ledger.now)
    return incident


async def _send_later(
    ledger: Ledger,
    incident: Incident,
    due: Sequence[later.Waiting],
    settings: IncidentSettings,
) -> Incident:
    """Send the later contacts now due, if the incident still waits for them: open (nobody
    acknowledged), audible, and its escalation not started over since they were planned."""
    policy = _policy(incident, settings)
    if policy is None or incident.state is not State.OPEN or not incident.audible:
        return incident
    live = [w for w in due if w.policy == policy.name and w.since == _base(incident)]
    batches: dict[tuple[int, float], list[Page]] = {}
    for waiting in live:
        user = settings.people.user(waiting.user)
        contact = user.contact(waiting.contact) if user is not None else None
        if user is None or contact is None:  # gone from the config since (a reload)
            continue
        batches.setdefault((waiting.step, waiting.after), []).append(page_of(user, contact))
    for (index, after), pages in batches.items():
        detail = {**_step_detail(policy, index), "after": after}
        incident = await ledger.notify(incident, "escalated", detail, receivers=[], pages=pages)
    return incident


async def _check_sla(
    ledger: Ledger, incident: Incident, now: float, settings: IncidentSettings
) -> None:
    sla = settings.incidents.sla.get(incident.severity)
    if sla is None or await _held_by_flapping(ledger, incident):
        return
    age, paused = _sla_age(sla, incident.opened_at, incident.muted_for(now), now)
    ack, resolve = _breaches(
        sla, incident.state, incident.sla_ack_breached, incident.sla_resolve_breached, age
    )
    about: dict[str, Any] = {"severity": incident.severity}
    if paused:
        about["paused"] = round(paused, 3)
    if ack:
        detail = {"target": "acknowledge", "within": sla.ack, **about}
        incident = await ledger.update(incident, sla_ack_breached=True)
        incident = await ledger.event(incident, "sla_breach", SYSTEM, detail)
        incident = await ledger.notify(incident, "sla_breach", detail)
    if resolve:
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
