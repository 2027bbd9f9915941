"""Which teams an incident's escalation reaches: a personal token restricted to teams may act
only on incidents that page one of them (watchd.api.incidents)."""

from __future__ import annotations

from watchd.incidents.config import EscalationPolicy
from watchd.people.config import PeopleConfig


def teams_reached(policy: EscalationPolicy | None, people: PeopleConfig) -> frozenset[str]:
    """The teams `policy` pages: named in a step, or with a member named in a step or in the
    rotation of a step's schedule. No policy reaches no team."""
    if policy is None:
        return frozenset()
    teams: set[str] = set()
    users: set[str] = set()
    for step in policy.steps:
        teams.update(step.teams)
        users.update(step.users)
        for name in step.schedules:
            schedule = people.schedule(name)
            for layer in schedule.layers if schedule is not None else ():
                users.update(layer.users)
    teams.update(t.name for t in people.teams if users.intersection(t.members))
    return frozenset(teams)
