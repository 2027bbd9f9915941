"""The cluster as the store records it, for `watchd cluster status`, `GET /api/v1/cluster` and
the dashboard: every node (live or dead, heartbeat age, zones, checks owned) and every lease.

It reads the tables only, so it works from any node, and from the CLI whether a daemon runs
or not; a node is live here when its heartbeat is younger than `dead_after`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.cluster import queries
from watchd.durations import format_duration
from watchd.store.engine import reading


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node's row, judged live or dead, with the leases it holds now."""

    name: str
    state: str  # "live" or "dead"
    zones: tuple[str, ...]
    host: str
    pid: int
    api: str
    started_at: float
    heartbeat_at: float
    heartbeat_age: float
    checks_owned: int
    leases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """A lease: its holder ("" when free) and how long it runs unless renewed."""

    name: str
    holder: str
    acquired_at: float
    expires_at: float
    expires_in: float


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """Every node and lease; `single_node` on SQLite, where the daemon is the whole cluster."""

    single_node: bool
    dead_after: float
    nodes: tuple[NodeStatus, ...]
    leases: tuple[LeaseStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        """The status as JSON-ready values (what the API and `--json` print)."""
        return asdict(self)


async def read_status(engine: AsyncEngine, *, dead_after: float, clock: Clock) -> ClusterStatus:
    """Read the cluster's tables now."""
    async with reading(engine, "read the cluster's status") as conn:
        now = queries.db_now(conn, clock.now())
        nodes = await queries.nodes(conn, now)
        leases = await queries.leases(conn, now)
    held: dict[str, list[str]] = {}
    for lease in leases:
        if lease.holder and lease.remaining > 0:
            held.setdefault(lease.holder, []).append(lease.name)
    return ClusterStatus(
        single_node=engine.dialect.name == "sqlite",
        dead_after=dead_after,
        nodes=tuple(
            NodeStatus(
                name=node.name,
                state="live" if node.age <= dead_after else "dead",
                zones=node.zones,
                host=node.host,
                pid=node.pid,
                api=node.api,
                started_at=node.started_at,
                heartbeat_at=node.heartbeat_at,
                heartbeat_age=round(node.age, 3),
                checks_owned=node.checks_owned,
                leases=tuple(held.get(node.name, ())),
            )
            for node in nodes
        ),
        leases=tuple(
            LeaseStatus(
                name=lease.name,
                holder=lease.holder if lease.remaining > 0 else "",
                acquired_at=lease.acquired_at,
                expires_at=lease.expires_at,
                expires_in=round(max(0.0, lease.remaining), 3),
            )
            for lease in leases
        ),
    )


def render_text(status: ClusterStatus) -> str:
    """The status as a table for people."""
    lines = []
    if status.single_node:
        lines.append(
            "SQLite store: a single node (the daemon on this file is the whole cluster; "
            "several nodes need PostgreSQL)."
        )
    live = sum(1 for node in status.nodes if node.state == "live")
    lines.append(
        f"{live} live, {len(status.nodes) - live} dead "
        f"(dead after {format_duration(status.dead_after)} without a heartbeat)"
    )
    header = ("NODE", "STATE", "HEARTBEAT", "ZONES", "CHECKS", "LEASES", "HOST", "PID", "API")
    rows = [header] + [
        (
            node.name,
            node.state,
            f"{node.heartbeat_age:.1f}s ago",
            ",".join(node.zones),
            str(node.checks_owned),
            ",".join(node.leases) or "-",
            node.host,
            str(node.pid),
            node.api or "-",
        )
        for node in status.nodes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for lease in status.leases:
        holder = lease.holder or "nobody (free)"
        lines.append(f"lease {lease.name}: {holder}, expires in {lease.expires_in:.1f}s")
    return "\n".join(lines) + "\n"
