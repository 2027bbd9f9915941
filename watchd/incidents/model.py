"""Incident values: states, severities, and the frozen rows the API and CLI show."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from operator import attrgetter, itemgetter
from typing import Any


class State(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def active(self) -> bool:
        """Open or acknowledged: alerts still join it."""
        # The values, not State.OPEN and State.ACKNOWLEDGED: each member read through the
        # class costs a call of enum's descriptor, and settling asks this several times.
        return self in ACTIVE_STATES


ACTIVE_STATES = (State.OPEN.value, State.ACKNOWLEDGED.value)

# Higher is worse; unknown severities rank with "none".
_RANK = {"none": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}


def severity_rank(severity: str) -> int:
    return _RANK.get(severity.lower(), 0)


def highest_severity(severities: list[str], default: str = "none") -> str:
    """The worst of `severities` (by rank), or `default` when there are none."""
    return max(severities, key=severity_rank) if severities else default


# The mute reason of an alert whose source flaps: its changes are recorded, not notified.
FLAPPING_REASON = "flapping"

# Notification kinds written to the outbox (issue 6 routes and delivers them).
NOTIFIED_KINDS = frozenset(
    {
        "opened",
        "reopened",
        "unmuted",
        "updated",
        "acknowledged",
        "unacknowledged",
        "resolved",
        "closed",
        "escalated",
        "sla_breach",
        "problem_opened",
        "flapping_started",
        "flapping_stopped",
    }
)


def muted_total(seconds: float, since: float | None, now: float) -> float:
    """Seconds muted up to `now`: `seconds` of mutes that ended, and the one running since
    `since` (None: not muted now)."""
    return seconds + (now - since if since is not None else 0.0)


@dataclass(frozen=True, slots=True, init=False)
class Incident:
    """One incident row as stored."""

    id: int
    key: str
    group_labels: dict[str, str]
    title: str
    item: str
    state: State
    severity: str
    seq: int
    opened_at: float
    acknowledged_at: float | None
    acknowledged_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    closed_at: float | None
    closed_by: str | None
    notified: str | None
    notified_at: float | None
    audible: bool
    escalation_policy: str | None
    escalation_step: int
    escalation_from: float | None
    sla_ack_breached: bool
    sla_resolve_breached: bool
    muted_since: float | None
    muted_seconds: float
    problem_id: int | None
    change_id: int | None
    updated_at: float

    def __init__(
        self,
        id: int,
        key: str,
        group_labels: dict[str, str],
        title: str,
        item: str,
        state: State,
        severity: str,
        seq: int,
        opened_at: float,
        acknowledged_at: float | None,
        acknowledged_by: str | None,
        resolved_at: float | None,
        resolved_by: str | None,
        closed_at: float | None,
        closed_by: str | None,
        notified: str | None,
        notified_at: float | None,
        audible: bool,
        escalation_policy: str | None,
        escalation_step: int,
        escalation_from: float | None,
        sla_ack_breached: bool,
        sla_resolve_breached: bool,
        muted_since: float | None,
        muted_seconds: float,
        problem_id: int | None,
        change_id: int | None,
        updated_at: float,
    ) -> None:
        # Not dataclass's __init__ (as watchd.model.Alert): it sets each field of a frozen
        # class with a call of object.__setattr__, ~0.2 us a field on Python 3.11, 5-6 us for
        # these 28; one setter bound to the instance takes ~3.5. An incident the pipeline opens
        # is built three times (opened, members joined, notified), a storm opens thousands.
        put = object.__setattr__.__get__(self)
        put("id", id)
        put("key", key)
        put("group_labels", group_labels)
        put("title", title)
        put("item", item)
        put("state", state)
        put("severity", severity)
        put("seq", seq)
        put("opened_at", opened_at)
        put("acknowledged_at", acknowledged_at)
        put("acknowledged_by", acknowledged_by)
        put("resolved_at", resolved_at)
        put("resolved_by", resolved_by)
        put("closed_at", closed_at)
        put("closed_by", closed_by)
        put("notified", notified)
        put("notified_at", notified_at)
        put("audible", audible)
        put("escalation_policy", escalation_policy)
        put("escalation_step", escalation_step)
        put("escalation_from", escalation_from)
        put("sla_ack_breached", sla_ack_breached)
        put("sla_resolve_breached", sla_resolve_breached)
        put("muted_since", muted_since)
        put("muted_seconds", muted_seconds)
        put("problem_id", problem_id)
        put("change_id", change_id)
        put("updated_at", updated_at)

    @classmethod
    def from_mapping(cls, m: Mapping[Any, Any]) -> Incident:
        """The incident of an incidents row's columns."""
        args = list(_COLUMNS(m))
        for position, read in _READ:
            args[position] = read(args[position])
        return cls(*args)

    def changed(self, values: Mapping[str, Any]) -> Incident:
        """This incident with the columns `values` changed (values as a row holds them): what
        from_mapping of the changed row gives, without reading the other 27 columns again.
        A new incident is changed several times while it settles in a storm."""
        args = list(_FIELDS(self))
        for name, value in values.items():
            read = _READERS.get(name)
            args[_POSITIONS[name]] = value if read is None else read(value)
        return Incident(*args)

    def muted_for(self, now: float) -> float:
        """Seconds the incident has been muted (silence, window, change, inhibit) up to `now`."""
        return muted_total(self.muted_seconds, self.muted_since, now)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "group_labels": dict(self.group_labels),
            "title": self.title,
            "item": self.item,
            "state": self.state.value,
            "severity": self.severity,
            "opened_at": self.opened_at,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
            "closed_at": self.closed_at,
            "closed_by": self.closed_by,
            "notified": self.notified,
            "problem_id": self.problem_id,
            "change_id": self.change_id,
            "escalation_policy": self.escalation_policy,
            "escalation_step": self.escalation_step,
            "escalation_from": self.escalation_from,
        }


# Incident's fields in the order of its parameters, which are the incidents table's columns.
_NAMES = tuple(f.name for f in fields(Incident))
_POSITIONS = {name: position for position, name in enumerate(_NAMES)}
# Picked in C, and passed by position: from_mapping with 28 keywords cost ~1.5 times as much.
_COLUMNS = itemgetter(*_NAMES)
_FIELDS = attrgetter(*_NAMES)
# How a column's stored value becomes the field's: a copy of the JSON column's dict, the state's
# member, SQLite's 0/1 as bools.
_READERS: dict[str, Callable[[Any], Any]] = {
    "group_labels": dict,
    "state": State,
    "audible": bool,
    "sla_ack_breached": bool,
    "sla_resolve_breached": bool,
}
_READ = tuple((_POSITIONS[name], read) for name, read in _READERS.items())


@dataclass(frozen=True, slots=True)
class Event:
    """One timeline entry of an incident; `seq` numbers them per incident from 1."""

    incident_id: int
    seq: int
    time: float
    kind: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "actor": self.actor,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One person reached through one of their contact methods: the outbox row goes to
    `receiver`, which delivers to `address` (a mail address, a chat handle, a phone number for
    an SMS gateway, an MQTT topic) instead of its own configured destination."""

    user: str
    name: str  # how people read the user ("Alice Li"), else the user name
    contact: str
    receiver: str
    address: str

    def recipient(self) -> dict[str, str]:
        """The `recipient` object of the notification payload."""
        return {
            "user": self.user,
            "name": self.name,
            "contact": self.contact,
            "address": self.address,
        }

    def summary(self) -> dict[str, str]:
        """Who was paged through what, for the timeline (the address stays in the config)."""
        return {"user": self.user, "contact": self.contact, "receiver": self.receiver}


@dataclass(frozen=True, slots=True)
class MemberGroup:
    """Members of an incident that share role, status, severity and mute reason, counted."""

    role: str
    status: str
    severity: str
    muted: str | None
    count: int
