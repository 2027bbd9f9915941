"""Config tables for incidents and inhibit rules (DESIGN.md §4).

    [incidents]             group_by, reopen_window, resolve_timeout, problems, changes, SLA
    [[incidents.escalation]] name, matchers, repeat, repeat_after,
                            steps = [{after, receivers, users, teams, schedules}]
    [[inhibit_rules]]       source_matchers, target_matchers, equal

[[maintenance]] windows live in watchd.maintenance: muting and reports both read them.

Matchers are Alertmanager strings, validated at load (watchd.matchers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.matchers import Matcher, Matchers, matches_all, parse_matchers


class SlaConfig(Strict):
    """Time to acknowledge and time to resolve for one severity; 0 means no target.

    With `pause_while_muted` (the default) both clocks stop while the incident is muted by a
    silence, a maintenance window, a change or an inhibit rule: planned work is not a breach.
    """

    ack: Duration = 0.0
    resolve: Duration = 0.0
    pause_while_muted: bool = True


class EscalationStep(Strict):
    """What one step pages, `after` the policy started: receivers (their own destinations) and
    people — users, every member of a team, whoever is on call in a schedule when the step
    fires — each through their own notification rules."""

    after: Duration
    receivers: list[str] = []
    users: list[str] = []
    teams: list[str] = []
    schedules: list[str] = []

    @model_validator(mode="after")
    def _targets(self) -> EscalationStep:
        if not (self.receivers or self.users or self.teams or self.schedules):
            raise ValueError("expected at least one target: receivers, users, teams or schedules")
        return self


class EscalationPolicy(Strict):
    """Steps run after the incident was first notified, in order, until someone acknowledges;
    when the incident's severity changes the policy is picked again (lifecycle.settle). With
    `repeat`, the steps run again that many times while nobody acknowledges, each round
    starting `repeat_after` after the previous round's last step."""

    name: str = Field(min_length=1)
    matchers: Matchers = []
    steps: list[EscalationStep] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=100)
    repeat_after: Duration = 0.0

    @model_validator(mode="after")
    def _round(self) -> EscalationPolicy:
        if self.repeat and self.repeat_after <= 0:
            raise ValueError(
                "repeat needs repeat_after: how long after the last step the policy starts over"
            )
        return self

    def parsed(self) -> tuple[Matcher, ...]:
        return parse_matchers(self.matchers)

    @property
    def total_steps(self) -> int:
        """Steps taken in all, counting every round."""
        return len(self.steps) * (self.repeat + 1)

    def step_at(self, index: int) -> tuple[EscalationStep, int, float]:
        """The step taken `index`-th (from 0, across rounds), its round (from 0), and when it
        is due, in seconds after the policy started."""
        round_, position = divmod(index, len(self.steps))
        period = self.steps[-1].after + self.repeat_after
        step = self.steps[position]
        return step, round_, round_ * period + step.after


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
    # How long a symptom whose parent recovered waits for a fresh result of its check before it
    # is correlated (and paged) on its own anyway; checked every timer_interval.
    recheck_timeout: Duration = 60.0
    sla: dict[str, SlaConfig] = {}
    escalation: list[EscalationPolicy] = []

    def escalation_policy_for(self, alerts: Iterable[Mapping[str, str]]) -> str | None:
        """The first policy (in config order) whose matchers match one of `alerts` (label
        sets), or None."""
        label_sets = list(alerts)
        return next(
            (
                policy.name
                for policy in self.escalation
                if any(matches_all(policy.parsed(), labels) for labels in label_sets)
            ),
            None,
        )


class InhibitRule(Strict):
    """While a firing alert matches `source_matchers`, alerts matching `target_matchers` with
    the same values of the `equal` labels are muted."""

    source_matchers: Matchers = Field(min_length=1)
    target_matchers: Matchers = Field(min_length=1)
    equal: list[str] = []
