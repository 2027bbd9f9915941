"""Which teams an escalation policy reaches, for personal tokens restricted to teams."""

from __future__ import annotations

from watchd.incidents.config import EscalationPolicy, EscalationStep
from watchd.incidents.reach import teams_reached
from watchd.people.config import PeopleConfig

PEOPLE = PeopleConfig.model_validate(
    {
        "users": [{"name": n} for n in ("alice", "bob", "carol", "dave")],
        "teams": [
            {"name": "ops", "members": ["alice"]},
            {"name": "db", "members": ["bob"]},
            {"name": "net", "members": ["carol"]},
            {"name": "web", "members": ["dave"]},
        ],
        "schedules": [
            {
                "name": "dba",
                "layers": [
                    {"name": "l", "users": ["bob"], "start": "2026-11-02T09:00", "rotation": "1w"}
                ],
            }
        ],
    }
)


def test_a_policy_reaches_named_teams_and_the_teams_of_paged_people() -> None:
    """A step's team, the team of a step's user and the team of someone on a step's schedule are reached; others are not; no policy reaches none."""
    policy = EscalationPolicy(
        name="p",
        steps=[
            EscalationStep(after=0, teams=["net"]),
            EscalationStep(after=300, users=["alice"], schedules=["dba"]),
        ],
    )
    assert teams_reached(policy, PEOPLE) == frozenset({"net", "ops", "db"})
    assert teams_reached(None, PEOPLE) == frozenset()
