"""Config tables for incidents, inhibit rules and maintenance windows (DESIGN.md §4).

    [incidents]             group_by, reopen_window, resolve_timeout, problems, changes, SLA
    [[incidents.escalation]] name, matchers, steps = [{after, receivers}]
    [[inhibit_rules]]       source_matchers, target_matchers, equal
    [[maintenance]]         name, matchers or items, start/end or cron + duration, timezone

Matchers are Alertmanager strings, validated at load (watchd.matchers).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.matchers import Matcher, Matchers, parse_matchers


class SlaConfig(Strict):
    """Time to acknowledge and time to resolve for one severity; 0 means no target."""

    ack: Duration = 0.0
    resolve: Duration = 0.0


class EscalationStep(Strict):
    after: Duration
    receivers: list[str] = Field(min_length=1)


class EscalationPolicy(Strict):
    """Steps run after the incident was first notified, in order, until someone acknowledges."""

    name: str = Field(min_length=1)
    matchers: Matchers = []
    steps: list[EscalationStep] = Field(min_length=1)

    def parsed(self) -> tuple[Matcher, ...]:
        return parse_matchers(self.matchers)


class IncidentsConfig(Strict):
    # One incident per broken check: the check's own alert and the rules over its samples
    # (HttpDown, TlsCertificateExpiring, ...) carry the same item and check, so one outage is
    # one page with every signal in its timeline. Alerts with none of these labels group by
    # their alertname (see correlate.group_key).
    group_by: list[str] = ["item", "check"]
    reopen_window: Duration = 1800.0
    resolve_timeout: Duration = 300.0
    problem_threshold: int = Field(default=3, ge=2)
    problem_period: Duration = 7 * 86400.0
    change_link_window: Duration = 7200.0
    timer_interval: Duration = 5.0
    sla: dict[str, SlaConfig] = {}
    escalation: list[EscalationPolicy] = []


class InhibitRule(Strict):
    """While a firing alert matches `source_matchers`, alerts matching `target_matchers` with
    the same values of the `equal` labels are muted."""

    source_matchers: Matchers = Field(min_length=1)
    target_matchers: Matchers = Field(min_length=1)
    equal: list[str] = []


class MaintenanceWindow(Strict):
    """A one-off (start/end) or recurring (cron + duration) window muting matching alerts.

    `items` select those items and every item below them in the parents graph.
    """

    name: str = Field(min_length=1)
    matchers: Matchers = []
    items: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    duration: Duration | None = None
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (expected e.g. UTC, Europe/Paris)"
            ) from exc
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(
                f"not a valid cron expression: {value!r} (expected e.g. '0 2 * * sun')"
            )
        return value

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        if not self.matchers and not self.items:
            raise ValueError("a maintenance window needs 'matchers' or 'items'")
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration is not None
        if one_off == recurring:
            raise ValueError(
                "a maintenance window needs either start and end, or cron and duration"
            )
        if one_off and (self.start is None or self.end is None):
            raise ValueError("a one-off maintenance window needs both start and end")
        if recurring and (self.cron is None or not self.duration):
            raise ValueError("a recurring maintenance window needs both cron and a duration")
        return self

    def parsed(self) -> tuple[Matcher, ...]:
        return parse_matchers(self.matchers)
