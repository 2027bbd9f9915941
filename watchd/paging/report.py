"""Comparing a run with its scenario's expectations, and printing either.

Notifications and incidents are compared as lines in the one-line forms a scenario may use
(`2m30s oncall incident 1 opened`, `incident 1 resolved critical`): a scenario passes when the lines are equal.
Notifications are put in order by time, incident and receiver (the author's order is kept
among equal ones; the run's is delivery order), so notifications of one instant may be written
in any order across incidents and receivers but keep their order within one incident and
receiver. An actual line shows the optional fields (severity, state, calls, alerts,
acknowledged_by) its expected counterpart gives, so only what the scenario asks about is compared.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from watchd.durations import format_duration
from watchd.paging.fakes import Sent
from watchd.paging.format import Expect, IncidentSpec, NotificationSpec
from watchd.paging.runner import IncidentState, Outcome
from watchd.paging.scenario import Scenario

# (at as printed, receiver, incident, event, the user a page to a person reached or "")
NoteKey = tuple[str, str, int, str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A scenario's result: passed, or the readable differences."""

    scenario: Scenario
    outcome: Outcome
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    def text(self) -> str:
        """One summary line, then the differences indented."""
        head = f"{'PASS' if self.ok else 'FAIL'} {self.scenario.path}: {self.scenario.name}"
        span = _at(self.scenario.end)
        facts = (
            f"({len(self.outcome.notifications)} notifications, "
            f"{len(self.outcome.incidents)} incidents, {span} in {self.outcome.seconds:.2f} s)"
        )
        return "\n".join([f"{head} {facts}", *(f"  {line}" for line in self.differences)])


def judge(scenario: Scenario, outcome: Outcome) -> Verdict:
    """Compare `outcome` with what `scenario` expects."""
    expect = scenario.expect
    lines: list[str] = []
    lines += _diff("notifications", *_notification_lines(expect, outcome.notifications))
    if expect.incidents is not None:
        lines += _diff("incidents", *_incident_lines(expect.incidents, outcome.incidents))
    if outcome.errors:
        lines += ["steps that could not be done:", *(f"  {e}" for e in outcome.errors)]
    return Verdict(scenario, outcome, tuple(lines))


def _diff(what: str, expected: list[str], actual: list[str]) -> list[str]:
    if expected == actual:
        return []
    diff = difflib.unified_diff(expected, actual, "expected", "actual", lineterm="", n=3)
    return [f"{what} differ:", *(f"  {line}" for line in diff)]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _at(seconds: float) -> str:
    return format_duration(seconds) if seconds else "0s"


def _notification_lines(expect: Expect, sent: Sequence[Sent]) -> tuple[list[str], list[str]]:
    wanted = sorted(
        expect.notifications, key=lambda n: (_ms(n.at), n.incident, n.receiver, n.to or "")
    )
    pending: dict[NoteKey, list[NotificationSpec]] = {}
    for note in wanted:
        key = (_at(note.at), note.receiver, note.incident, note.event, note.to or "")
        pending.setdefault(key, []).append(note)
    actual = []
    for got in sorted(sent, key=lambda s: (_ms(s.at), s.incident, s.receiver, s.seq, s.to or "")):
        same = pending.get((_at(got.at), got.receiver, got.incident, got.event, got.to or ""))
        like = same.pop(0) if same else None
        actual.append(
            notification_line(
                got.at,
                got.receiver,
                got.incident,
                got.event,
                to=got.to,
                severity=got.severity if like is not None and like.severity is not None else None,
                state=got.state if like is not None and like.state is not None else None,
                calls=got.calls if like is not None and like.calls is not None else None,
            )
        )
    expected = [
        notification_line(
            n.at,
            n.receiver,
            n.incident,
            n.event,
            to=n.to,
            severity=n.severity,
            state=n.state,
            calls=n.calls,
        )
        for n in wanted
    ]
    return expected, actual


def _incident_lines(
    wanted: Sequence[IncidentSpec], got: Sequence[IncidentState]
) -> tuple[list[str], list[str]]:
    by_id = {spec.id: spec for spec in wanted}
    expected = [
        incident_line(
            s.id,
            s.state,
            s.severity,
            alerts=s.alerts,
            acknowledged_by=s.acknowledged_by,
            change=s.change,
        )
        for s in sorted(wanted, key=lambda s: s.id)
    ]
    actual = []
    for state in got:
        like = by_id.get(state.id)

        def asked(field: str, value: Any, like: IncidentSpec | None = like) -> Any:
            return value if like is not None and getattr(like, field) is not None else None

        actual.append(
            incident_line(
                state.id,
                state.state,
                state.severity,
                alerts=asked("alerts", state.alerts),
                acknowledged_by=asked("acknowledged_by", state.acknowledged_by),
                change=asked("change", state.change),
            )
        )
    return expected, actual


def notification_line(
    at: float,
    receiver: str,
    incident: int,
    event: str,
    *,
    to: str | None = None,
    severity: str | None = None,
    state: str | None = None,
    calls: str | None = None,
) -> str:
    """A notification in the one-line form scenarios use."""
    line = f"{_at(at)} {receiver} incident {incident} {event}"
    for name, value in (("to", to), ("severity", severity), ("state", state), ("calls", calls)):
        if value is not None:
            line += f" {name}={value}"
    return line


def incident_line(
    number: int,
    state: str,
    severity: str,
    *,
    alerts: int | None = None,
    acknowledged_by: str | None = None,
    change: int | None = None,
) -> str:
    """An incident in the one-line form scenarios use."""
    line = f"incident {number} {state} {severity}"
    for name, value in (
        ("alerts", alerts),
        ("acknowledged_by", acknowledged_by),
        ("change", change),
    ):
        if value is not None:
            line += f" {name}={value}"
    return line


def outcome_json(scenario: Scenario, outcome: Outcome) -> dict[str, Any]:
    """The run as JSON: every notification and incident with all their fields, and the same
    in the one-line forms, ready to paste into `expect`."""
    notes = sorted(outcome.notifications, key=lambda s: (_ms(s.at), s.incident, s.receiver, s.seq))
    return {
        "file": str(scenario.path),
        "name": scenario.name,
        "notifications": [
            {
                "at": _at(s.at),
                "seconds": s.at,
                "receiver": s.receiver,
                "incident": s.incident,
                "event": s.event,
                "to": s.to,
                "severity": s.severity,
                "state": s.state,
                "calls": s.calls,
            }
            for s in notes
        ],
        "incidents": [
            {
                "id": i.id,
                "item": i.item,
                "state": i.state,
                "severity": i.severity,
                "alerts": i.alerts,
                "acknowledged_by": i.acknowledged_by,
                "change": i.change,
            }
            for i in outcome.incidents
        ],
        "errors": list(outcome.errors),
        "expect": {
            "notifications": [
                notification_line(s.at, s.receiver, s.incident, s.event, to=s.to, calls=s.calls)
                for s in notes
            ],
            "incidents": [incident_line(i.id, i.state, i.severity) for i in outcome.incidents],
        },
    }
