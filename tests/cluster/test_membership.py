"""Membership on a real PostgreSQL (and SQLite): joins, deaths, leaves, name clashes, outages."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from structlog.testing import capture_logs

from tests.cluster.conftest import StartNode, wait_for
from tests.pg_server import PrivatePostgres
from watchd.cluster.membership import NodeNameTaken
from watchd.store.cluster_tables import cluster_nodes


async def test_nodes_see_each_other_join_and_one_die_after_dead_after(
    fresh_pg_url: str, start_node: StartNode
) -> None:
    """Three nodes see each other; one that stops heartbeating is dead after dead_after."""
    with capture_logs() as logs:
        a = await start_node("a", fresh_pg_url)
        b = await start_node("b", fresh_pg_url)
        c = await start_node("c", fresh_pg_url)
        await wait_for(lambda: a.live() == b.live() == c.live() == ["a", "b", "c"], 5)
        await c.stop_heartbeat()
        took = await wait_for(lambda: a.live() == b.live() == ["a", "b"], 5)
    # dead_after is 1 s: not before it, and at most a heartbeat or two after it.
    assert 0.5 < took < 2.5
    assert a.views[0].live[0].name == "a" and a.views[0].epoch == 1
    assert [v.epoch for v in a.views] == list(range(1, len(a.views) + 1))
    joined = [e for e in logs if e["event"] == "cluster_joined" and e["node"] == "c"]
    assert joined[0]["live"] == ["a", "b", "c"]
    dead = [e for e in logs if e["event"] == "node_dead" and e["me"] == "a"]
    assert len(dead) == 1 and dead[0]["node"] == "c" and dead[0]["last_heartbeat_age"] >= 1.0
    assert [e["node"] for e in logs if e["event"] == "node_joined" and e["me"] == "a"] == ["b", "c"]


async def test_a_leaving_node_is_gone_for_the_others_at_once_through_notify(
    fresh_pg_url: str, start_node: StartNode
) -> None:
    """A node that leaves deletes its row and wakes the others: they react long before
    their next heartbeat, and its lease is taken over at once."""
    a = await start_node("a", fresh_pg_url, dead_after=20, heartbeat_interval=8)
    b = await start_node("b", fresh_pg_url, dead_after=20, heartbeat_interval=8)
    await wait_for(lambda: a.live() == ["a", "b"], 4)
    assert a.membership.lease.held() and not b.membership.lease.held()
    with capture_logs() as logs:
        await a.stop_heartbeat()
        await a.membership.leave()
        took = await wait_for(lambda: b.live() == ["b"], 4)
        await wait_for(b.membership.lease.held, 4)
    assert took < 4  # the heartbeat interval is 8 s
    assert not a.membership.lease.held()
    assert [e["node"] for e in logs if e["event"] == "node_left"] == ["a"]
    assert [e["event"] for e in logs if e["event"].startswith("lease_")] == [
        "lease_released",
        "lease_acquired",
    ]
    async with b.store.engine.connect() as conn:
        names = (await conn.execute(select(cluster_nodes.c.name))).scalars().all()
    assert names == ["b"]


async def test_a_second_node_with_a_live_nodes_name_is_refused_with_its_host_and_pid(
    fresh_pg_url: str, start_node: StartNode
) -> None:
    """Starting a node under the name of a live one fails, naming its host, pid and heartbeat."""
    await start_node("a", fresh_pg_url)
    with pytest.raises(NodeNameTaken) as refused:
        await start_node("a", fresh_pg_url)
    assert refused.value.node.pid == os.getpid()
    assert refused.value.node.host == socket.gethostname()
    message = str(refused.value)
    assert "'a' is already running on" in message and f"(pid {os.getpid()})" in message
    assert "last heartbeat" in message


async def test_a_dead_nodes_name_can_be_taken_by_a_new_node(
    fresh_pg_url: str, start_node: StartNode
) -> None:
    """Once a node is dead (no heartbeat for dead_after), a new one may start under its name."""
    old = await start_node("a", fresh_pg_url)
    await old.stop_heartbeat()
    await asyncio.sleep(1.2)
    new = await start_node("a", fresh_pg_url)
    assert new.live() == ["a"]


async def test_after_a_postgresql_outage_nobody_is_declared_dead_before_a_grace(
    private_pg: PrivatePostgres, start_node: StartNode
) -> None:
    """A PostgreSQL outage longer than dead_after keeps every node's view, and after it no
    node declares another dead: the others get dead_after to heartbeat again."""
    url = private_pg.url("watchd")
    with capture_logs() as logs:
        a = await start_node("a", url)
        b = await start_node("b", url)
        await wait_for(lambda: a.live() == b.live() == ["a", "b"], 5)
        epochs = (a.membership.view.epoch, b.membership.view.epoch)
        private_pg.stop("fast")
        await asyncio.sleep(2.5)  # dead_after is 1 s
        assert a.live() == b.live() == ["a", "b"]
        private_pg.start()
        await asyncio.sleep(2.5)
    assert (a.membership.view.epoch, b.membership.view.epoch) == epochs
    assert not [e for e in logs if e["event"] == "node_dead"]
    failing = [e for e in logs if e["event"] == "cluster_heartbeat_failing"]
    assert sorted(e["node"] for e in failing) == ["a", "b"]  # once per node
    assert len([e for e in logs if e["event"] == "cluster_heartbeat_recovered"]) == 2


async def test_on_sqlite_the_one_node_is_the_cluster_and_holds_every_lease(
    tmp_path: Path, start_node: StartNode
) -> None:
    """On SQLite the node is alone (rows of earlier processes are removed) and holds the lease."""
    url = f"sqlite:///{tmp_path}/watchd.db"
    old = await start_node("old-name", url, run=False)
    await old.store.close()
    node = await start_node("a", url)
    assert node.live() == ["a"]
    assert node.membership.lease.held()
    async with node.store.engine.connect() as conn:
        names = (await conn.execute(select(cluster_nodes.c.name))).scalars().all()
    assert names == ["a"]
    await asyncio.sleep(0.5)
    assert node.membership.lease.held()  # renewed by the heartbeat


async def test_a_heartbeat_the_store_does_not_answer_in_time_is_logged_saying_so(
    tmp_path: Path, start_node: StartNode
) -> None:
    """A SQLite file held locked by another writer past the heartbeat's time limit (half of
    dead_after) gets a failing line that says the store did not answer, not an empty error,
    and a recovered line once the lock is gone."""
    db = tmp_path / "watchd.db"
    node = await start_node("a", f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None)
    with capture_logs() as logs:
        holder.execute("BEGIN IMMEDIATE")  # what a long write of another process does
        await asyncio.sleep(1.5)  # dead_after is 1 s: the heartbeat gives up after 0.5 s
        holder.execute("ROLLBACK")
        await wait_for(lambda: any(e["event"] == "cluster_heartbeat_recovered" for e in logs), 15)
    holder.close()
    failing = [e for e in logs if e["event"] == "cluster_heartbeat_failing"]
    assert len(failing) == 1
    assert failing[0]["error"] == "the store did not answer within 0.5 s"
    assert node.live() == ["a"]


async def test_a_node_dead_for_a_day_is_forgotten(fresh_pg_url: str, start_node: StartNode) -> None:
    """A node gone without leaving is listed dead, and its row removed after a day."""
    a = await start_node("a", fresh_pg_url)
    async with a.store.engine.begin() as conn:
        for name, age in (("gone-long-ago", 86400 + 60), ("gone-lately", 3600)):
            await conn.execute(
                insert(cluster_nodes).values(
                    name=name, zones=["default"], host="h", pid=1, api="", started_at=0.0,
                    heartbeat_at=time.time() - age, checks_owned=0,
                )
            )  # fmt: skip

    async def names() -> list[str]:
        async with a.store.engine.connect() as conn:
            return list((await conn.execute(select(cluster_nodes.c.name))).scalars())

    await asyncio.sleep(0.5)  # two heartbeats
    assert sorted(await names()) == ["a", "gone-lately"]
    assert a.live() == ["a"]
