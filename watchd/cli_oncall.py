"""`watchd oncall [SCHEDULE] [--at T] [--from T --to T] [--json]` and
`watchd oncall override add|list|delete`.

It reads the config's schedules and the store's overrides directly, so it works whether the
daemon runs or not. Times without an offset are local to the schedule named (the machine's
local time when none is). cli.py calls `add_commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from watchd.cli_config import load_or_report
from watchd.cli_store import opened_store
from watchd.clock import SystemClock
from watchd.config import Config
from watchd.people.config import PeopleConfig, ScheduleConfig
from watchd.people.overrides import (
    OverrideError,
    active_overrides,
    add_override,
    check_override,
    delete_override,
    list_overrides,
    override_dict,
)
from watchd.people.view import (
    DEFAULT_RANGE,
    override_window,
    range_problem,
    render_text,
    schedule_view,
)
from watchd.store import StoreError
from watchd.timestamps import format_time

Command = Callable[[str, str], argparse.ArgumentParser]


class UsageError(Exception):
    """The command line asks for something that cannot be answered (exit 2)."""


def add_commands(sub: Any, command: Command) -> None:
    """Register `oncall` on the `watchd` parser (`command` adds -c/--config)."""
    del sub  # built through `command`, which adds the shared --config
    cmd = command(
        "oncall",
        "Who is on call now or at a time, and the shifts ahead; `oncall override add|list|"
        "delete` swaps shifts.",
    )
    cmd.add_argument(
        "words",
        nargs="*",
        metavar="SCHEDULE | override {add,list,delete} ...",
        help="a schedule (default: all); or: override add SCHEDULE, override list [SCHEDULE], "
        "override delete SCHEDULE ID",
    )
    cmd.add_argument("--at", help="who is on call at this ISO time (default: now)")
    cmd.add_argument("--from", dest="start", help="shifts from this ISO time (default: --at)")
    cmd.add_argument("--to", dest="end", help="shifts until this ISO time (default: 7 days on)")
    cmd.add_argument("--user", help="override add: who takes the shift")
    cmd.add_argument("--reason", default="", help="override add: why (recorded)")
    cmd.add_argument("--by", default=getpass.getuser(), help="override add: author (%(default)s)")
    cmd.add_argument("--all", action="store_true", help="override list: past ones too")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=_oncall)


def _oncall(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    try:
        if args.words[:1] == ["override"]:
            return asyncio.run(_override(config, args))
        return asyncio.run(_show(config, args))
    except (UsageError, OverrideError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return 1


def _schedule(people: PeopleConfig, name: str) -> ScheduleConfig:
    found = people.schedule(name)
    if found is None:
        known = ", ".join(s.name for s in people.schedules) or "none configured"
        raise UsageError(f"there is no schedule {name!r} (schedules: {known})")
    return found


def _time(text: str | None, zone: ZoneInfo | None, default: float, flag: str) -> float:
    """An ISO time from the command line; without an offset, local to `zone`."""
    if text is None or text == "now":
        return default
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(
            f"{flag}: expected an ISO time like 2026-12-01T09:00, got {text!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone) if zone is not None else moment.astimezone()
    return moment.timestamp()


async def _show(config: Config, args: argparse.Namespace) -> int:
    people = config.people()
    if len(args.words) > 1:
        raise UsageError("give at most one schedule")
    chosen = [_schedule(people, args.words[0])] if args.words else people.schedules
    zone = ZoneInfo(chosen[0].timezone) if args.words else None
    now = SystemClock().now()
    at = _time(args.at, zone, now, "--at")
    start = _time(args.start, zone, at, "--from")
    end = _time(args.end, zone, start + DEFAULT_RANGE, "--to")
    if (problem := range_problem(at, start, end)) is not None:
        raise UsageError(f"--{problem[0]}: {problem[1]}")
    async with (
        opened_store(config.store_url(), SystemClock()) as store,
        store.engine.connect() as conn,
    ):
        overrides = await active_overrides(conn, None, *override_window(at, start, end))
    views = [
        schedule_view(people, s, at=at, start=start, end=end, overrides=overrides) for s in chosen
    ]
    if args.json:
        # The API's shapes: GET /api/v1/oncall/{schedule}, GET /api/v1/oncall.
        print(json.dumps(views[0] if args.words else {"schedules": views}, indent=2))
    elif not views:
        print("no schedules configured")
    else:
        sys.stdout.write(render_text(views))
    return 0


async def _override(config: Config, args: argparse.Namespace) -> int:
    action, rest = (args.words[1], args.words[2:]) if len(args.words) > 1 else ("", [])
    people = config.people()
    if action == "add":
        if len(rest) != 1 or not args.user or not args.start or not args.end:
            raise UsageError(
                'usage: watchd oncall override add SCHEDULE --user U --from T --to T --reason "..."'
            )
        schedule = _schedule(people, rest[0])
        zone = ZoneInfo(schedule.timezone)
        now = SystemClock().now()
        start = _time(args.start, zone, now, "--from")
        end = _time(args.end, zone, now, "--to")
        fields = {"schedule": schedule.name, "user": args.user, "start": start, "end": end}
        check_override(people, **fields, author=args.by, reason=args.reason)
        async with (
            opened_store(config.store_url(), SystemClock()) as store,
            store.engine.begin() as conn,
        ):
            added = await add_override(conn, **fields, author=args.by, reason=args.reason, now=now)
        if args.json:
            print(json.dumps(override_dict(added), indent=2))
        else:
            print(
                f"override {added.id} added: {added.user} on call in {added.schedule} "
                f"from {_when(added.start)} to {_when(added.end)}"
            )
        return 0
    if action == "delete":
        if len(rest) != 2 or not rest[1].isdigit():
            raise UsageError("usage: watchd oncall override delete SCHEDULE ID")
        schedule = _schedule(people, rest[0])
        async with (
            opened_store(config.store_url(), SystemClock()) as store,
            store.engine.begin() as conn,
        ):
            deleted = await delete_override(conn, schedule.name, int(rest[1]))
        if deleted is None:
            print(f"error: schedule {schedule.name} has no override {rest[1]}", file=sys.stderr)
            return 1
        print(
            json.dumps(override_dict(deleted), indent=2)
            if args.json
            else f"override {deleted.id} deleted"
        )
        return 0
    if action == "list":
        if len(rest) > 1:
            raise UsageError("usage: watchd oncall override list [SCHEDULE] [--all]")
        name = _schedule(people, rest[0]).name if rest else None
        since = None if args.all else SystemClock().now()
        async with (
            opened_store(config.store_url(), SystemClock()) as store,
            store.engine.connect() as conn,
        ):
            found = (await list_overrides(conn, name, since=since)).items
        if args.json:
            print(json.dumps([override_dict(o) for o in found], indent=2))
            return 0
        if not found:
            print("no overrides")
        for o in found:
            print(
                f"{o.id:>5}  {o.schedule}  {o.user}  {_when(o.start)} .. {_when(o.end)}  "
                f"by {o.author}: {o.reason}"
            )
        return 0
    raise UsageError("expected `oncall override add`, `list` or `delete`")


def _when(at: float) -> str:
    return format_time(at, "%Y-%m-%d %H:%MZ")
