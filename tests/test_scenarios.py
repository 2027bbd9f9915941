"""The scenario library (tests/scenarios): what pages, when, run through `watchd test-paging`'s
runner, one test per file. tests/scenarios_pending holds scenarios of behaviour that is wrong
today: each must still fail (strict xfail); the fix that makes one pass moves it to the library.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from watchd.cli import main
from watchd.paging.report import judge
from watchd.paging.runner import run_scenario
from watchd.paging.scenario import load_scenario

HERE = Path(__file__).resolve().parent
LIBRARY = sorted((HERE / "scenarios").glob("*.yaml"))
PENDING = sorted((HERE / "scenarios_pending").glob("*.yaml"))
# Under a second each on an idle machine; the others simulate long enough to be integration.
FAST = {
    "batch_resolves_warning_fires_critical",
    "check_warning_then_critical",
    "duplicate_from_two_sources",
    "flapping_link_recovers",
    "flapping_rule",
    "poller_overload",
    "resolve_timeout",
}


# `main` points logging at the test's captured stderr: undone after each test.
pytestmark = pytest.mark.usefixtures("restore_logging")


def _marked(paths: list[Path], *extra: pytest.MarkDecorator) -> list[object]:
    return [
        pytest.param(
            p,
            id=p.stem,
            marks=[*extra] + ([] if p.stem in FAST else [pytest.mark.integration]),
        )
        for p in paths
    ]


@pytest.mark.parametrize("path", _marked(LIBRARY))
def test_library_scenario_pages_as_it_says(path: Path) -> None:
    """The scenario's exact notifications and incident states are what watchd does."""
    scenario = load_scenario(path)
    verdict = judge(scenario, asyncio.run(run_scenario(scenario)))
    assert verdict.ok, verdict.text()


@pytest.mark.parametrize("path", _marked(PENDING, pytest.mark.xfail(strict=True)))
def test_pending_scenario_still_shows_its_bug(path: Path) -> None:
    """A pending scenario fails until its fix lands (then it moves to tests/scenarios)."""
    scenario = load_scenario(path)
    verdict = judge(scenario, asyncio.run(run_scenario(scenario)))
    assert verdict.ok, verdict.text()


@pytest.mark.integration
def test_a_run_is_the_same_every_time() -> None:
    """Two runs of one scenario give the same notifications, times and incident ids."""
    scenario = load_scenario(HERE / "scenarios" / "inhibit_rule.yaml")
    first = asyncio.run(run_scenario(scenario))
    second = asyncio.run(run_scenario(load_scenario(HERE / "scenarios" / "inhibit_rule.yaml")))
    assert first.notifications == second.notifications
    assert first.incidents == second.incidents


def test_the_command_exits_0_when_it_passes_and_1_with_a_diff_when_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd test-paging`: 0 and a PASS line; 1 and the differing lines."""
    good = HERE / "scenarios" / "resolve_timeout.yaml"
    assert main(["test-paging", str(good)]) == 0
    assert f"PASS {good}" in capsys.readouterr().out
    bad = tmp_path / "late.yaml"
    bad.write_text(good.read_text().replace("- 8m oncall", "- 9m oncall"))
    assert main(["test-paging", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "-9m oncall incident 1 resolved" in out
    assert "+8m oncall incident 1 resolved" in out


@pytest.mark.integration
def test_the_readme_example_passes(tmp_path: Path) -> None:
    """The complete example of README.md's "Paging tests" section runs and passes."""
    text = (HERE.parent / "README.md").read_text()
    start = text.index("```yaml", text.index("### Paging tests")) + len("```yaml\n")
    path = tmp_path / "readme.yaml"
    path.write_text(text[start : text.index("```", start)])
    scenario = load_scenario(path)
    verdict = judge(scenario, asyncio.run(run_scenario(scenario)))
    assert verdict.ok, verdict.text()
