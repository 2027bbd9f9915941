"""`watchd oncall` on a config file and its SQLite store, as an operator runs it: who is on
call, the shifts of a range, and overrides added, listed and deleted with their author."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchd.cli import main

CONFIG = """
[daemon]
state_dir = "state"

[[receivers]]
name = "log"

[[users]]
name = "alice"
display_name = "Alice Li"

[[users]]
name = "bob"

[[schedules]]
name = "primary"
timezone = "Europe/Berlin"
[[schedules.layers]]
name = "daily"
users = ["alice", "bob"]
start = "2030-03-29T09:00"
rotation = "1d"

[[schedules]]
name = "weekend"
[[schedules.layers]]
name = "sat"
users = ["bob"]
start = "2030-03-25T00:00"
rotation = "1w"
restrictions = [{ days = ["sat"], from = "00:00", to = "24:00" }]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["-c", str(config), "oncall", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_oncall_shows_who_and_the_shifts_in_the_schedules_time(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Times without an offset are the schedule's; the shifts keep their 09:00 hand-off over
    Berlin's 2030-03-31 spring-forward, the text names people by display name; --json has the
    API's shapes (one schedule, or all under "schedules")."""
    code, out, _ = run(
        config, capsys, "primary", "--at", "2030-03-30T10:00", "--to", "2030-04-01T09:00"
    )
    assert code == 0
    assert out.splitlines() == [
        "primary (Europe/Berlin)",
        "  on call now: bob since 2030-03-30T09:00+01:00 until 2030-03-31T09:00+02:00  [daily]",
        "  2030-03-30T10:00+01:00 .. 2030-03-31T09:00+02:00  bob  [daily]",
        "  2030-03-31T09:00+02:00 .. 2030-04-01T09:00+02:00  Alice Li (alice)  [daily]",
    ]
    code, out, _ = run(config, capsys, "--at", "2030-03-29T10:00Z", "--json")
    assert [v["schedule"] for v in json.loads(out)["schedules"]] == ["primary", "weekend"]
    code, out, _ = run(config, capsys, "weekend", "--at", "2030-03-29T10:00", "--json")
    view = json.loads(out)
    assert view["on_call"] == [] and view["shifts"][0]["start_local"] == "2030-03-30T00:00+00:00"
    assert view["gaps"][0]["end_local"] == "2030-03-30T00:00+00:00"


def test_an_override_is_added_listed_shown_and_deleted(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`oncall override add` records who and why, the override takes the shift, `list` shows
    it and `delete` removes it."""
    code, out, _ = run(
        config, capsys, "override", "add", "primary", "--user", "alice", "--from",
        "2030-03-30T12:00", "--to", "2030-03-30T14:00", "--reason", "bob's flight", "--by",
        "carol", "--json",
    )  # fmt: skip
    assert code == 0
    added = json.loads(out)
    assert (added["user"], added["author"], added["reason"]) == ("alice", "carol", "bob's flight")
    code, out, _ = run(config, capsys, "primary", "--at", "2030-03-30T13:00", "--json")
    assert [(s["user"], s["layer"]) for s in json.loads(out)["on_call"]] == [("alice", "override")]
    code, out, _ = run(config, capsys, "override", "list", "primary")
    assert f"{added['id']}  primary  alice" in out and "by carol: bob's flight" in out
    code, out, _ = run(config, capsys, "override", "delete", "primary", str(added["id"]))
    assert code == 0 and out.strip() == f"override {added['id']} deleted"
    code, out, _ = run(config, capsys, "override", "list", "--all", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["nope"], 2, "there is no schedule 'nope' (schedules: primary, weekend)"),
        (["primary", "--at", "tomorrow"], 2, "--at: expected an ISO time"),
        (["primary", "--from", "2030-01-01", "--to", "2030-06-01"], 2, "at most 92 days"),
        (["primary", "--at", "9999-12-31T00:00"], 2, "--at: expected a time between 1970-01-01"),
        (
            ["override", "add", "primary", "--user", "zed", "--from", "2030-03-30T12:00", "--to",
             "2030-03-30T14:00", "--reason", "x"],
            2,
            "There is no user 'zed'",
        ),
        (
            ["override", "add", "primary", "--user", "bob", "--from", "2030-03-30T12:00", "--to",
             "2030-03-30T14:00"],
            2,
            "Say why",
        ),
        (["override", "delete", "primary", "42"], 1, "schedule primary has no override 42"),
        (["override", "bogus"], 2, "expected `oncall override add`, `list` or `delete`"),
    ],
)  # fmt: skip
def test_a_mistake_on_the_command_line_says_what_is_wrong(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    """An unknown schedule or user, an unreadable time, a too long range, a missing reason or
    an unknown override exits non-zero with a sentence on stderr."""
    got, _, err = run(config, capsys, *argv)
    assert got == code and message in err
