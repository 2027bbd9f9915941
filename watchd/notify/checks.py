"""Notification config problems that no single key shows, for load_setup (check-config,
start-up, reload): unknown receivers in routes and escalation steps, unknown time intervals,
templates that do not compile (errors); routes that can never be reached (warnings)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from watchd.configbase import ConfigProblem
from watchd.incidents.config import EscalationPolicy
from watchd.notify.config import NotifyConfig, RouteConfig
from watchd.notify.receivers import AnyReceiver
from watchd.notify.router import route_problems


def notify_problems(
    receivers: Sequence[AnyReceiver],
    route: RouteConfig,
    notify: NotifyConfig,
    escalation: Sequence[EscalationPolicy],
    base: Path,
) -> tuple[list[ConfigProblem], list[str]]:
    """Errors and warning lines of the notification config (receivers, route, [notify] and
    the receivers escalation steps name); `base` anchors relative paths."""
    names = [r.name for r in receivers]
    errors, warnings = route_problems(route, names, notify.time_intervals)
    for i, policy in enumerate(escalation):
        for j, step in enumerate(policy.steps):
            for name in step.receivers:
                if name not in names:
                    errors.append(
                        ConfigProblem(
                            f'incidents.escalation[{i}]("{policy.name}").steps[{j}].receivers',
                            f'unknown receiver "{name}"',
                        )
                    )
    errors += list(_receiver_problems(receivers, base))
    return errors, [str(w) for w in warnings]


def _receiver_problems(receivers: Sequence[AnyReceiver], base: Path) -> Iterator[ConfigProblem]:
    for i, receiver in enumerate(receivers):
        where = f'receivers[{i}]("{receiver.name}")'
        for key, reason in receiver.problems(base):
            yield ConfigProblem(f"{where}.{key}", reason)
