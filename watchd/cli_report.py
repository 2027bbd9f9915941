"""`watchd report`: availability, SLA, MTBF/MTTR/MTTA and maintenance candidates for a period.

It reads the store directly with the daemon's config, so it works whether the daemon runs or
not. cli.py calls `add_commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchd.cli_completion import file_names
from watchd.cli_config import load_or_report
from watchd.cli_store import opened_store
from watchd.clock import SystemClock
from watchd.i18n import LOCALES
from watchd.loading import report_catalog
from watchd.report.build import build_report
from watchd.report.catalog import Catalog
from watchd.report.charts import ChartsUnavailable
from watchd.report.period import Period, PeriodError
from watchd.report.render import FORMATS, render
from watchd.store import StoreError

Command = Callable[[str, str], argparse.ArgumentParser]


def add_commands(sub: Any, command: Command) -> None:
    """Register `report` on the `watchd` parser (`command` adds -c/--config)."""
    del sub  # built through `command`, which adds the shared --config
    cmd = command(
        "report", "Availability report for a month or a span ([daemon] timezone, default UTC)."
    )
    cmd.add_argument("--period", help="a month, YYYY-MM (default: this month)")
    cmd.add_argument(
        "--from", dest="start", help="start, ISO date or time, local unless it has an offset"
    )
    cmd.add_argument("--to", dest="end", help="end (exclusive), ISO date or time")
    cmd.add_argument("--service", help="only this service from [[services]]")
    cmd.add_argument("--format", choices=FORMATS, default="text", help="default: %(default)s")
    cmd.add_argument(
        "--locale",
        choices=LOCALES,
        help="the language of text and HTML (default: [daemon] locale)",
    )
    file_names(cmd.add_argument("--output", type=Path, help="write to this file instead of stdout"))
    cmd.set_defaults(func=_report)


def _period(args: argparse.Namespace, now: float, zone: str) -> Period:
    if args.period and (args.start or args.end):
        raise PeriodError(args.period, "give either --period or --from/--to, not both")
    if args.start or args.end:
        if not (args.start and args.end):
            raise PeriodError(args.start or args.end, "--from and --to go together")
        return Period.between(args.start, args.end, zone)
    return Period.month(args.period, zone) if args.period else Period.this_month(now, zone)


def _report(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    clock = SystemClock()
    try:
        period = _period(args, clock.now(), config.daemon.timezone).bounded(
            config.report.max_period
        )
    except PeriodError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.service and not any(s.name == args.service for s in config.services):
        known = ", ".join(s.name for s in config.services) or "none configured"
        print(f"There is no service {args.service!r} (services: {known}).", file=sys.stderr)
        return 2
    try:
        text = asyncio.run(_build(config.store_url(), report_catalog(config), period, args))
    except (StoreError, ChartsUnavailable) as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output} ({len(text)} bytes)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def _build(url: str, catalog: Catalog, period: Period, args: argparse.Namespace) -> str:
    clock = SystemClock()
    async with opened_store(url, clock) as store:
        report = await build_report(
            store.engine, catalog, period, now=clock.now(), service=args.service
        )
    return render(report, args.format, args.locale or catalog.locale)
