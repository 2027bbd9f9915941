"""Notification config problems that no single key shows, for load_setup (check-config,
start-up, reload): unknown receivers in routes and escalation steps, unknown users, teams and
schedules in escalation steps, people a step can page whom no contact reaches, unknown time
intervals, templates that do not compile (errors); routes that can never be reached
(warnings)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from watchd.configbase import ConfigProblem
from watchd.incidents.config import EscalationPolicy
from watchd.notify.config import NotifyConfig, RouteConfig
from watchd.notify.receivers import AnyReceiver
from watchd.notify.receivers.ticket import TicketReceiver
from watchd.notify.router import route_problems
from watchd.people.config import PeopleConfig


def notify_problems(
    receivers: Sequence[AnyReceiver],
    route: RouteConfig,
    notify: NotifyConfig,
    escalation: Sequence[EscalationPolicy],
    base: Path,
    people: PeopleConfig | None = None,
) -> tuple[list[ConfigProblem], list[str]]:
    """Errors and warning lines of the notification config (receivers, route, [notify] and
    the receivers and people escalation steps name); `base` anchors relative paths."""
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
    errors += list(_people_problems(escalation, people or PeopleConfig(), receivers))
    errors += list(_receiver_problems(receivers, base))
    return errors, [str(w) for w in warnings]


def _people_problems(
    escalation: Sequence[EscalationPolicy], people: PeopleConfig, receivers: Sequence[AnyReceiver]
) -> Iterator[ConfigProblem]:
    """Unknown users, teams and schedules in escalation steps; people they can page (named,
    in a team, on a schedule) with no contact a receiver can deliver to them through."""
    # A ticket receiver cannot deliver to a person's address: a ticket is per incident.
    personal = {r.name for r in receivers if not isinstance(r, TicketReceiver)}
    reached: dict[str, str] = {}  # user -> the first step key that can page them
    for i, policy in enumerate(escalation):
        for j, step in enumerate(policy.steps):
            where = f'incidents.escalation[{i}]("{policy.name}").steps[{j}]'
            for k, name in enumerate(step.users):
                if people.user(name) is None:
                    yield ConfigProblem(f"{where}.users[{k}]", _unknown("user", name, people.users))
                reached.setdefault(name, f"{where}.users[{k}]")
            for k, name in enumerate(step.teams):
                team = people.team(name)
                if team is None:
                    yield ConfigProblem(f"{where}.teams[{k}]", _unknown("team", name, people.teams))
                for member in team.members if team is not None else ():
                    reached.setdefault(member, f"{where}.teams[{k}]")
            for k, name in enumerate(step.schedules):
                schedule = people.schedule(name)
                if schedule is None:
                    yield ConfigProblem(
                        f"{where}.schedules[{k}]", _unknown("schedule", name, people.schedules)
                    )
                for layer in schedule.layers if schedule is not None else ():
                    for member in layer.users:
                        reached.setdefault(member, f"{where}.schedules[{k}]")
    for i, user in enumerate(people.users):
        if user.name not in reached:
            continue
        if not any(c.receiver in personal for c in user.contacts):
            yield ConfigProblem(
                f'users[{i}]("{user.name}").contacts',
                f"no contact method can reach this user, whom {reached[user.name]} pages "
                "(expected a contact naming an email, webhook, chat, robot, mqtt, exec or "
                "log receiver)",
            )


def _unknown(what: str, name: str, known: Sequence[object]) -> str:
    names = ", ".join(f'"{getattr(k, "name", "")}"' for k in known) or "none are configured"
    return f'unknown {what} "{name}" (expected one of [[{what}s]]: {names})'


def _receiver_problems(receivers: Sequence[AnyReceiver], base: Path) -> Iterator[ConfigProblem]:
    for i, receiver in enumerate(receivers):
        where = f'receivers[{i}]("{receiver.name}")'
        for key, reason in receiver.problems(base):
            yield ConfigProblem(f"{where}.{key}", reason)
