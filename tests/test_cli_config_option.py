"""`-c/--config` before or after the command, and $WATCHD_CONFIG, for every command family.

Each command runs from a directory without a config.toml, so it succeeds only when it read the
file it was pointed at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchd import cli

CONFIG = """
[daemon]
state_dir = "{state}"

[[items]]
name = "db1"

[[receivers]]
name = "log"
"""

# One command of each family that exits 0 on a fresh SQLite store, and what it prints.
COMMANDS = [
    (["check-config"], "OK (1 items"),
    (["db", "upgrade"], "database schema is up to date"),
    (["incidents", "--json"], "[]"),
    (["silence", "list", "--json"], "[]"),
    (["problems", "--json"], "[]"),
    (["report", "--format", "json"], '"period"'),
    (["cluster", "status", "--json"], '"single_node": true'),
    (["notify", "test", "log"], "log (log): delivered"),
]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file in one directory; the command runs from another, without config.toml."""
    path = tmp_path / "etc" / "watchd.toml"
    path.parent.mkdir()
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv(cli.CONFIG_ENV, raising=False)
    return path


def _placed(where: str, command: list[str], config: Path) -> list[str]:
    if where == "before":
        return ["-c", str(config), *command]
    if where == "after":
        return [*command, "--config", str(config)]
    return command


@pytest.mark.parametrize("where", ["before", "after", "environment"])
@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_reads_the_config_given_before_after_or_in_the_environment(
    where: str,
    command: list[str],
    expected: str,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`watchd -c F CMD`, `watchd CMD -c F` and `WATCHD_CONFIG=F watchd CMD` all read F."""
    if where == "environment":
        monkeypatch.setenv(cli.CONFIG_ENV, str(config))
    assert cli.main(_placed(where, command, config)) == 0, capsys.readouterr()
    assert expected in capsys.readouterr().out


def test_probe_reads_the_config_given_after_the_command(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd probe ITEM -c F` finds the item in F (which has no checks, hence exit 1)."""
    assert cli.main(["probe", "db1", "-c", str(config)]) == 1
    assert "no enabled check matches item 'db1'" in capsys.readouterr().err


def test_an_explicit_config_wins_over_the_environment(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """-c, before or after the command, beats $WATCHD_CONFIG; after beats before."""
    monkeypatch.setenv(cli.CONFIG_ENV, str(config.parent / "missing.toml"))
    assert cli.main(["check-config", "-c", str(config)]) == 0
    assert cli.main(["-c", str(config), "check-config"]) == 0
    assert cli.main(["-c", "missing.toml", "check-config", "-c", str(config)]) == 0
    assert str(config) in capsys.readouterr().out


def test_without_c_or_environment_the_config_is_config_toml_here(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With neither, commands read ./config.toml and say so when it is missing."""
    assert cli.main(["check-config"]) == 1
    assert "config.toml: cannot read" in capsys.readouterr().err
    assert cli.config_path(None, {}) == Path("config.toml")
    assert cli.config_path(None, {cli.CONFIG_ENV: ""}) == Path("config.toml")


SCENARIO = Path(__file__).resolve().parent / "data" / "scenarios_bad" / "no_config.yaml"


@pytest.mark.parametrize("where", ["before", "after", "environment"])
def test_test_paging_takes_its_config_before_after_or_from_the_environment(
    where: str,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A scenario without its own config runs against the file of -c or $WATCHD_CONFIG; with
    neither, test-paging says no config file was given (it has no default file)."""
    assert cli.main(["test-paging", str(SCENARIO)]) == 2
    assert "no config file was given" in capsys.readouterr().err
    if where == "environment":
        monkeypatch.setenv(cli.CONFIG_ENV, str(config))
    cli.main(_placed(where, ["test-paging", str(SCENARIO)], config))
    assert "no config file was given" not in capsys.readouterr().err
