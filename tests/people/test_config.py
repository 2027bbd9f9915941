"""People config: users, teams and schedules load, and every mistake is named by its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watchd.config import parse_config
from watchd.configbase import ConfigError

FILE = Path("people.toml")


def people(**changes: Any) -> dict[str, Any]:
    """A valid people config (two users, a team, a schedule) with top-level tables replaced."""
    raw: dict[str, Any] = {
        "receivers": [
            {
                "name": "email",
                "kind": "email",
                "host": "127.0.0.1",
                "sender": "w@x.org",
                "to": ["o@x.org"],
            },
            {"name": "sms", "kind": "webhook", "url": "http://127.0.0.1:9/sms"},
        ],
        "users": [
            {
                "name": "alice",
                "display_name": "Alice Li",
                "timezone": "Asia/Shanghai",
                "contacts": [
                    {"name": "mail", "receiver": "email", "address": "alice@example.com"},
                    {"name": "phone", "receiver": "sms", "address": "+8613800000000"},
                ],
                "notify": [
                    {"severity": ["critical"], "contact": "phone", "after": "5m"},
                    {"contact": "mail"},
                ],
            },
            {
                "name": "bob",
                "contacts": [{"name": "mail", "receiver": "email", "address": "bob@x"}],
            },
        ],
        "teams": [{"name": "ops", "members": ["alice", "bob"]}],
        "schedules": [
            {
                "name": "primary",
                "timezone": "Asia/Shanghai",
                "layers": [
                    {
                        "name": "weekly",
                        "users": ["alice", "bob"],
                        "start": "2026-11-02T09:00",
                        "rotation": "1w",
                        "restrictions": [{"days": ["mon", "tue"], "from": "09:00", "to": "18:00"}],
                    }
                ],
            }
        ],
    }
    raw.update(changes)
    return raw


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, FILE)
    return [str(p) for p in caught.value.problems]


def test_a_people_config_loads_with_lookups_by_name() -> None:
    """Users, teams and schedules load, and the people view finds each by name."""
    config = parse_config(people(), FILE).people()
    alice = config.user("alice")
    assert alice is not None and alice.label() == "Alice Li (alice)"
    assert alice.contact("phone") is not None and alice.notify[0].after == 300.0
    assert alice.notify[0].applies_to("critical") and not alice.notify[0].applies_to("warning")
    assert config.team("ops") is not None and config.schedule("primary") is not None
    assert config.user("nobody") is None


def _layer(**changes: Any) -> dict[str, Any]:
    layer = people()["schedules"][0]["layers"][0] | changes
    return {"name": "primary", "layers": [layer]}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"teams": [{"name": "ops", "members": ["alice", "mallory"]}]},
            'teams[0]("ops").members[1]: unknown user "mallory" (expected the name of a user in [[users]])',
        ),
        (
            {"schedules": [_layer(users=["bob", "eve"])]},
            'schedules[0]("primary").layers[0]("weekly").users[1]: unknown user "eve"',
        ),
        (
            {
                "users": [
                    {
                        "name": "carol",
                        "contacts": [{"name": "x", "receiver": "pager", "address": "1"}],
                    }
                ],
                "teams": [],
                "schedules": [],
            },
            'users[0]("carol").contacts[0]("x").receiver: unknown receiver "pager" (expected one of [[receivers]]: "email", "sms")',
        ),
        (
            {
                "users": [{"name": "carol", "notify": [{"contact": "chat"}]}],
                "teams": [],
                "schedules": [],
            },
            'users[0]("carol").notify[0].contact: unknown contact "chat" (expected one of this user\'s contacts: none)',
        ),
        (
            {"users": [*people()["users"], {"name": "bob"}]},
            'users[2]("bob").name: user "bob" is defined twice',
        ),
        (
            {"teams": [{"name": "ops"}, {"name": "ops"}]},
            'teams[1]("ops").name: team "ops" is defined twice',
        ),
        (
            {"schedules": [_layer(), _layer()]},
            'schedules[1]("primary").name: schedule "primary" is defined twice',
        ),
        (
            {"schedules": [_layer() | {"timezone": "Europe/Berln"}]},
            "schedules[0](\"primary\").timezone: Value error, unknown time zone 'Europe/Berln'",
        ),
        (
            {
                "schedules": [
                    _layer(
                        restrictions=[
                            {"days": ["mon", "fri"], "from": "09:00", "to": "18:00"},
                            {"days": ["fri"], "from": "22:00", "to": "06:00"},
                            {"days": ["sat"], "from": "05:00", "to": "07:00"},
                        ]
                    )
                ]
            },
            'schedules[0]("primary").layers[0]("weekly").restrictions[2]: overlaps restriction 1 '
            "(both cover sat 05:00); a layer's ranges must not overlap",
        ),
        (
            {
                "schedules": [
                    _layer(
                        restrictions=[
                            {"days": ["sun"], "from": "23:00", "to": "02:00"},
                            {"days": ["mon"], "from": "01:00", "to": "03:00"},
                        ]
                    )
                ]
            },
            "restrictions[1]: overlaps restriction 0 (both cover mon 01:00)",
        ),
        (
            {"schedules": [_layer(restrictions=[{"from": "09:00", "to": "09:00"}])]},
            "'from' and 'to' are the same time (09:00); for the whole day write from = '00:00', to = '24:00'",
        ),
        (
            {"schedules": [_layer(restrictions=[{"from": "9:00", "to": "17:00"}])]},
            "restrictions[0].from: Value error, expected a local time like 09:00 or 24:00, got '9:00'",
        ),
        (
            {"schedules": [_layer(rotation="30s")]},
            'schedules[0]("primary").layers[0]("weekly").rotation: Input should be greater than or equal to 60',
        ),
        (
            {"schedules": [_layer(start="2026-11-02T09:00+08:00")]},
            'layers[0]("weekly").start: Value error, expected a local time of the schedule without an offset',
        ),
        (
            {"schedules": [_layer(start="9999-12-31T09:00")]},
            "start: Value error, expected a time between 1970 and 9000",
        ),
        (
            {"schedules": [_layer(users=[])]},
            'layers[0]("weekly").users: List should have at least 1 item',
        ),
        (
            {"schedules": [_layer() | {"name": "override"}]},
            'schedules[0]("override").name: "override" is reserved',
        ),
        (
            {"users": [{"name": "Alice Li"}], "teams": [], "schedules": []},
            'users[0]("Alice Li").name: String should match pattern',
        ),
    ],
)
def test_a_people_mistake_is_named_by_its_key_path(changes: dict[str, Any], expected: str) -> None:
    """check-config names each people mistake with its key path and what was expected."""
    found = problems(people(**changes))
    assert any(expected in line for line in found), found


def test_every_people_problem_is_listed_at_once() -> None:
    """Several cross-reference mistakes are all reported in one run, not only the first."""
    found = problems(
        people(
            teams=[{"name": "ops", "members": ["zed"]}],
            schedules=[_layer(users=["yan"])],
        )
    )
    assert len(found) == 2, found
