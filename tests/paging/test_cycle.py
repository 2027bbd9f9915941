"""A results step with `cycle` makes a check return its results in turn, one per run, round and
round: how a scenario writes a flapping link (watchd.paging)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from watchd.model import CheckResult, Status
from watchd.paging.fakes import Script
from watchd.paging.runner import run_scenario
from watchd.paging.scenario import SetResults, load_scenario

SCENARIO = """\
config:
  check_defaults: {interval: 1m, max_attempts: 1}
  items: [{name: db1, checks: [{name: link, kind: tcp, port: 22}]}]
  receivers: [{name: oncall}]
steps:
  - at: 1m
    results: {db1/link: {cycle: [CRITICAL, {status: CRITICAL, message: no carrier}, OK]}}
  - advance: 5m
expect: {notifications: []}
"""


def test_a_cycle_is_loaded_as_the_results_of_successive_runs(tmp_path: Path) -> None:
    """Each entry of the cycle is one run's result, with its own message."""
    path = tmp_path / "cycle.yaml"
    path.write_text(SCENARIO)
    (step,) = load_scenario(path).steps
    assert isinstance(step.action, SetResults)
    runs = step.action.results[("db1", "link")]
    assert [(r.status, r.message) for r in runs] == [
        (Status.CRITICAL, "CRITICAL (scenario)"),
        (Status.CRITICAL, "no carrier"),
        (Status.OK, "OK (scenario)"),
    ]


def test_each_run_takes_the_next_result_and_a_new_step_starts_again() -> None:
    """The script hands out the cycle in order, round and round, and from its first entry
    again when a step sets new results."""
    script = Script()
    key = ("db1", "link")
    crit, ok = CheckResult(Status.CRITICAL, "down"), CheckResult(Status.OK, "up")
    assert script.result(key).status is Status.OK
    script.set(key, [crit, ok])
    assert [script.result(key) for _ in range(5)] == [crit, ok, crit, ok, crit]
    script.set(key, [ok, crit])
    assert [script.result(key) for _ in range(2)] == [ok, crit]


def test_a_check_cycling_pages_every_change_of_its_runs(tmp_path: Path) -> None:
    """CRITICAL, CRITICAL, OK from 1m, a run a minute: down at 1m and 4m, up at 3m and 6m."""
    path = tmp_path / "cycle.yaml"
    path.write_text(SCENARIO)
    outcome = asyncio.run(run_scenario(load_scenario(path)))
    assert [(n.at, n.event) for n in outcome.notifications] == [
        (60, "opened"),
        (180, "resolved"),
        (240, "reopened"),
        (360, "resolved"),
    ]
