"""`watchd cluster status [--json]`: the nodes and leases as the store records them.

It reads the store directly with the daemon's config, so it works from any machine that
reaches the database, whether a daemon runs there or not. cli.py calls `add_commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from watchd.cli_config import load_or_report
from watchd.cli_store import opened_store
from watchd.clock import SystemClock
from watchd.cluster.status import ClusterStatus, read_status, render_text
from watchd.store import StoreError

Command = Callable[[str, str], argparse.ArgumentParser]


def add_commands(sub: Any, command: Command) -> None:
    """Register `cluster` on the `watchd` parser (`command` adds -c/--config)."""
    del sub  # built through `command`, which adds the shared --config
    cmd = command("cluster", "The cluster's nodes (live or dead) and leases.")
    cmd.add_argument("action", choices=["status"], help="status: list nodes and leases")
    cmd.add_argument("--json", action="store_true", help="print the status as JSON")
    cmd.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    try:
        status = asyncio.run(_read(config.store_url(), config.cluster.dead_after))
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
    else:
        sys.stdout.write(render_text(status))
    return 0


async def _read(url: str, dead_after: float) -> ClusterStatus:
    clock = SystemClock()
    async with opened_store(url, clock) as store:
        return await read_status(store.engine, dead_after=dead_after, clock=clock)
