"""A scenario file with problems is refused with every problem on its line (watchd.paging)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from watchd.cli import main
from watchd.paging.scenario import load_scenario
from watchd.paging.where import ScenarioError

BAD = Path(__file__).resolve().parents[1] / "data" / "scenarios_bad"
_EXPECT = re.compile(r"^# expect: (\d+): (.*)$", re.MULTILINE)


# `main` points logging at the test's captured stderr: undone after each test.
pytestmark = pytest.mark.usefixtures("restore_logging")


def _expected(path: Path) -> list[tuple[int, str]]:
    return [(int(line), text) for line, text in _EXPECT.findall(path.read_text())]


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_bad_scenario_names_its_problems_with_their_lines(path: Path) -> None:
    """Every problem the fixture announces in its `# expect:` lines is reported at that line."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    found = [(p.line, p.message) for p in caught.value.problems]
    for line, text in _expected(path):
        assert any(at == line and text in message for at, message in found), (line, text, found)
    assert len(found) == len(_expected(path)), found


def test_a_bad_file_exits_2_with_file_and_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`watchd test-paging` prints FILE:LINE: problem on stderr and exits 2."""
    path = BAD / "unknown_check.yaml"
    assert main(["test-paging", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:10: steps[0].results: no enabled check" in err
    assert "Traceback" not in err


def test_a_scenario_without_config_runs_against_the_file_given_with_c(tmp_path: Path) -> None:
    """-c names the config of scenarios that have none of their own."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[[items]]\nname = "db1"\n[[items.checks]]\nname = "ping"\nkind = "tcp"\nport = 1\n'
    )
    scenario = load_scenario(BAD / "no_config.yaml", config)
    assert scenario.setup.config.items[0].name == "db1"
    assert scenario.end == 60.0
