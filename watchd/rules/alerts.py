"""The alerts a rule sends: labels, start time and rendered annotations for a series' state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from watchd.model import FLAPPING, Alert, AlertStatus
from watchd.rules.model import SEVERITY_NAMES, Rule
from watchd.rules.state import SeriesState
from watchd.rules.templates import render_annotations


def alert_labels(rule: Rule, state: SeriesState, severity: str) -> dict[str, str]:
    """The series' labels, the rule's own, the rule's name as alertname, and the severity."""
    return {**state.labels, **rule.labels, "alertname": rule.name, "severity": severity}


def rule_alert(
    rule: Rule,
    state: SeriesState,
    level: int,
    status: AlertStatus,
    now: float,
    *,
    started: float,
    flapping: bool = False,
) -> Alert:
    """The rule's alert for this series at `level` (warning or critical), firing or resolved.

    `started` is when the engine started: an `absent` rule counts silence from then at most.
    `flapping` adds the annotation flapping="true": the series flaps, the change is not paged.
    """
    labels = alert_labels(rule, state, SEVERITY_NAMES[level])
    starts = state.emitted_since if state.emitted_since is not None else now
    if status is AlertStatus.FIRING:
        starts = state.firing_since if state.firing_since is not None else now
    threshold = rule.threshold(level)
    context: dict[str, Any] = {
        "value": state.value,
        "labels": labels,
        "item": labels.get("item", ""),
        "threshold": threshold.value if threshold is not None else rule.absent,
        "condition": str(threshold) if threshold is not None else "absent",
        "severity": labels["severity"],
        "rule": rule.name,
        "status": status.value,
    }
    if rule.absent is not None:
        context["absent_for"] = max(0.0, now - max(state.last_time, started))
    if rule.forecast is not None:
        predicted = state.predicted if state.predicted is not None else now
        context["predicted_at"] = predicted
        context["predicted_in"] = max(0.0, predicted - now)
        context["predicted_time"] = datetime.fromtimestamp(predicted, UTC).isoformat()
    annotations = render_annotations(rule.annotations, rule.annotation_sources, context)
    if flapping:
        annotations = {**annotations, FLAPPING: "true"}
    return Alert(
        labels=labels,
        status=status,
        starts_at=starts,
        annotations=annotations,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        source="rules",
    )
