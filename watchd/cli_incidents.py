"""`watchd incidents | incident | ack | resolve | comment | silence | change | problems |
problem close`.

These talk to the store directly with the same config as the daemon, so they work whether it
runs or not (SQLite in WAL mode lets both share the file). cli.py calls `add_commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from watchd.api.inputs import MAX_ID, id_number
from watchd.cli_store import opened_store, parse_local_time
from watchd.clock import SystemClock
from watchd.config import load_config
from watchd.configbase import ConfigError
from watchd.durations import parse_duration
from watchd.incidents.changes import ChangeError
from watchd.incidents.ledger import IncidentNotFound
from watchd.incidents.lifecycle import TransitionError
from watchd.incidents.model import State
from watchd.incidents.problems import ProblemNotFound
from watchd.loading import incident_settings
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.silences import SilenceError
from watchd.store import StoreError
from watchd.timestamps import format_time

Command = Callable[[str, str], argparse.ArgumentParser]


INCIDENT_STATES = tuple(state.value for state in State)
PROBLEM_STATES = ("open", "closed")


def add_commands(sub: Any, command: Command) -> None:
    """Register the incident commands on the `watchd` parser (`command` adds -c/--config)."""
    del sub  # every command is built through `command`, which adds the shared --config
    cmd = command("incidents", "List incidents (newest first).")
    cmd.add_argument(
        "--state",
        type=_known("state", INCIDENT_STATES),
        help=f"only these states, comma-separated ({','.join(INCIDENT_STATES)})",
    )
    cmd.add_argument("--severity", help="only these severities, comma-separated")
    cmd.add_argument("--item", help="only incidents of this item")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=_run(_incidents))

    cmd = command("incident", "Show one incident with its alerts and timeline.")
    cmd.add_argument("id", type=stored_id)
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=_run(_incident))

    for name, help_text in (
        ("ack", "Acknowledge an incident (stops escalation)."),
        ("unack", "Take back an acknowledgement."),
        ("resolve", "Resolve an incident by hand."),
        ("close", "Close an incident (final)."),
    ):
        cmd = command(name, help_text)
        cmd.add_argument("id", type=stored_id)
        cmd.add_argument("--by", default=getpass.getuser(), help="who (default: %(default)s)")
        cmd.add_argument("--comment", default="", help="a comment for the timeline")
        cmd.add_argument("--json", action="store_true", help="print the incident as JSON")
        cmd.set_defaults(func=_run(_action), action=name)

    cmd = command("comment", "Add a comment to an incident's timeline.")
    cmd.add_argument("id", type=stored_id)
    cmd.add_argument("text")
    cmd.add_argument("--by", default=getpass.getuser(), help="who (default: %(default)s)")
    cmd.add_argument("--json", action="store_true", help="print the incident as JSON")
    cmd.set_defaults(func=_run(_comment))

    cmd = command("silence", "Silences: add, list, expire.")
    cmd.add_argument("action", choices=["add", "list", "expire"])
    cmd.add_argument("args", nargs="*", help='add: matchers (item="db1" ...); expire: silence id')
    cmd.add_argument("--duration", default="1h", help="add: how long (default: %(default)s)")
    cmd.add_argument("--by", default=getpass.getuser(), help="add: author (default: %(default)s)")
    cmd.add_argument("--comment", default="", help="add: why")
    cmd.add_argument("--all", action="store_true", help="list: expired ones too")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=_run(_silence))

    cmd = command(
        "change", "Changes: add planned work on an item (mutes it and its children), or end one."
    )
    cmd.add_argument("action", choices=["add", "end"])
    cmd.add_argument("args", nargs="+", help="add: ITEM SUMMARY; end: change id")
    cmd.add_argument("--start", help="ISO time (default: now)")
    cmd.add_argument("--end", help="ISO time; or --duration")
    cmd.add_argument("--duration", default="1h", help="when --end is absent (default: %(default)s)")
    cmd.add_argument("--ticket", default="", help="ticket reference")
    cmd.add_argument("--by", default=getpass.getuser(), help="who (default: %(default)s)")
    cmd.add_argument("--json", action="store_true", help="print the change as JSON")
    cmd.set_defaults(func=_run(_change))

    cmd = command("problems", "List problems (recurring incidents).")
    cmd.add_argument("--state", type=_known("state", PROBLEM_STATES), help="open or closed")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=_run(_problems))

    cmd = command("problem", "Problems: close one (its incidents stop counting towards a new one).")
    cmd.add_argument("action", choices=["close"])
    cmd.add_argument("id", type=stored_id)
    cmd.add_argument("--by", default=getpass.getuser(), help="who (default: %(default)s)")
    cmd.add_argument("--comment", default="", help="what was done about it")
    cmd.add_argument("--json", action="store_true", help="print the problem as JSON")
    cmd.set_defaults(func=_run(_problem))


def _known(what: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type for a comma-separated filter of known values: a typo exits 2 naming the
    valid values, instead of listing nothing as if nothing matched."""

    def parse(text: str) -> str:
        unknown = [value for value in text.split(",") if value not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, unknown))} (expected {', '.join(allowed)})"
            )
        return text

    return parse


def stored_id(text: str) -> int:
    """An incident or problem id from the command line: a number a database id can be."""
    number = id_number(text)
    if number is None or number > MAX_ID:
        raise argparse.ArgumentTypeError(f"expected an id (a whole number), got {text!r}")
    return number


def _not_text(args: argparse.Namespace) -> str | None:
    """The first argument that is not text (bytes that are not UTF-8 reach Python as lone
    surrogates, which no store or page can hold), as an error line; None when all are."""
    for name, value in sorted(vars(args).items()):
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str):
                try:
                    one.encode("utf-8")
                except UnicodeEncodeError:
                    shown = one.encode("utf-8", "backslashreplace").decode()
                    return f"error: {name} {shown!r} is not UTF-8 text"
    return None


Handler = Callable[[IncidentService, argparse.Namespace], Awaitable[int]]


def _run(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if (problem := _not_text(args)) is not None:
            print(problem)
            return 2
        try:
            config = load_config(Path(args.config))
        except ConfigError as exc:
            print(exc)
            return 1
        return asyncio.run(_with_service(config.store_url(), config, handler, args))

    return run


async def _with_service(url: str, config: Any, handler: Handler, args: argparse.Namespace) -> int:
    clock = SystemClock()
    settings = incident_settings(config)
    try:
        async with opened_store(url, clock) as store:
            service = IncidentService(store.engine, clock=clock, settings=lambda: settings)
            return await handler(service, args)
    except (  # ProblemClosed is a ValueError, so is a time that is not one
        IncidentNotFound,
        ProblemNotFound,
        TransitionError,
        SilenceError,
        ChangeError,
        ValueError,
        StoreError,
    ) as exc:
        print(f"error: {exc}")
        return 1


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_time(seconds, "%Y-%m-%d %H:%M:%SZ")


async def _incidents(service: IncidentService, args: argparse.Namespace) -> int:
    listed = await service.incidents_page(state=args.state, severity=args.severity, item=args.item)
    found = listed.items
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no incidents")
    for i in found:
        print(
            f"{i['id']:>6}  {i['state']:<12} {i['severity']:<9} {_when(i['opened_at'])}  "
            f"{i['title']}"
        )
    if listed.total > len(found):
        print(f"(the newest {len(found):,} of {listed.total:,}; narrow with --state or --item)")
    return 0


async def _incident(service: IncidentService, args: argparse.Namespace) -> int:
    found = await service.get_incident(args.id)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(f"incident {found['id']}: {found['title']}")
    print(f"  state {found['state']}, severity {found['severity']}, key {found['key']}")
    for what in ("acknowledged", "resolved", "closed"):
        if found[f"{what}_at"] is not None:
            print(f"  {what} {_when(found[f'{what}_at'])} by {found[f'{what}_by']}")
    print("  alerts:")
    for a in found["alerts"]:
        muted = f" (muted: {a['muted']})" if a["muted"] else ""
        labels = ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        print(f"    {a['status']:<8} {a['role']:<8} {{{labels}}}{muted}")
    print("  timeline:")
    for e in found["timeline"]:
        detail = json.dumps(e["detail"], sort_keys=True) if e["detail"] else ""
        print(f"    {e['seq']:>3} {_when(e['time'])} {e['kind']:<26} {e['actor']:<10} {detail}")
    return 0


async def _action(service: IncidentService, args: argparse.Namespace) -> int:
    method = {
        "ack": service.acknowledge,
        "unack": service.unacknowledge,
        "resolve": service.resolve,
        "close": service.close,
    }[args.action]
    result = await method(args.id, args.by, args.comment)
    print(_json(result) if args.json else f"incident {result['id']} is {result['state']}")
    return 0


async def _comment(service: IncidentService, args: argparse.Namespace) -> int:
    result = await service.comment(args.id, args.by, args.text)
    print(_json(result) if args.json else f"comment added to incident {args.id}")
    return 0


def _json(value: Any) -> str:
    return json.dumps(value, indent=2)


async def _silence(service: IncidentService, args: argparse.Namespace) -> int:
    if args.action == "add":
        silence = await service.add_silence(
            matchers=list(args.args),
            ends_at=service.now() + parse_duration(args.duration),
            created_by=args.by,
            comment=args.comment,
        )
        print(json.dumps(silence) if args.json else f"silence {silence['id']} added")
        return 0
    if args.action == "expire":
        if len(args.args) != 1:
            print("error: `watchd silence expire` takes one silence id")
            return 2
        if not await service.expire_silence(args.args[0]):
            print(f"error: there is no running or pending silence {args.args[0]}")
            return 1
        expired = {"id": args.args[0], "expired": True}
        print(_json(expired) if args.json else f"silence {args.args[0]} expired")
        return 0
    found = await service.silences(include_expired=args.all)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no silences")
    for s in found:
        print(
            f"{s['id']}  {s['state']:<8} until {_when(s['ends_at'])}  {s['created_by']}: "
            f"{' '.join(s['matchers'])}  {s['comment']}"
        )
    return 0


async def _change(service: IncidentService, args: argparse.Namespace) -> int:
    if args.action == "end":
        if len(args.args) != 1:
            print("error: `watchd change end` takes one change id")
            return 2
        try:
            change_id = stored_id(args.args[0])
        except argparse.ArgumentTypeError as exc:
            print(f"error: {exc}")
            return 2
        if not await service.end_change(change_id):
            print(f"error: there is no running or pending change {args.args[0]}")
            return 1
        print(_json({"id": change_id, "ended": True}) if args.json else f"change {change_id} ended")
        return 0
    if len(args.args) != 2:
        print("error: `watchd change add` takes an item and a summary")
        return 2
    args.item, args.summary = args.args
    starts = parse_local_time(args.start) if args.start else service.now()
    ends = parse_local_time(args.end) if args.end else starts + parse_duration(args.duration)
    change = await service.add_change(
        item=args.item,
        summary=args.summary,
        starts_at=starts,
        ends_at=ends,
        ticket=args.ticket,
        created_by=args.by,
    )
    if args.json:
        print(_json(change))
    else:
        print(f"change {change['id']} on {change['item']} until {_when(change['ends_at'])}")
    return 0


async def _problems(service: IncidentService, args: argparse.Namespace) -> int:
    found = await service.problems(state=args.state)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no problems")
    for p in found:
        print(f"{p['id']:>5}  {p['state']:<7} {len(p['incidents'])} incidents  {p['title']}")
    return 0


async def _problem(service: IncidentService, args: argparse.Namespace) -> int:
    problem = await service.close_problem(args.id, args.by, args.comment)
    print(
        _json(problem) if args.json else f"problem {problem['id']} closed by {problem['closed_by']}"
    )
    return 0
