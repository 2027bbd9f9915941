"""The scenario file format of `watchd test-paging`, as strict pydantic models (README.md,
"Paging tests"). Every time in a scenario is a duration since its `start`.

    name, description, start          what it is, when time 0 is (default 2030-01-01T00:00:00Z)
    config                            an inline config.toml as a YAML mapping (or -c FILE)
    steps: [{at?, <one action>}]      results (a status or a cycle), post, silence,
                                      expire_silence, change, maintenance, overload, ack,
                                      ack_link, unack, resolve, close, comment, advance
    expect: {notifications, incidents?}

What a single model cannot see (targets that name no check, silences expired before they were
added, steps that go back in time) is checked by watchd.paging.scenario, with the line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration, parse_duration
from watchd.matchers import Matchers

DEFAULT_START = datetime(2030, 1, 1, tzinfo=UTC)
STATES = ("open", "acknowledged", "resolved", "closed")
ACTIONS = (
    "results",
    "post",
    "silence",
    "expire_silence",
    "change",
    "maintenance",
    "overload",
    "ack",
    "ack_link",
    "unack",
    "resolve",
    "close",
    "comment",
    "advance",
)


class SampleSpec(Strict):
    """A sample the check returns with its result (rules see it)."""

    metric: str = Field(min_length=1)
    value: float
    labels: dict[str, str] = {}


def _short_result(value: Any) -> Any:
    return {"status": value} if isinstance(value, str) else value


StatusName = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]


class _Said(Strict):
    message: str = ""
    samples: list[SampleSpec] = []


class RunResult(_Said):
    """What one run of a check returns."""

    status: StatusName


class ResultSpec(_Said):
    """What a check returns from now on: one result at every run, or with `cycle` the results
    of the list in turn, one per run, round and round (a flapping link is [OK, CRITICAL]; an
    entry repeated holds that result for as many runs)."""

    status: StatusName | None = None
    cycle: list[Annotated[RunResult, BeforeValidator(_short_result)]] | None = Field(
        default=None, min_length=2
    )

    @model_validator(mode="after")
    def _status_or_cycle(self) -> ResultSpec:
        if (self.status is None) == (self.cycle is None):
            raise ValueError("expected exactly one of 'status' or 'cycle' (a list of results)")
        if self.cycle is not None and (self.message or self.samples):
            raise ValueError("expected 'message' and 'samples' in each entry of 'cycle'")
        return self

    def runs(self) -> list[RunResult]:
        """The results returned in turn (one when there is no cycle)."""
        if self.cycle is not None:
            return list(self.cycle)
        assert self.status is not None  # the validator saw one of them
        return [RunResult(status=self.status, message=self.message, samples=self.samples)]


Result = Annotated[ResultSpec, BeforeValidator(_short_result)]


class Span(Strict):
    """From `starts` (default: the step's time) to `ends`, or for a duration `for`."""

    model_config = ConfigDict(populate_by_name=True)

    starts: Duration | None = None
    ends: Duration | None = None
    for_: Duration | None = Field(default=None, alias="for")

    @model_validator(mode="after")
    def _one_end(self) -> Span:
        if (self.ends is None) == (self.for_ is None):
            raise ValueError("expected exactly one of 'ends' (time since start) or 'for'")
        return self

    def times(self, step: float) -> tuple[float, float]:
        """(start, end) in seconds since the scenario's start, for a step at `step`."""
        start = step if self.starts is None else self.starts
        end = self.ends if self.ends is not None else start + (self.for_ or 0.0)
        return start, end


class SilenceSpec(Span):
    name: str = ""  # what a later `expire_silence` calls it
    matchers: Matchers = Field(min_length=1)
    by: str = Field(default="scenario", min_length=1)
    comment: str = ""


class ChangeSpec(Span):
    item: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    ticket: str = ""
    by: str = Field(default="scenario", min_length=1)


class WindowSpec(Span):
    """A one-off maintenance window, loaded (as by a reload) at the step's time."""

    name: str = Field(min_length=1)
    items: list[str] = []
    matchers: Matchers = []


class OverloadSpec(Strict):
    """watchd's event loop is `lag` behind from the step on (0s: caught up), for `for` if
    given, else until the next overload step: what the daemon's loop probe would measure."""

    model_config = ConfigDict(populate_by_name=True)

    lag: Duration
    for_: Duration | None = Field(default=None, alias="for", gt=0)

    @model_validator(mode="after")
    def _ends_only_a_lag(self) -> OverloadSpec:
        if self.for_ is not None and self.lag <= 0:
            raise ValueError("'for' needs a lag above 0s (lag: 0s ends an overload)")
        return self


class ActionSpec(Strict):
    """An operator's action on an incident, named by id or by its item (the newest one)."""

    incident: int | None = Field(default=None, ge=1)
    item: str | None = Field(default=None, min_length=1)
    by: str = Field(min_length=1)
    comment: str = ""

    @model_validator(mode="after")
    def _one_target(self) -> ActionSpec:
        if (self.incident is None) == (self.item is None):
            raise ValueError("expected exactly one of 'incident' (an id) or 'item'")
        return self


class AckLinkSpec(Strict):
    """The ack link in the notification `receiver` got last for `incident`, used as from its
    page (`name`: what is typed there when the link names no person)."""

    receiver: str = Field(min_length=1)
    incident: int = Field(ge=1)
    name: str = ""


class Step(Strict):
    """One thing that happens, at `at` (since start) or right after the step before."""

    at: Duration | None = None
    results: dict[str, Result] | None = Field(default=None, min_length=1)
    post: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    silence: SilenceSpec | None = None
    expire_silence: str | None = Field(default=None, min_length=1)
    change: ChangeSpec | None = None
    maintenance: WindowSpec | None = None
    overload: OverloadSpec | None = None
    ack: ActionSpec | None = None
    ack_link: AckLinkSpec | None = None
    unack: ActionSpec | None = None
    resolve: ActionSpec | None = None
    close: ActionSpec | None = None
    comment: ActionSpec | None = None
    advance: Duration | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"expected exactly one action of {', '.join(ACTIONS)}; got {found}")
        if self.comment is not None and not self.comment.comment.strip():
            raise ValueError("a comment step needs its text in 'comment'")
        return self

    @property
    def action(self) -> str:
        return next(name for name in ACTIONS if getattr(self, name) is not None)


class NotificationSpec(Strict):
    """One expected notification; severity, state and a ticket receiver's calls
    (`resolve+close`, `none`) are compared when given. `to` is the user a page to a person
    reached (always compared: a page to alice is not a page to bob). Incident 0 is none: a
    hand-off notice (event `handoff`) to the person who came on call."""

    at: Duration
    receiver: str = Field(min_length=1)
    incident: int = Field(ge=0)
    event: str = Field(min_length=1)
    to: str | None = Field(default=None, min_length=1)
    severity: str | None = None
    state: Literal["open", "acknowledged", "resolved", "closed"] | None = None
    calls: str | None = Field(default=None, min_length=1)


class IncidentSpec(Strict):
    """One incident's expected final state; the optional fields are compared when given
    (`change`: the id of the change it is linked to)."""

    id: int = Field(ge=1)
    state: Literal["open", "acknowledged", "resolved", "closed"]
    severity: str = Field(min_length=1)
    alerts: int | None = Field(default=None, ge=0)
    acknowledged_by: str | None = None
    change: int | None = Field(default=None, ge=1)


class Expect(Strict):
    notifications: list[NotificationSpec]
    incidents: list[IncidentSpec] | None = None  # None: not compared


def _start(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # YAML timestamps without a zone are UTC
    return value


class ScenarioFile(Strict):
    name: str | None = Field(default=None, min_length=1)
    description: str = ""
    start: Annotated[datetime, BeforeValidator(_start)] = DEFAULT_START
    config: dict[str, Any] | None = None
    steps: list[Step] = Field(min_length=1)
    expect: Expect


# One-line forms, as the report prints them:
#   "2m30s oncall incident 1 opened [to=alice] [severity=critical] [state=open] [calls=open]"
#   "incident 1 resolved critical [alerts=2] [acknowledged_by=alice] [change=1]"
# (no "#1": in YAML a " #" starts a comment)
_NOTIFICATION = re.compile(r"^(\S+)\s+(\S+)\s+incident\s+(\d+)\s+(\S+)((?:\s+\w+=\S+)*)\s*$")
_INCIDENT = re.compile(r"^incident\s+(\d+)\s+(\S+)\s+(\S+)((?:\s+\w+=\S+)*)\s*$")
NOTIFICATION_FORM = (
    "AT RECEIVER incident ID EVENT [to=USER] [severity=S] [state=S] [calls=C], "
    "e.g. '2m oncall incident 1 opened'"
)
INCIDENT_FORM = (
    "incident ID STATE SEVERITY [alerts=N] [acknowledged_by=NAME] [change=ID], "
    "e.g. 'incident 1 resolved critical'"
)


def notification_fields(line: str) -> dict[str, Any]:
    """The fields of a one-line expected notification; ValueError naming the form."""
    found = _NOTIFICATION.match(line)
    if found is None:
        raise ValueError(f"expected a notification as {NOTIFICATION_FORM}, got {line!r}")
    at, receiver, incident, event, extra = found.groups()
    parse_duration(at)  # a bad time says so with the form of a duration
    return {
        "at": at,
        "receiver": receiver,
        "incident": int(incident),
        "event": event,
        **_pairs(extra),
    }


def incident_fields(line: str) -> dict[str, Any]:
    """The fields of a one-line expected incident; ValueError naming the form."""
    found = _INCIDENT.match(line)
    if found is None:
        raise ValueError(f"expected an incident as {INCIDENT_FORM}, got {line!r}")
    number, state, severity, extra = found.groups()
    return {"id": int(number), "state": state, "severity": severity, **_pairs(extra)}


def _pairs(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split())
