"""The check state machine: SOFT/HARD states, recovery attempts, flap detection (DESIGN.md §4).

A non-OK result is SOFT until `max_attempts` consecutive non-OK results, then HARD; a HARD
problem recovers after `recover_attempts` consecutive OK results. Only HARD changes raise or
resolve alerts, and only transitions are logged. While the check flaps its alerts carry the
flapping marker (the incident layer then records their changes without notifying them); when
flapping stops they are sent again without it. `advance` and `alert_changes` are pure functions
of the previous state, the new result and the time, so the whole machine is tested with plain
values.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from watchd.flap import FlapPolicy, FlapState, record
from watchd.model import CheckResult, Labels, Sample, Status


class StateType(enum.StrEnum):
    SOFT = "soft"
    HARD = "hard"


class TransitionKind(enum.StrEnum):
    PROBLEM = "problem"  # HARD OK -> HARD non-OK
    CHANGE = "change"  # HARD non-OK -> another HARD non-OK (WARNING -> CRITICAL)
    RECOVERY = "recovery"  # HARD non-OK -> HARD OK
    FLAPPING_START = "flapping_start"
    FLAPPING_STOP = "flapping_stop"


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    max_attempts: int = 3
    recover_attempts: int = 1
    flap: FlapPolicy = FlapPolicy()


@dataclass(frozen=True, slots=True)
class CheckState:
    """Where a check stands. `hard_status` is what alerts and availability act on."""

    status: Status = Status.OK  # the latest result
    state_type: StateType = StateType.HARD
    hard_status: Status = Status.OK
    attempt: int = 0  # consecutive non-OK results while the HARD status is OK
    ok_streak: int = 0  # consecutive OK results while the HARD status is a problem
    last_check: float | None = None  # None: never run (pending)
    hard_since: float | None = None  # when the HARD status last moved between OK and a problem
    message: str = ""
    flap: FlapState = FlapState()
    # The problem statuses (one per severity) whose alerts were sent with the flapping marker:
    # when flapping stops each is sent again without it, so none stays held.
    flap_marked: tuple[Status, ...] = ()

    @property
    def retrying(self) -> bool:
        """True while the check must be re-run at its retry interval (a SOFT state)."""
        return self.state_type is StateType.SOFT

    def to_json(self) -> dict[str, Any]:
        return {
            "status": int(self.status),
            "state_type": self.state_type.value,
            "hard_status": int(self.hard_status),
            "attempt": self.attempt,
            "ok_streak": self.ok_streak,
            "last_check": self.last_check,
            "hard_since": self.hard_since,
            "message": self.message,
            "flap_history": list(self.flap.history),
            "flapping": self.flap.flapping,
            "flap_percent": self.flap.percent,
            "flap_marked": [int(s) for s in self.flap_marked],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckState:
        return cls(
            status=Status(data["status"]),
            state_type=StateType(data["state_type"]),
            hard_status=Status(data["hard_status"]),
            attempt=int(data["attempt"]),
            ok_streak=int(data["ok_streak"]),
            last_check=data["last_check"],
            hard_since=data["hard_since"],
            message=str(data.get("message", "")),
            flap=FlapState(
                history=tuple(data.get("flap_history", ())),
                flapping=bool(data.get("flapping", False)),
                percent=float(data.get("flap_percent", 0.0)),
            ),
            flap_marked=tuple(Status(int(s)) for s in data.get("flap_marked", ())),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A HARD state change or a flapping change, with what the log line and alert need."""

    kind: TransitionKind
    old: Status
    new: Status
    time: float
    duration: float | None = None  # for RECOVERY: how long the problem lasted


def advance(
    state: CheckState, result: CheckResult, now: float, policy: CheckPolicy
) -> tuple[CheckState, list[Transition]]:
    """Apply one check result; return the new state and the transitions it caused."""
    transitions: list[Transition] = []
    flap, flap_change = record(state.flap, int(result.status), policy.flap)
    if flap_change is not None:
        kind = TransitionKind.FLAPPING_START if flap_change else TransitionKind.FLAPPING_STOP
        transitions.append(Transition(kind, state.hard_status, state.hard_status, now))
    hard_since = state.hard_since if state.hard_since is not None else now
    # What changes besides the latest result, built up and applied with one replace(): this
    # runs for every check run, and each replace() costs microseconds.
    changes: dict[str, Any]
    if state.hard_status.is_ok:
        if result.status.is_ok:
            changes = {"state_type": StateType.HARD, "attempt": 0, "hard_since": hard_since}
        elif state.attempt + 1 >= policy.max_attempts:
            changes = {
                "state_type": StateType.HARD,
                "hard_status": result.status,
                "attempt": state.attempt + 1,
                "ok_streak": 0,
                "hard_since": now,
            }
            transitions.append(
                Transition(TransitionKind.PROBLEM, state.hard_status, result.status, now)
            )
        else:
            changes = {
                "state_type": StateType.SOFT,
                "attempt": state.attempt + 1,
                "hard_since": hard_since,
            }
    elif result.status.is_ok:
        if state.ok_streak + 1 >= policy.recover_attempts:
            changes = {
                "state_type": StateType.HARD,
                "hard_status": Status.OK,
                "attempt": 0,
                "ok_streak": 0,
                "hard_since": now,
            }
            transitions.append(
                Transition(
                    TransitionKind.RECOVERY, state.hard_status, Status.OK, now, now - hard_since
                )
            )
        else:
            changes = {"state_type": StateType.SOFT, "ok_streak": state.ok_streak + 1}
    elif result.status != state.hard_status:
        # A HARD problem that changes level changes at once, as in Nagios; the outage goes on,
        # so hard_since stays where the problem began.
        changes = {"state_type": StateType.HARD, "hard_status": result.status, "ok_streak": 0}
        transitions.append(Transition(TransitionKind.CHANGE, state.hard_status, result.status, now))
    else:
        changes = {"state_type": StateType.HARD, "ok_streak": 0}
    new = replace(
        state, status=result.status, last_check=now, message=result.message, flap=flap, **changes
    )
    return new, transitions


_SEVERITY = {Status.WARNING: "warning", Status.CRITICAL: "critical", Status.UNKNOWN: "critical"}


def severity_of(status: Status) -> str:
    """The severity label of a check's alert for a problem status (one alert per severity)."""
    return _SEVERITY.get(status, "critical")


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One alert a check sends: the problem status it stands for, firing or resolved, and
    whether it carries the flapping marker."""

    status: Status
    firing: bool
    flapping: bool


def alert_changes(
    state: CheckState, transitions: Sequence[Transition]
) -> tuple[CheckState, list[AlertChange]]:
    """The alerts that `advance`'s transitions send, and `state` with the marked ones noted.

    Severity is a label, so WARNING -> CRITICAL resolves the warning alert and fires the critical
    one. While the check flaps every alert sent carries the marker, and flapping starting marks
    the problem alert firing now; when it stops, every alert sent with the marker is sent again
    without it in its current status, so the incident layer notifies the true state.
    """
    flapping = state.flap.flapping
    if not transitions and not state.flap_marked:
        return state, []  # most runs: nothing to send and no marks to keep or drop
    sent: dict[str, AlertChange] = {}  # one change per severity, the last wins, in send order

    def send(status: Status, firing: bool, marked: bool = flapping) -> None:
        severity = severity_of(status)
        sent.pop(severity, None)
        sent[severity] = AlertChange(status, firing, marked)

    hard = state.hard_status
    for t in transitions:
        if t.kind is TransitionKind.PROBLEM:
            send(t.new, True)
        elif t.kind is TransitionKind.CHANGE:
            if severity_of(t.old) != severity_of(t.new):
                send(t.old, False)
            send(t.new, True)
        elif t.kind is TransitionKind.RECOVERY:
            send(t.old, False)
        elif t.kind is TransitionKind.FLAPPING_START:
            if not hard.is_ok:
                send(hard, True)
        else:  # FLAPPING_STOP
            for status in state.flap_marked:
                firing = not hard.is_ok and severity_of(status) == severity_of(hard)
                send(hard if firing else status, firing, False)
    marked = {severity_of(s): s for s in state.flap_marked} if flapping else {}
    marked.update((severity, c.status) for severity, c in sent.items() if c.flapping)
    return replace(state, flap_marked=tuple(marked.values())), list(sent.values())


# The metrics every check run adds beside its collector's; rules may name them.
CHECK_METRICS = frozenset({"check_status", "check_up", "check_duration_seconds"})


def check_samples(status: Status, duration: float, labels: Labels, t: float) -> list[Sample]:
    """A run's own samples: its status (0-3), up (1 when OK) and duration in seconds."""
    return [
        Sample("check_status", float(status), labels, t),
        Sample("check_up", 1.0 if status.is_ok else 0.0, labels, t),
        Sample("check_duration_seconds", duration, labels, t),
    ]
