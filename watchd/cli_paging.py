"""`watchd test-paging`: run paging scenarios (README.md, "Paging tests") and compare what
pages with what the scenario expects.

Exit 0 when every scenario passed, 1 when one differs (a diff says how), 2 when a file could
not be run (each problem as FILE:LINE: what, what was expected). cli.py calls `add_commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from watchd.cli_completion import file_names
from watchd.logging import configure_logging
from watchd.paging.report import judge, outcome_json
from watchd.paging.runner import run_scenario
from watchd.paging.scenario import load_scenario
from watchd.paging.where import ScenarioError


def add_commands(sub: Any) -> None:
    """Register `test-paging` on the `watchd` parser."""
    cmd = sub.add_parser(
        "test-paging",
        help="Run paging scenarios (YAML timelines) and compare the notifications.",
        description=(
            "Run each scenario through the real pipeline, incidents, router and dispatcher on "
            "a fake clock; exit 1 with a diff when what pages differs from what it expects, "
            "2 when a file has problems."
        ),
    )
    file_names(
        cmd.add_argument(
            "files", nargs="+", type=Path, help="scenario files, e.g. scenarios/*.yaml"
        )
    )
    file_names(
        cmd.add_argument(
            "-c",
            "--config",
            type=Path,
            default=argparse.SUPPRESS,
            help="config file for the scenarios that have no inline config (default: $WATCHD_CONFIG)",
        )
    )
    cmd.add_argument("--json", action="store_true", help="print what each run produced as JSON")
    cmd.set_defaults(func=_test_paging, config_fallback=None)


def _test_paging(args: argparse.Namespace) -> int:
    # The components under test log their transitions; the report is what matters here.
    configure_logging("error", stream=sys.stderr)
    broken = failed = passed = 0
    runs: list[dict[str, Any]] = []
    for path in args.files:
        try:
            scenario = load_scenario(path, args.config)
        except ScenarioError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            broken += 1
            continue
        try:
            outcome = asyncio.run(run_scenario(scenario))
        except Exception as exc:  # a fault of watchd itself: say which scenario met it
            print(f"ERROR {path}: the run stopped: {exc!r}", file=sys.stderr)
            failed += 1
            continue
        verdict = judge(scenario, outcome)
        if args.json:
            runs.append({**outcome_json(scenario, outcome), "ok": verdict.ok})
        else:
            print(verdict.text())
        passed += verdict.ok
        failed += not verdict.ok
    if args.json:
        print(json.dumps(runs, indent=2))
    else:
        print(
            f"{passed}/{passed + failed + broken} scenarios passed"
            + (f", {broken} could not be run" if broken else "")
        )
    return 2 if broken else 1 if failed else 0
