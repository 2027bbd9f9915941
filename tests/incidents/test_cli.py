"""The incident CLI commands on a config file and its SQLite store, as an operator runs them."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from tests.pipeline.conftest import alert, settings_from
from watchd import cli
from watchd.cli_incidents import add_commands
from watchd.clock import FakeClock, SystemClock
from watchd.logging import get_logger
from watchd.pipeline import AlertPipeline
from watchd.store import Store

CONFIG = """
[daemon]
state_dir = "state"

[[items]]
name = "db1"

[[receivers]]
name = "log"
"""


def run(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="watchd")
    sub = parser.add_subparsers()

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("-c", "--config", type=Path, default=config)
        return cmd

    add_commands(sub, command)
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose store holds one open incident on db1."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)

    async def seed() -> None:
        store = await Store.open(f"sqlite:///{tmp_path}/state/watchd.db", clock=SystemClock())
        pipeline = AlertPipeline(store.engine, clock=SystemClock(), settings=settings_from({}))
        await pipeline.submit((alert("db1"),))
        await store.close()

    asyncio.run(seed())
    return path


def test_cli_ack_comment_resolve_and_list(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`watchd ack/comment/resolve` change the incident; `incidents --json` shows the result."""
    assert run(config, "ack", "1", "--by", "carol", "--comment", "on it") == 0
    assert "acknowledged" in capsys.readouterr().out
    assert run(config, "ack", "1") == 1
    assert "cannot be acknowledged" in capsys.readouterr().out
    assert run(config, "comment", "1", "rebooted", "--by", "carol") == 0
    assert run(config, "resolve", "1", "--by", "carol") == 0
    capsys.readouterr()
    assert run(config, "incidents", "--json", "--state", "resolved") == 0
    (incident,) = json.loads(capsys.readouterr().out)
    assert incident["acknowledged_by"] == "carol" and incident["resolved_by"] == "carol"
    assert run(config, "incident", "1") == 0
    assert "rebooted" in capsys.readouterr().out


def test_cli_silence_add_list_expire(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`watchd silence add` mutes, `list` shows it, `expire` ends it; bad matchers exit 1."""
    assert run(config, "silence", "add", 'item="db1"', "--duration", "1h", "--json") == 0
    silence = json.loads(capsys.readouterr().out)
    assert run(config, "silence", "list") == 0
    assert silence["id"] in capsys.readouterr().out
    assert run(config, "silence", "add", 'item=~"("') == 1
    assert "not valid" in capsys.readouterr().out
    assert run(config, "silence", "expire", silence["id"]) == 0
    assert run(config, "silence", "list", "--json") == 0
    capsys.readouterr()


def test_cli_change_add_and_problems(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`watchd change add` records a change on a known item; `problems` lists none yet."""
    assert run(config, "change", "add", "db1", "patching", "--duration", "30m") == 0
    assert "change 1 on db1" in capsys.readouterr().out
    assert run(config, "change", "add", "nope", "patching") == 1
    assert run(config, "problems") == 0
    assert "no problems" in capsys.readouterr().out
    assert run(config, "problem", "close", "7") == 1
    assert "There is no problem 7" in capsys.readouterr().out


def test_cli_change_with_a_start_that_is_not_a_time_says_what_it_expected(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped `--start` gets one line naming the expected form, not Python's wording."""
    assert run(config, "change", "add", "db1", "patching", "--start", "tomorrow 9am") == 1
    out = capsys.readouterr().out
    assert "expected an ISO date or time such as 2026-12-15" in out
    assert "'tomorrow 9am'" in out
    assert run(config, "change", "add", "db1", "patching", "--start", "2026-12-15T09:30") == 0
    assert "change 1 on db1" in capsys.readouterr().out  # nothing was stored by the mistyped one


def test_cli_problem_close(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd problem close ID --comment` closes an open problem; closing it again fails."""

    async def recur_three_times() -> None:
        clock = FakeClock()
        store = await Store.open(f"sqlite:///{tmp_path}/state/watchd.db", clock=clock)
        pipeline = AlertPipeline(store.engine, clock=clock, settings=settings_from({}))
        for _ in range(3):
            await pipeline.submit((alert("web1"),))
            await pipeline.submit((alert("web1", firing=False),))
            await clock.advance(7200)
        await store.close()

    asyncio.run(recur_three_times())
    capsys.readouterr()  # the pipeline's own log lines
    assert run(config, "problems", "--json") == 0
    (problem,) = json.loads(capsys.readouterr().out)
    assert run(config, "problem", "close", str(problem["id"]), "--by", "ana") == 0
    assert f"problem {problem['id']} closed by ana" in capsys.readouterr().out
    assert run(config, "problem", "close", str(problem["id"])) == 1
    assert "closed already" in capsys.readouterr().out


@pytest.mark.usefixtures("restore_logging")
def test_cli_log_lines_go_to_stderr_and_json_stays_parseable(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `watchd` itself, stdout carries only the command's output; log lines (warning
    and up) go to stderr."""
    capsys.readouterr()
    assert cli.main(["incidents", "--json", "-c", str(config)]) == 0
    get_logger("watchd.store").warning("store is slow", seconds=3)
    get_logger("watchd.store").info("not shown")
    out, err = capsys.readouterr()
    assert [i["item"] for i in json.loads(out)] == ["db1"]
    assert "store is slow" in err and "not shown" not in err + out
