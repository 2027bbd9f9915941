"""Notification config: receiver kinds, route checks at load (check-config), router semantics,
time intervals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from watchd.config import parse_config
from watchd.configbase import ConfigError
from watchd.loading import load_setup
from watchd.notify.config import RouteConfig, TimeInterval
from watchd.notify.intervals import contains, next_unmuted
from watchd.notify.router import Router


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("[api]\nenabled = false\n" + text)
    return path


def test_a_receiver_without_kind_is_a_log_receiver_and_unknown_kinds_are_named() -> None:
    """`[[receivers]] name = "log"` still means the log receiver; an unknown kind lists the known ones."""
    config = parse_config({"receivers": [{"name": "log"}]}, Path("c.toml"))
    assert config.receivers[0].kind == "log"
    with pytest.raises(ConfigError) as caught:
        parse_config({"receivers": [{"name": "x", "kind": "pager"}]}, Path("c.toml"))
    assert "unknown receiver kind (expected one of: log, webhook, ticket" in str(caught.value)


def test_check_config_reports_unknown_receivers_bad_matchers_and_templates(tmp_path: Path) -> None:
    """Unknown receiver names in routes, a bad matcher and a template that does not compile are config problems with their key paths."""
    (tmp_path / "bad.j2").write_text("{% if %}")
    path = write(
        tmp_path,
        '[[receivers]]\nname = "chat"\nkind = "chat"\nurl = "http://127.0.0.1:1/x"\ntemplate = "bad.j2"\n'
        '[route]\nreceivers = ["chat"]\n[[route.routes]]\nreceivers = ["pager"]\nmatchers = [\'team="db"\']\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_setup(path)
    lines = "\n".join(caught.value.lines())
    assert 'route.routes[0].receivers: unknown receiver "pager"' in lines
    assert 'receivers[0]("chat").template' in lines
    bad = write(tmp_path, '[route]\n[[route.routes]]\nmatchers = ["team=~\\"(\\""]\n')
    with pytest.raises(ConfigError) as caught:
        load_setup(bad)
    assert "route.routes[0].matchers" in "\n".join(caught.value.lines())


def test_unreachable_routes_are_warned(tmp_path: Path) -> None:
    """A route after a catch-all sibling without continue is a warning, not an error."""
    path = write(
        tmp_path,
        '[route]\n[[route.routes]]\nreceivers = ["log"]\n[[route.routes]]\nmatchers = [\'team="db"\']\n',
    )
    setup = load_setup(path)
    assert any("route.routes[1]: this route is never reached" in w for w in setup.warnings)


def test_route_matchers_on_labels_nothing_sets_are_warned(tmp_path: Path) -> None:
    """A route on team="db" when no item, check, rule or trap sets `team` draws a warning (not an error) with its key path; once an item carries the label, or for a matcher that matches its absence, there is none."""
    routes = (
        "[route]\n[[route.routes]]\nmatchers = ['team=\"db\"', 'severity=\"critical\"']\n"
        "[[route.routes]]\nmatchers = ['env!=\"lab\"']\n"
    )
    setup = load_setup(write(tmp_path, routes))
    unset = [w for w in setup.warnings if "sets label" in w]
    assert unset == [
        'route.routes[0].matchers: no configured check, rule or trap sets label "team"; only '
        'alerts posted from outside can match team="db" (give the items or checks it is about '
        "the label)"
    ]
    item = '[[items]]\nname = "db1"\nlabels = { team = "db" }\n'
    setup = load_setup(write(tmp_path, item + routes))
    assert not [w for w in setup.warnings if "sets label" in w]


def router(raw: dict[str, Any]) -> Router:
    return Router.from_config(RouteConfig.model_validate(raw), ["a", "b", "c"])


def test_routes_follow_alertmanager_matching() -> None:
    """The first matching child wins unless it continues; no match falls back to the parent; children inherit timers."""
    tree = router(
        {
            "receivers": ["a"],
            "group_wait": "10s",
            "routes": [
                {"matchers": ['severity="critical"'], "receivers": ["b"], "continue": True},
                {"matchers": ['item=~"db.*"'], "receivers": ["c"], "group_wait": "1s"},
                {"matchers": ['item=~"db.*"'], "receivers": ["a"]},
            ],
        }
    )
    db1 = ({"severity": "critical", "item": "db1"},)
    assert tree.receivers(db1) == ["b", "c"]
    assert tree.receivers(({"severity": "warning", "item": "web1"},)) == ["a"]
    assert tree.route_for(db1, "b")[0].group_wait == 10.0
    assert tree.route_for(db1, "c")[0].group_wait == 1.0


def test_a_config_without_routes_notifies_every_receiver() -> None:
    """Without [route] every configured receiver hears of every incident, as before routes existed."""
    assert router({}).receivers(({"severity": "info"},)) == ["a", "b", "c"]


def test_time_intervals_in_their_time_zone() -> None:
    """Office hours Monday to Friday in Europe/Paris contain 10:00 Paris time on a Tuesday, not Saturday; a mute ends at the next open minute."""
    office = TimeInterval(
        name="office", times=["09:00-17:00"], weekdays=["monday:friday"], location="Europe/Paris"
    )
    tuesday_10_paris = datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp()
    saturday = datetime(2026, 3, 7, 9, 0, tzinfo=UTC).timestamp()
    assert contains(office, tuesday_10_paris)
    assert not contains(office, saturday)
    monday_9_paris = datetime(2026, 3, 9, 8, 0, tzinfo=UTC).timestamp()
    assert next_unmuted((office,), (), saturday) == monday_9_paris
