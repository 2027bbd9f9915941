"""The cluster's statements on cluster_nodes and cluster_leases, for both dialects.

Times come from the database's clock on PostgreSQL (`now()`, the start of the transaction),
so nodes whose clocks disagree still agree on who is alive and who holds a lease; on SQLite
(one node) from the process clock. Ages are computed by the database in the same statement,
so no node ever compares its own clock with a time another node wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Double, case, cast, delete, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from watchd.store.cluster_tables import cluster_leases, cluster_nodes
from watchd.store.upsert import insert_missing, upsert

# LISTEN/NOTIFY channel: a node joining or leaving wakes the others' heartbeat at once.
CHANNEL = "watchd_cluster"
RELEASED = ""  # the holder of a released lease


def db_now(conn: AsyncConnection, process_now: float) -> ColumnElement[float]:
    """The current time as the database sees it (PostgreSQL), else `process_now` (SQLite)."""
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.now()), Double)
    return literal(process_now, Double)


@dataclass(frozen=True, slots=True)
class NodeRow:
    """A node's row as written at its registration."""

    name: str
    zones: tuple[str, ...]
    host: str
    pid: int
    api: str


@dataclass(frozen=True, slots=True)
class NodeRecord(NodeRow):
    """A node's row as read, with the age of its last heartbeat (seconds, database clock)."""

    started_at: float
    heartbeat_at: float
    checks_owned: int
    age: float


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A lease's row as read; `remaining` is how long until it expires (database clock)."""

    name: str
    holder: str
    acquired_at: float
    expires_at: float
    remaining: float


async def register(
    conn: AsyncConnection,
    node: NodeRow,
    now: ColumnElement[float],
    *,
    checks_owned: int,
    stale_before: float | None,
) -> bool:
    """Write `node`'s row, taking over a row of that name only if its heartbeat is more than
    `stale_before` seconds old (None: whatever its age). False when a live node has the name."""
    values = {
        "name": node.name,
        "zones": list(node.zones),
        "host": node.host,
        "pid": node.pid,
        "api": node.api,
        "started_at": now,
        "heartbeat_at": now,
        "checks_owned": checks_owned,
    }
    where = None
    if stale_before is not None:
        where = cluster_nodes.c.heartbeat_at < now - stale_before
    statement = upsert(
        conn.dialect.name,
        cluster_nodes,
        ["name"],
        [name for name in values if name != "name"],
        where=where,
    )
    result = await conn.execute(statement.values(values).returning(cluster_nodes.c.name))
    return result.first() is not None


async def forget_others(conn: AsyncConnection, me: str) -> None:
    """Remove every other node's row and release every lease: on SQLite the file's lock makes
    this process the only node, so what others left behind is from processes that ended."""
    await conn.execute(delete(cluster_nodes).where(cluster_nodes.c.name != me))
    await conn.execute(update(cluster_leases).values(holder=RELEASED, expires_at=0.0))


async def heartbeat(
    conn: AsyncConnection, name: str, now: ColumnElement[float], *, checks_owned: int
) -> bool:
    """Stamp `name`'s heartbeat; False if its row is gone (then register it again)."""
    result = await conn.execute(
        update(cluster_nodes)
        .where(cluster_nodes.c.name == name)
        .values(heartbeat_at=now, checks_owned=checks_owned)
    )
    return result.rowcount == 1


async def forget_dead(
    conn: AsyncConnection, now: ColumnElement[float], *, older_than: float
) -> None:
    """Remove the rows of nodes without a heartbeat for `older_than` seconds: a node taken
    away without a SIGTERM would otherwise be listed (and counted) dead forever."""
    await conn.execute(delete(cluster_nodes).where(cluster_nodes.c.heartbeat_at < now - older_than))


async def nodes(conn: AsyncConnection, now: ColumnElement[float]) -> list[NodeRecord]:
    """Every node's row, sorted by name, with its heartbeat's age."""
    c = cluster_nodes.c
    rows = await conn.execute(
        select(
            c.name,
            c.zones,
            c.host,
            c.pid,
            c.api,
            c.started_at,
            c.heartbeat_at,
            c.checks_owned,
            (now - c.heartbeat_at).label("age"),
        ).order_by(c.name)
    )
    return [
        NodeRecord(
            name=row.name,
            zones=tuple(row.zones),
            host=row.host,
            pid=row.pid,
            api=row.api,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            checks_owned=row.checks_owned,
            age=max(0.0, float(row.age)),
        )
        for row in rows
    ]


async def leases(conn: AsyncConnection, now: ColumnElement[float]) -> list[LeaseRecord]:
    """Every lease's row, sorted by name."""
    c = cluster_leases.c
    rows = await conn.execute(
        select(
            c.name, c.holder, c.acquired_at, c.expires_at, (c.expires_at - now).label("remaining")
        ).order_by(c.name)
    )
    return [
        LeaseRecord(row.name, row.holder, row.acquired_at, row.expires_at, float(row.remaining))
        for row in rows
    ]


async def acquire(
    conn: AsyncConnection, lease: str, me: str, now: ColumnElement[float], *, ttl: float
) -> tuple[bool, str]:
    """Take or renew `lease` for `me` until now + `ttl`, if it is free, expired or already
    mine: (whether `me` holds it now, the holder it had before this statement).

    The taking is the one UPDATE, so two nodes racing for an expired lease cannot both win;
    the previous holder is read first only to say whom the lease was taken from.
    """
    c = cluster_leases.c
    await conn.execute(
        insert_missing(conn.dialect.name, cluster_leases, ["name"]).values(
            name=lease, holder=RELEASED, acquired_at=0.0, expires_at=0.0
        )
    )
    previous = (await conn.execute(select(c.holder).where(c.name == lease))).scalar_one()
    taken = await conn.execute(
        update(cluster_leases)
        .where(c.name == lease, (c.holder == me) | (c.expires_at < now))
        .values(
            holder=me,
            acquired_at=case((c.holder == me, c.acquired_at), else_=now),
            expires_at=now + ttl,
        )
        .returning(c.name)
    )
    return taken.first() is not None, previous


async def release(conn: AsyncConnection, me: str) -> None:
    """Release every lease `me` holds and remove its row: it leaves the cluster."""
    c = cluster_leases.c
    await conn.execute(
        update(cluster_leases).where(c.holder == me).values(holder=RELEASED, expires_at=0.0)
    )
    await conn.execute(delete(cluster_nodes).where(cluster_nodes.c.name == me))


async def notify(conn: AsyncConnection, me: str) -> None:
    """Wake the other nodes' heartbeats (PostgreSQL; delivered when the transaction commits)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_notify(:channel, :me)"), {"channel": CHANNEL, "me": me})
