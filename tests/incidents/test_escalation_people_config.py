"""check-config on escalation to people: unknown users, teams and schedules in steps, and people
a step can page whom no contact reaches, each named by its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchd.configbase import ConfigError
from watchd.loading import load_setup

BASE = """
[api]
enabled = false

[[receivers]]
name = "sms"
kind = "webhook"
url = "http://127.0.0.1:9/sms"

[[receivers]]
name = "tickets"
kind = "ticket"
open = { method = "POST", url = "http://127.0.0.1:9/tickets", body = "{}" }
update = { method = "POST", url = "http://127.0.0.1:9/tickets/1", body = "{}" }

[[users]]
name = "alice"
contacts = [{ name = "sms", receiver = "sms", address = "+8613800000001" }]

[[users]]
name = "bob"
contacts = [{ name = "desk", receiver = "tickets", address = "bob" }]

[[users]]
name = "carol"

[[teams]]
name = "ops"
members = ["alice", "bob"]

[[schedules]]
name = "primary"
[[schedules.layers]]
name = "weekly"
users = ["alice", "carol"]
start = "2030-01-07T09:00"
rotation = "1w"
"""


def lines(tmp_path: Path, steps: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(f'{BASE}\n[[incidents.escalation]]\nname = "default"\n{steps}')
    with pytest.raises(ConfigError) as caught:
        load_setup(path)
    return caught.value.lines()


def test_unknown_users_teams_and_schedules_in_steps_are_named(tmp_path: Path) -> None:
    """A mistyped user, team or schedule in a step is an error at its key path, with the names that exist."""
    found = "\n".join(
        lines(
            tmp_path,
            'steps = [{ after = "0s", users = ["alise"], teams = ["opps"], schedules = ["primay"] }]',
        )
    )
    where = 'incidents.escalation[0]("default").steps[0]'
    assert (
        f'{where}.users[0]: unknown user "alise" (expected one of [[users]]: "alice", "bob", "carol")'
        in found
    )
    assert f'{where}.teams[0]: unknown team "opps" (expected one of [[teams]]: "ops")' in found
    assert f'{where}.schedules[0]: unknown schedule "primay"' in found


def test_people_a_step_can_page_without_a_usable_contact_are_errors(tmp_path: Path) -> None:
    """bob (only a ticket contact, reached through the team) and carol (no contact, on the schedule) cannot be paged: both are named."""
    found = "\n".join(
        lines(
            tmp_path,
            'steps = [{ after = "0s", teams = ["ops"] }, { after = "5m", schedules = ["primary"] }]',
        )
    )
    assert (
        'users[1]("bob").contacts: no contact method can reach this user, whom incidents.escalation[0]("default").steps[0].teams[0] pages'
        in found
    )
    assert (
        'users[2]("carol").contacts: no contact method can reach this user, whom incidents.escalation[0]("default").steps[1].schedules[0] pages'
        in found
    )
    assert 'users[0]("alice")' not in found


def test_a_step_needs_a_target_and_a_repeat_its_interval(tmp_path: Path) -> None:
    """A step with no target and a repeat without repeat_after are named by key path."""
    found = "\n".join(lines(tmp_path, 'steps = [{ after = "0s" }]'))
    assert (
        'incidents.escalation[0]("default").steps[0]: Value error, expected at least one target'
        in found
    )
    found = "\n".join(lines(tmp_path, 'repeat = 2\nsteps = [{ after = "0s", users = ["alice"] }]'))
    assert 'incidents.escalation[0]("default"): Value error, repeat needs repeat_after' in found


def test_a_step_reaching_people_with_contacts_loads(tmp_path: Path) -> None:
    """Users, teams and schedules whose people all have a usable contact load without a problem."""
    path = tmp_path / "config.toml"
    path.write_text(
        BASE.replace(
            'name = "carol"\n',
            'name = "carol"\ncontacts = [{ name = "sms", receiver = "sms", address = "+86" }]\n',
        )
        + '\n[[incidents.escalation]]\nname = "default"\nrepeat = 1\nrepeat_after = "30m"\n'
        'steps = [{ after = "0s", users = ["alice"], schedules = ["primary"] }]\n'
    )
    setup = load_setup(path)
    assert setup.config.incidents.escalation[0].steps[0].schedules == ["primary"]
