"""Whom an escalation step pages: users, team members and whoever is on call in a schedule at
that moment (overrides included), each once, through the contacts their rules pick."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from watchd.clock import FakeClock
from watchd.incidents import later
from watchd.incidents.config import EscalationPolicy, EscalationStep
from watchd.incidents.targets import (
    Contacting,
    contacts_for,
    page_of,
    resolve_step,
    step_people,
)
from watchd.people.config import PeopleConfig, UserConfig
from watchd.people.overrides import add_override
from watchd.store import Store

MON_10 = datetime(2030, 1, 7, 10, 0, tzinfo=UTC).timestamp()


def user(name: str, *contacts: str, rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "contacts": [{"name": c, "receiver": c, "address": f"{name}@{c}"} for c in contacts],
        "notify": rules or [],
    }


PEOPLE = PeopleConfig.model_validate(
    {
        "users": [
            user(
                "alice",
                "chat",
                "sms",
                "mail",
                rules=[
                    {"severity": ["critical"], "contact": "chat"},
                    {"severity": ["critical"], "contact": "sms", "after": "5m"},
                    {"severity": ["warning"], "contact": "mail"},
                ],
            ),
            user("bob", "sms"),
            user("carol"),
        ],
        "teams": [{"name": "ops", "members": ["alice", "bob"]}],
        "schedules": [
            {
                "name": "primary",
                "layers": [
                    {"name": "weekly", "users": ["bob", "alice"], "start": "2030-01-07T09:00",
                     "rotation": "1w"},
                ],
            }
        ],
    }
)  # fmt: skip


def reached(found: tuple[Contacting, ...]) -> list[tuple[str, str, float]]:
    return [(c.page.user, c.page.contact, c.after) for c in found]


def test_rules_pick_contacts_by_severity_with_their_delays() -> None:
    """A critical page goes by chat at once and by SMS after 5 minutes; a warning by mail."""
    alice = PEOPLE.user("alice")
    assert alice is not None
    assert [(c.name, after) for c, after in contacts_for(alice, "critical")] == [
        ("chat", 0.0),
        ("sms", 300.0),
    ]
    assert [(c.name, after) for c, after in contacts_for(alice, "warning")] == [("mail", 0.0)]


def test_a_severity_no_rule_covers_still_reaches_the_first_contact() -> None:
    """A page of a severity the rules leave out goes to the user's first contact at once, never to nobody."""
    alice = PEOPLE.user("alice")
    assert alice is not None
    assert [(c.name, after) for c, after in contacts_for(alice, "info")] == [("chat", 0.0)]
    assert contacts_for(UserConfig(name="carol"), "critical") == []


def test_users_teams_and_schedules_are_paged_once_each_in_order() -> None:
    """A step naming bob, the ops team and the schedule pages bob, then alice, each once."""
    step = EscalationStep(after=0, users=["bob"], teams=["ops"], schedules=["primary"])
    people = step_people(step, PEOPLE, {"primary": ("bob",)}, "critical")
    assert reached(people.contacts) == [
        ("bob", "sms", 0.0),
        ("alice", "chat", 0.0),
        ("alice", "sms", 300.0),
    ]
    assert people.nobody_on_call == () and people.unreachable == ()
    assert people.contacts[0].page.address == "bob@sms"


def test_a_schedule_with_nobody_on_call_and_a_user_without_contacts_are_named() -> None:
    """An empty schedule and a user no contact reaches are reported, not silently skipped."""
    step = EscalationStep(after=0, users=["carol"], schedules=["primary"])
    people = step_people(step, PEOPLE, {"primary": ()}, "critical")
    assert people.contacts == ()
    assert people.nobody_on_call == ("primary",) and people.unreachable == ("carol",)


async def test_the_schedule_is_resolved_at_the_moment_with_its_overrides(fresh_db_url: str) -> None:
    """Whoever is on call when the step fires is paged: the rotation's person, or an override's."""
    store = await Store.open(fresh_db_url, clock=FakeClock())
    step = EscalationStep(after=0, schedules=["primary"])
    try:
        async with store.engine.begin() as conn:
            before = await resolve_step(conn, step, PEOPLE, "critical", MON_10)
            await add_override(
                conn,
                schedule="primary",
                user="alice",
                start=MON_10 - 60,
                end=MON_10 + 3600,
                author="bob",
                reason="dentist",
                now=MON_10 - 120,
            )
            during = await resolve_step(conn, step, PEOPLE, "critical", MON_10)
            after = await resolve_step(conn, step, PEOPLE, "critical", MON_10 + 7200)
    finally:
        await store.close()
    assert [c.page.user for c in before.contacts] == ["bob"]
    assert [c.page.user for c in during.contacts] == ["alice", "alice"]
    assert [c.page.user for c in after.contacts] == ["bob"]


async def test_later_contacts_wait_in_the_store_until_due(fresh_db_url: str) -> None:
    """A later contact is kept with its step and delay, read only once due, and forgotten then."""
    store = await Store.open(fresh_db_url, clock=FakeClock())
    alice = PEOPLE.user("alice")
    assert alice is not None
    sms = alice.contact("sms")
    assert sms is not None
    try:
        async with store.engine.begin() as conn:
            waiting = [Contacting(page_of(alice, sms), 300.0)]
            await later.keep(conn, 7, MON_10, "default", 2, waiting, MON_10)
            early = await later.due(conn, MON_10 + 299)
            due = await later.due(conn, MON_10 + 300)
            await later.forget_due(conn, MON_10 + 300)
            gone = await later.due(conn, MON_10 + 3600)
    finally:
        await store.close()
    assert early == {} and gone == {}
    ((found,),) = due.values()
    assert (found.incident_id, found.since, found.policy, found.step) == (7, MON_10, "default", 2)
    assert (found.user, found.contact, found.after) == ("alice", "sms", 300.0)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"name": "p", "steps": [{"after": "0s"}]}, "at least one target"),
        (
            {"name": "p", "repeat": 2, "steps": [{"after": "0s", "users": ["a"]}]},
            "repeat needs repeat_after",
        ),
    ],
)
def test_a_step_without_targets_and_a_repeat_without_its_interval_are_refused(
    policy: dict[str, Any], message: str
) -> None:
    """A step that pages nobody, or a repeat with no time between rounds, is a config error."""
    with pytest.raises(ValueError, match=message):
        EscalationPolicy.model_validate(policy)


def test_repeated_rounds_start_repeat_after_the_last_step() -> None:
    """With repeat = 1 and repeat_after = 10m, steps at 0 and 10m run again at 20m and 30m."""
    policy = EscalationPolicy.model_validate(
        {
            "name": "p",
            "repeat": 1,
            "repeat_after": "10m",
            "steps": [{"after": "0s", "users": ["a"]}, {"after": "10m", "users": ["b"]}],
        }
    )
    assert policy.total_steps == 4
    assert [policy.step_at(i)[1:] for i in range(4)] == [
        (0, 0.0),
        (0, 600.0),
        (1, 1200.0),
        (1, 1800.0),
    ]
