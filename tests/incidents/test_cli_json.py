"""`--json` on the incident commands that change something, and filter values that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.incidents.test_cli import config, run
from watchd import cli

__all__ = ["config"]  # the fixture, used by name


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(capsys.readouterr().out)
    return parsed


def test_ack_comment_resolve_and_close_print_the_incident_as_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script gets the incident after each step, with who did it."""
    assert run(config, "ack", "1", "--by", "carol", "--json") == 0
    acked = _json(capsys)
    assert (acked["id"], acked["state"], acked["acknowledged_by"]) == (1, "acknowledged", "carol")
    assert run(config, "unack", "1", "--json") == 0
    assert _json(capsys)["state"] == "open"
    assert run(config, "comment", "1", "rebooted", "--json") == 0
    assert _json(capsys)["id"] == 1
    assert run(config, "resolve", "1", "--by", "dave", "--json") == 0
    assert _json(capsys)["resolved_by"] == "dave"
    assert run(config, "close", "1", "--json") == 0
    assert _json(capsys)["state"] == "closed"


def test_change_add_and_end_and_silence_expire_print_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`change add --json` prints the change; `change end` and `silence expire` say what ended."""
    assert run(config, "change", "add", "db1", "kernel update", "--ticket", "CHG-7", "--json") == 0
    change = _json(capsys)
    assert (change["item"], change["summary"], change["ticket"]) == (
        "db1",
        "kernel update",
        "CHG-7",
    )
    assert run(config, "change", "end", str(change["id"]), "--json") == 0
    assert _json(capsys) == {"id": change["id"], "ended": True}
    assert run(config, "silence", "add", 'item="db1"', "--json") == 0
    silence = _json(capsys)
    assert run(config, "silence", "expire", str(silence["id"]), "--json") == 0
    assert _json(capsys) == {"id": silence["id"], "expired": True}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["incidents", "--state", "bogus"], "unknown state 'bogus' (expected open, acknowledged"),
        (["incidents", "--state", "open,resolvd"], "unknown state 'resolvd'"),
        (["problems", "--state", "opened"], "unknown state 'opened' (expected open, closed)"),
    ],
)
def test_an_unknown_filter_value_exits_2_naming_the_valid_ones(
    argv: list[str], message: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in --state is an error, not an empty list that looks like "nothing is open"."""
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "-c", str(config)])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_known_filter_values_still_list(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "incidents", "--state", "open,acknowledged", "--json") == 0
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [1]
