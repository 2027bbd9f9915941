"""`watchd review show | edit | action`: post-incident reviews from the command line.

    watchd review show 3                  (or --incident 12, --problem 4)
    watchd review edit --incident 12 --impact "orders failed for 4 minutes" --cause "..."
    watchd review action 3 add --kind corrective --text "..." --owner bob --due 2026-12-15
    watchd review action 3 done 7         (--undo takes it back)

`edit` with --incident or --problem starts the review when there is none (its timeline filled
in from the incident's). Like the incident commands, these talk to the store directly.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from pathlib import Path
from typing import Any

from watchd.cli_incidents import stored_id
from watchd.cli_store import opened_store, parse_local_time
from watchd.clock import SystemClock
from watchd.config import load_config
from watchd.configbase import ConfigError
from watchd.incidents.reviews import (
    ActionInput,
    ReviewExists,
    ReviewInvalid,
    ReviewNotFound,
    Target,
)
from watchd.pipeline.reviews import ReviewService
from watchd.store import StoreError
from watchd.timestamps import format_time


def add_commands(command: Any) -> None:
    """Register `watchd review` (`command` adds -c/--config)."""
    cmd = command("review", "Post-incident reviews: show, edit (or start), add and finish actions.")
    cmd.add_argument("action", choices=["show", "edit", "action"])
    cmd.add_argument(
        "args", nargs="*", help="show/edit: REVIEW; action: REVIEW add | REVIEW done ACTION"
    )
    cmd.add_argument("--incident", type=stored_id, help="show/edit: the review of this incident")
    cmd.add_argument("--problem", type=stored_id, help="show/edit: the review of this problem")
    cmd.add_argument("--title", help="edit: the title")
    cmd.add_argument("--impact", help="edit: what it did to users and the business")
    cmd.add_argument("--cause", help="edit: the root cause")
    cmd.add_argument("--kind", choices=["corrective", "preventive"], help="action add")
    cmd.add_argument("--text", help="action add: what is to be done")
    cmd.add_argument("--owner", help="action add: who does it")
    cmd.add_argument("--due", help="action add: ISO date or time (local time without a zone)")
    cmd.add_argument("--undo", action="store_true", help="action done: mark it not done again")
    cmd.add_argument("--by", default=getpass.getuser(), help="who (default: %(default)s)")
    cmd.add_argument("--json", action="store_true", help="print the review as JSON")
    cmd.set_defaults(func=_run)


class _Usage(Exception):
    """The command line does not say what to do; the message says how to say it."""


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        print(exc)
        return 1
    return asyncio.run(_with_service(config.store_url(), args))


async def _with_service(url: str, args: argparse.Namespace) -> int:
    clock = SystemClock()
    try:
        async with opened_store(url, clock) as store:
            review = await _act(ReviewService(store.engine, clock=clock), args)
    except _Usage as exc:
        print(f"error: {exc}")
        return 2
    except (ReviewNotFound, ReviewExists, ReviewInvalid, StoreError) as exc:
        print(f"error: {exc}")
        return 1
    print(json.dumps(review, indent=2) if args.json else _text(review))
    return 0


async def _act(service: ReviewService, args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "show":
        return await _find(service, args)
    if args.action == "edit":
        changes = {
            key: getattr(args, key)
            for key in ("title", "impact", "cause")
            if getattr(args, key) is not None
        }
        target = _target(args)
        if target is not None:
            try:
                review = await service.of(target)
            except ReviewNotFound:
                review = await service.start(target, by=args.by)
        else:
            review = await service.get(_review_id(args.args, "edit"))
        if not changes:
            return review
        return await service.edit(review["id"], changes, by=args.by)
    return await _action(service, args)


async def _action(service: ReviewService, args: argparse.Namespace) -> dict[str, Any]:
    words = list(args.args)
    if len(words) < 2 or words[1] not in ("add", "done"):
        raise _Usage("`watchd review action` takes REVIEW add ... or REVIEW done ACTION")
    review_id = _number(words[0], "review")
    if words[1] == "add":
        missing = [f"--{k}" for k in ("kind", "text", "owner", "due") if getattr(args, k) is None]
        if missing or len(words) != 2:
            raise _Usage(
                f"`watchd review action REVIEW add` needs {', '.join(missing) or 'no more words'}"
            )
        action = ActionInput(args.kind, args.text, args.owner, _due(args.due))
        return await service.add_action(review_id, action, by=args.by)
    if len(words) != 3:
        raise _Usage("`watchd review action REVIEW done` takes the action's id")
    changes = {"done": not args.undo}
    return await service.edit_action(review_id, _number(words[2], "action"), changes, by=args.by)


async def _find(service: ReviewService, args: argparse.Namespace) -> dict[str, Any]:
    target = _target(args)
    if target is not None:
        return await service.of(target)
    return await service.get(_review_id(args.args, "show"))


def _target(args: argparse.Namespace) -> Target | None:
    if args.incident is not None and args.problem is not None:
        raise _Usage("give --incident or --problem, not both")
    if args.incident is not None:
        return Target("incident", args.incident)
    if args.problem is not None:
        return Target("problem", args.problem)
    return None


def _review_id(words: list[str], what: str) -> int:
    if len(words) != 1:
        raise _Usage(f"`watchd review {what}` takes a review id, or --incident or --problem")
    return _number(words[0], "review")


def _number(text: str, what: str) -> int:
    try:
        return stored_id(text)
    except argparse.ArgumentTypeError as exc:
        raise _Usage(f"{what}: {exc}") from exc


def _due(text: str) -> float:
    try:
        return parse_local_time(text)
    except ValueError as exc:
        raise _Usage(f"--due: {exc}") from exc


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else format_time(seconds, "%Y-%m-%d %H:%MZ")


def _text(review: dict[str, Any]) -> str:
    about = (
        f"incident {review['incident_id']}"
        if review["incident_id"] is not None
        else f"problem {review['problem_id']}"
    )
    lines = [
        f"review {review['id']} of {about}: {review['title']}",
        f"  updated {_when(review['updated_at'])} by {review['updated_by']}",
        f"  impact: {review['impact'] or '-'}",
        f"  cause:  {review['cause'] or '-'}",
        "  timeline:",
        *(f"    {_when(e['time'])}  {e['text']}" for e in review["timeline"]),
        "  actions:",
    ]
    for a in review["actions"]:
        state = f"done {_when(a['done_at'])} by {a['done_by']}" if a["done"] else "open"
        lines.append(
            f"    {a['id']:>4} {a['kind']:<10} due {_when(a['due'])}  {a['owner']}: "
            f"{a['text']}  ({state})"
        )
    if not review["actions"]:
        lines.append("    none yet")
    return "\n".join(lines)
