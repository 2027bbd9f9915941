"""The `watchd` command: run, check-config, test-rules, test-paging, probe, cluster status,
db upgrade, completion.

Human output by default; `--json` where a script would parse it (DESIGN.md §5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from watchd.api.openapi import package_version
from watchd.cli_cluster import add_commands as add_cluster_commands
from watchd.cli_completion import add_command as add_completion_command
from watchd.cli_completion import file_names
from watchd.cli_config import load_or_report
from watchd.cli_incidents import add_commands as add_incident_commands
from watchd.cli_notify import add_commands as add_notify_commands
from watchd.cli_oncall import add_commands as add_oncall_commands
from watchd.cli_paging import add_commands as add_paging_commands
from watchd.cli_report import add_commands as add_report_commands
from watchd.cli_reviews import add_commands as add_review_commands
from watchd.cli_user import add_commands as add_user_commands
from watchd.config import Config
from watchd.configbase import ConfigError
from watchd.eventloop import (
    CHOICES,
    EventLoopUnavailable,
    default_loop_description,
    loop_factory,
)
from watchd.extras import install_hint
from watchd.logging import configure_logging

DEFAULT_CONFIG = Path("config.toml")
CONFIG_ENV = "WATCHD_CONFIG"
_CONFIG_HELP = f"config file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    # test-paging has no default file: its scenarios usually carry their own config.
    fallback = getattr(args, "config_fallback", DEFAULT_CONFIG)
    args.config = config_path(args.config, os.environ, fallback)
    # Commands print their results on stdout; what the code they call logs goes to stderr, at
    # warning and above, so `--json` output stays parseable. `run` sets up its own logging.
    configure_logging("warning", stream=sys.stderr)
    code: int = args.func(args)
    return code


def config_path(
    given: Path | None, environ: Mapping[str, str], fallback: Path | None = DEFAULT_CONFIG
) -> Path | None:
    """The config file a command reads: `-c` wherever it was given, else $WATCHD_CONFIG (so a
    shell or unit sets it once), else `fallback` (./config.toml)."""
    if given is not None:
        return given
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return fallback


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchd", description="Monitoring and alert-ingestion daemon."
    )
    parser.add_argument(
        "-V",
        "--version",
        action="version",
        version=_version_text(),
        help="print watchd's version, its Python and the event loop `run` uses, and exit",
    )
    # `-c` is accepted before the command (`watchd -c F incidents`) and after it (`watchd
    # incidents -c F`). The command's copy defaults to SUPPRESS so that, when absent, it does not
    # overwrite a value given before the command; main() then falls back to $WATCHD_CONFIG.
    file_names(parser.add_argument("-c", "--config", type=Path, default=None, help=_CONFIG_HELP))
    sub = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        file_names(
            cmd.add_argument(
                "-c", "--config", type=Path, default=argparse.SUPPRESS, help=_CONFIG_HELP
            )
        )
        return cmd

    run = command("run", "Run the daemon in the foreground.")
    run.add_argument(
        "--event-loop",
        choices=CHOICES,
        default="auto",
        help=f"auto (default): uvloop when installed ({install_hint('uvloop')}), else "
        "asyncio's own loop",
    )
    run.set_defaults(func=_run)

    check = command("check-config", "Validate the config file; print every problem; exit 1 on any.")
    check.add_argument("--json", action="store_true", help="print problems as JSON")
    check.set_defaults(func=_check_config)

    test_rules = sub.add_parser(
        "test-rules",
        help="Run rule unit tests (YAML: input series -> expected alerts).",
        description="Run rule unit tests written in YAML; exit 1 with a diff on any failure.",
    )
    file_names(
        test_rules.add_argument(
            "files", nargs="+", type=Path, help="rule test files, e.g. rules/tests/*.test.yaml"
        )
    )
    test_rules.add_argument("--json", action="store_true", help="print every case as JSON")
    test_rules.set_defaults(func=_test_rules)
    add_paging_commands(sub)

    probe = command("probe", "Run an item's checks once now and print the results.")
    probe.add_argument("item", help="item name from the config")
    probe.add_argument("--check", help="run only this check of the item")
    probe.add_argument("--json", action="store_true", help="print results as JSON")
    probe.set_defaults(func=_probe)

    add_incident_commands(sub, command)
    add_review_commands(command)
    add_notify_commands(sub, command)
    add_report_commands(sub, command)
    add_oncall_commands(sub, command)
    add_cluster_commands(sub, command)
    add_user_commands(sub)

    db = command("db", "Database maintenance.")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply schema migrations")
    db.set_defaults(func=_db)
    add_completion_command(sub, _parser)
    return parser


def _version_text() -> str:
    """`watchd 0.1.0 (Python 3.12.3, event loop uvloop 0.21.0)`: what a bug report needs."""
    return (
        f"watchd {package_version()} "
        f"(Python {platform.python_version()}, event loop {default_loop_description()})"
    )


def _run(args: argparse.Namespace) -> int:
    from watchd.app import Daemon

    try:
        factory = loop_factory(args.event_loop)
    except EventLoopUnavailable as exc:
        print(f"watchd: {exc}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(Daemon(args.config).run())


def _check_config(args: argparse.Namespace) -> int:
    from watchd.loading import load_setup

    problems: list[str] = []
    warnings: list[str] = []
    try:
        setup = load_setup(args.config)
    except ConfigError as exc:
        problems = exc.lines()
    else:
        warnings = setup.warnings
        asyncio.run(setup.close_collectors())
    if args.json:
        report = {
            "file": str(args.config),
            "ok": not problems,
            "problems": problems,
            "warnings": warnings,
        }
        print(json.dumps(report, indent=2))
        return 1 if problems else 0
    for line in [*problems, *warnings]:
        print(line, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    config = setup.config
    checks = sum(1 for _ in config.checks())
    print(
        f"{args.config}: OK ({len(config.items)} items, {checks} checks, "
        f"{len(setup.rules.rules)} rules)"
    )
    return 0


def _test_rules(args: argparse.Namespace) -> int:
    from watchd.rules.testing import run_rule_tests

    report = run_rule_tests(args.files)
    print(json.dumps(report.as_json(), indent=2) if args.json else report.text)
    return 0 if report.ok else 1


def _probe(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    checks = [c for c in config.checks() if c.item == args.item and args.check in (None, c.name)]
    if not checks:
        known = ", ".join(sorted({c.item for c in config.checks()})) or "none"
        print(
            f"no enabled check matches item {args.item!r} (items with checks: {known})",
            file=sys.stderr,
        )
        return 1
    results = asyncio.run(_probe_checks(config, checks))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(
                f"{r['item']}/{r['check']} [{r['kind']}] {r['status']} in {r['duration_ms']} ms: {r['message']}"
            )
            for s in r["samples"]:
                labels = ",".join(f"{k}={v}" for k, v in s["labels"].items())
                print(f"    {s['metric']}{{{labels}}} {s['value']:g}")
    return 0 if all(r["status"] == "OK" for r in results) else 1


async def _probe_checks(config: Config, checks: list) -> list[dict]:  # type: ignore[type-arg]
    from collectors import REGISTRY
    from watchd.clock import SystemClock
    from watchd.model import check_labels
    from watchd.scheduler import Scheduler

    async def no_handler(*_: object) -> bool:
        return False

    scheduler = Scheduler(clock=SystemClock(), handler=no_handler, max_concurrent=len(checks))
    results = []
    for check in checks:
        collector = REGISTRY[check.kind](check.settings)
        try:
            result, run = await scheduler.run_now(check, collector)
        finally:
            await collector.aclose()
        # Samples made in their context (CheckResult.in_context) show their own labels only,
        # as every other collector's do.
        context = check_labels(check.item, check.name, check.labels) if result.in_context else {}
        results.append(
            {
                "item": check.item,
                "check": check.name,
                "kind": check.kind,
                "status": result.status.name,
                "message": result.message,
                "duration_ms": round(run.duration * 1000, 1),
                "samples": [
                    {
                        "metric": s.metric,
                        "labels": {k: v for k, v in s.labels.items() if context.get(k) != v},
                        "value": s.value,
                    }
                    for s in result.samples
                ],
            }
        )
    return results


def _db(args: argparse.Namespace) -> int:
    from watchd.store import upgrade

    config = load_or_report(args.config)
    if config is None:
        return 1
    asyncio.run(upgrade(config.store_url()))
    print(f"database schema is up to date ({config.store_url().split('://')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
