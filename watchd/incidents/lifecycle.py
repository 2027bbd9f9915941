"""Incident lifecycle: open → acknowledged → resolved → closed, each change with who and when.

`settle` brings an incident's derived facts in line after its alerts changed (severity and the
escalation policy it selects, automatic resolution, whether it is audible) and writes the
notifications that follow:

    audible now, not before ─► "opened" (never told) | "reopened" (told resolved) | "unmuted"
                               (told firing; not after flapping: the state did not change)
    resolved, told firing   ─► "resolved", held while a resolved alert is still muted
                               (a window, flapping)

The manual actions (ack, unack, resolve, close, comment) take a Ledger, so the API, the CLI and
the timers all write through the same code in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import takewhile

from watchd.incidents.followups import followups
from watchd.incidents.ledger import Ledger
from watchd.incidents.model import (
    FLAPPING_REASON,
    Incident,
    MemberGroup,
    State,
    highest_severity,
    severity_rank,
)

SYSTEM = "watchd"


class TransitionError(ValueError):
    """`action` is not possible on incident `incident_id` in state `state`."""

    def __init__(self, incident_id: int, state: State, action: str) -> None:
        super().__init__(f"Incident {incident_id} is {state.value}: it cannot be {action}.")
        self.incident_id = incident_id
        self.state = state
        self.action = action


async def settle(
    ledger: Ledger,
    incident: Incident,
    *,
    resolved_now: bool = False,
    flap_stopped: bool = False,
    members: Sequence[MemberGroup] | None = None,
) -> Incident:
    """Recompute severity, resolve when no own alert fires, and notify what changed.

    `flap_stopped`: an alert's flapping just ended. Receivers last told "firing" of an incident
    that fires again are not paged once more (Nagios); its escalation resumes from now.
    `members`: the incident's member groups as they are now, when the caller read them (for
    many incidents at once); else they are read here.
    """
    if members is None:
        members = await ledger.member_groups(incident.id)
    own = [m for m in members if m.role == "member"]
    firing = [m for m in own if m.status == "firing"]
    if firing:
        severity = highest_severity([m.severity for m in firing])
        if severity != incident.severity:
            worse = severity_rank(severity) > severity_rank(incident.severity)
            incident = await ledger.update(incident, severity=severity)
            incident = await ledger.event(
                incident, "severity_changed", SYSTEM, {"severity": severity}
            )
            incident = await _reselect_escalation(ledger, incident, worse=worse)
            if worse and incident.audible:
                incident = await ledger.notify(incident, "updated", {"severity": severity})
    if incident.state.active and own and not firing:
        incident = await _mark_resolved(ledger, incident, SYSTEM, "all alerts resolved")
        resolved_now = True
    audible = incident.state.active and any(m.muted is None for m in firing)
    if audible and not incident.audible and flap_stopped and incident.notified == "firing":
        incident = await ledger.update(incident, audible=True, escalation_from=ledger.now)
    elif audible and not incident.audible:
        kind = {None: "opened", "resolved": "reopened"}.get(incident.notified, "unmuted")
        incident = await ledger.notify(
            incident,
            kind,
            changes={
                "audible": True,
                "notified": "firing",
                "notified_at": ledger.now,
                "escalation_step": 0,
                "escalation_from": ledger.now,
            },
        )
    elif not audible and incident.audible:
        incident = await ledger.update(incident, audible=False)
        if incident.state.active:
            reasons = sorted({m.muted for m in firing if m.muted})
            incident = await ledger.event(incident, "muted", SYSTEM, {"reasons": reasons})
    incident = await _keep_mute_clock(ledger, incident, firing)
    if not incident.state.active and incident.notified == "firing":
        held = sorted({m.muted for m in own if m.muted})
        if not held:
            # Whoever resolved it by hand knows; an automatic recovery is news to everyone.
            if ledger.settings.people.users:
                await ledger.write_held()  # the pages it finds are on the timeline
            pages = await followups(
                ledger.conn, incident.id, ledger.settings.people, incident.resolved_by
            )
            incident = await ledger.notify(
                incident,
                "resolved",
                changes={"notified": "resolved", "notified_at": ledger.now},
                pages=pages,
            )
        elif resolved_now:
            incident = await ledger.event(
                incident, "resolved_notification_held", SYSTEM, {"until_end_of": held}
            )
    return incident


async def _keep_mute_clock(
    ledger: Ledger, incident: Incident, firing: list[MemberGroup]
) -> Incident:
    """Start or stop the incident's mute clock, which pauses its SLA timers.

    Muted means every firing alert of its own is muted by a silence, a maintenance window, a
    change or an inhibit rule. Flapping holds notifications but mutes nothing: the outage is
    real and its clocks run.
    """
    muted = (
        incident.state.active
        and bool(firing)
        and all(m.muted not in (None, FLAPPING_REASON) for m in firing)
    )
    if muted == (incident.muted_since is not None):
        return incident
    if muted:
        return await ledger.update(incident, muted_since=ledger.now)
    return await ledger.update(
        incident, muted_since=None, muted_seconds=incident.muted_for(ledger.now)
    )


async def _reselect_escalation(ledger: Ledger, incident: Incident, *, worse: bool) -> Incident:
    """Pick the escalation policy again for the incident's new severity, from the firing alerts
    that carry it (DESIGN.md §4), and count its step delays from now.

    A rise runs the new policy from its first step: warning then critical is the usual way to
    critical, and must page as critical does. A fall skips the steps due at once: the incident
    got better, and nobody is paged again for that. The same policy keeps running as it was.
    """
    config = ledger.settings.incidents
    policy = config.escalation_policy_for(
        row["labels"]
        for row in await ledger.alert_rows(incident.id)
        if row["role"] == "member"
        and row["status"] == "firing"
        and row["labels"].get("severity", "") == incident.severity
    )
    if policy == incident.escalation_policy:
        return incident
    steps = next((p.steps for p in config.escalation if p.name == policy), [])
    skipped = 0 if worse else len(list(takewhile(lambda step: step.after <= 0, steps)))
    detail: dict[str, object] = {
        "policy": policy,
        "previous": incident.escalation_policy,
        "severity": incident.severity,
    }
    if skipped:
        detail["skipped_steps"] = skipped
    incident = await ledger.update(
        incident, escalation_policy=policy, escalation_step=skipped, escalation_from=ledger.now
    )
    return await ledger.event(incident, "escalation_policy_changed", SYSTEM, detail)


async def _mark_resolved(ledger: Ledger, incident: Incident, actor: str, reason: str) -> Incident:
    """Resolve the incident, silent from now on (a resolved incident is never audible), and say
    so on its timeline: one change of its row, not one for the state, one for the event's seq
    and one for `audible`; the end of an outage resolves thousands in one transaction."""
    return await ledger.event(
        incident,
        "resolved",
        actor,
        {"reason": reason},
        changes={
            "state": State.RESOLVED.value,
            "resolved_at": ledger.now,
            "resolved_by": actor,
            "audible": False,
        },
    )


async def acknowledge(ledger: Ledger, incident_id: int, by: str, comment: str = "") -> Incident:
    """open → acknowledged: stops escalation; receivers that were told hear of it."""
    incident = await ledger.load(incident_id)
    if incident.state is not State.OPEN:
        raise TransitionError(incident.id, incident.state, "acknowledged")
    incident = await ledger.update(
        incident, state=State.ACKNOWLEDGED.value, acknowledged_at=ledger.now, acknowledged_by=by
    )
    incident = await ledger.event(incident, "acknowledged", by, _comment(comment))
    if incident.notified == "firing":
        pages = await followups(ledger.conn, incident.id, ledger.settings.people, by)
        incident = await ledger.notify(
            incident, "acknowledged", {"by": by, **_comment(comment)}, pages=pages
        )
    return incident


async def unacknowledge(ledger: Ledger, incident_id: int, by: str, comment: str = "") -> Incident:
    """acknowledged → open: escalation starts again from its first step."""
    incident = await ledger.load(incident_id)
    if incident.state is not State.ACKNOWLEDGED:
        raise TransitionError(incident.id, incident.state, "unacknowledged")
    incident = await ledger.update(
        incident,
        state=State.OPEN.value,
        acknowledged_at=None,
        acknowledged_by=None,
        escalation_step=0,
        escalation_from=ledger.now,
    )
    incident = await ledger.event(incident, "unacknowledged", by, _comment(comment))
    if incident.notified == "firing":
        incident = await ledger.notify(incident, "unacknowledged", {"by": by})
    return incident


async def resolve(ledger: Ledger, incident_id: int, by: str, comment: str = "") -> Incident:
    """open/acknowledged → resolved by hand (alerts that still fire stay attached)."""
    incident = await ledger.load(incident_id)
    if not incident.state.active:
        raise TransitionError(incident.id, incident.state, "resolved")
    incident = await _mark_resolved(ledger, incident, by, comment or "resolved by hand")
    return await settle(ledger, incident, resolved_now=True)


async def close(ledger: Ledger, incident_id: int, by: str, comment: str = "") -> Incident:
    """→ closed: final; an open incident is resolved first. A later alert opens a new one."""
    incident = await ledger.load(incident_id)
    if incident.state is State.CLOSED:
        raise TransitionError(incident.id, incident.state, "closed")
    if incident.state.active:
        incident = await resolve(ledger, incident_id, by, comment)
    incident = await ledger.update(
        incident, state=State.CLOSED.value, closed_at=ledger.now, closed_by=by
    )
    incident = await ledger.event(incident, "closed", by, _comment(comment))
    if incident.notified is not None:
        incident = await ledger.notify(incident, "closed", {"by": by})
    return incident


async def comment(ledger: Ledger, incident_id: int, by: str, text: str) -> Incident:
    """Add a comment to the timeline."""
    if not text.strip():
        raise ValueError("A comment needs some text.")
    incident = await ledger.load(incident_id)
    return await ledger.event(incident, "comment", by, {"text": text})


def _comment(text: str) -> dict[str, str]:
    return {"comment": text} if text else {}
