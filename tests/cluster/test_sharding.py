"""Sharding on real stores: two nodes on one PostgreSQL database split the checks, and a check
that moves keeps its check and rule states, without a second incident or notification."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.store.conftest import eventually
from watchd.app_core import Core, build_core
from watchd.check_config import ResolvedCheck
from watchd.clock import FakeClock
from watchd.cluster.model import ClusterView, NodeView
from watchd.cluster.zones import ALERTNAME
from watchd.loading import Setup, load_setup
from watchd.metrics import Metrics
from watchd.model import CheckResult, Status
from watchd.scheduler import CheckKey, RunInfo
from watchd.store import Store
from watchd.store.incident_tables import incidents, outbox

HEARTBEAT = 2.0
RULES = """\
rules:
  - {name: SlowConnect, metric: check_duration_seconds, over: {window: 10m, fn: avg},
     warn: "> 5"}
  - {name: NoData, metric: check_up, absent: 5m, severity: critical}
"""


def _config(tmp: Path, *, items: int = 12, extra: str = "") -> Path:
    (tmp / "rules.yaml").write_text(RULES)
    lines = [
        "[store]",
        "flush_interval = 1.0",
        "[cluster]",
        f"heartbeat_interval = {HEARTBEAT}",
        "[rules]",
        'files = ["rules.yaml"]',
    ]
    for i in range(items):
        lines += [
            "[[items]]",
            f'name = "host{i}"',
            'address = "127.0.0.1"',
            *(['zone = "dc2"'] if i == 0 and "dc2" in extra else []),
            "[[items.checks]]",
            'name = "ssh"',
            'kind = "tcp"',
            "port = 1",
            "max_attempts = 2",
            "[[items.checks]]",
            'name = "web"',
            'kind = "tcp"',
            "port = 2",
        ]
    path = tmp / "watchd.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _view(me: str, *names: str, epoch: int = 1) -> ClusterView:
    default = frozenset({"default"})
    return ClusterView(me=me, live=tuple(NodeView(n, default) for n in sorted(names)), epoch=epoch)


@dataclass
class Node:
    core: Core
    store: Store
    setup: Setup
    clock: FakeClock

    def check(self, key: CheckKey) -> ResolvedCheck:
        return next(c for c, _ in self.setup.collectors if c.key == key)

    async def run(self, key: CheckKey, status: Status, duration: float = 0.1) -> None:
        """One run of the check's result through this node's processor, as the scheduler
        would hand it over."""
        info = RunInfo(self.clock.now(), duration, 0.0, False)
        await self.core.processor.handle(self.check(key), CheckResult(status, "x"), info)

    def owned(self) -> set[CheckKey]:
        me = self.core.sharding.me
        return {c.key for c, _ in self.setup.collectors if self.core.sharding.owner(c.key) == me}


@pytest.fixture
async def nodes(tmp_path: Path, fresh_pg_url: str) -> AsyncIterator[list[Node]]:
    """Nodes "a" and "b" of one cluster on one PostgreSQL database, both alive (no loops run:
    the tests hand results and views over themselves)."""
    setup = load_setup(_config(tmp_path))
    clock = FakeClock()
    made = []
    for name in ("a", "b"):
        store = await Store.open(fresh_pg_url, clock=clock, node=name)
        core = await build_core(
            setup,
            store,
            clock=clock,
            metrics=Metrics(),
            base=tmp_path,
            rng=random.Random(0),
            view=_view(name, "a", "b"),
        )
        made.append(Node(core, store, setup, clock))
    # Each took the other for the checks' owner until now: they start one heartbeat later.
    await _handover(clock, *made)
    yield made
    for node in made:
        await node.store.close()


async def _handover(clock: FakeClock, *nodes: Node) -> None:
    """Let one heartbeat pass with the nodes' sharding loops running, until each has started
    every check it owns (loading their states takes real database time)."""
    runners = [asyncio.create_task(node.core.sharding.run()) for node in nodes]
    try:
        await clock.advance(HEARTBEAT)

        async def started() -> bool:
            return all(n.core.scheduler.check_count == n.core.sharding.owned_count() for n in nodes)

        await eventually(started)
    finally:
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)


async def _count(store: Store, table: object) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_two_nodes_split_the_checks_disjoint_and_complete(nodes: list[Node]) -> None:
    """Every configured check is owned by exactly one of two live nodes, both agree who, and
    each node's scheduler runs just its own (after the handover wait for the one that
    joined)."""
    a, b = nodes
    every = {c.key for c, _ in a.setup.collectors}
    assert a.owned() | b.owned() == every
    assert not a.owned() & b.owned()
    assert a.owned() and b.owned()
    assert all(a.core.sharding.owner(k) == b.core.sharding.owner(k) for k in every)
    assert a.core.sharding.owned_count() + b.core.sharding.owned_count() == len(every)
    assert a.core.scheduler.check_count == len(a.owned())
    assert b.core.scheduler.check_count == len(b.owned())


async def test_a_hard_critical_check_moves_to_a_surviving_node_without_a_second_incident(
    nodes: list[Node],
) -> None:
    """A check HARD CRITICAL on node a stays HARD CRITICAL on node b when a dies: b's next
    CRITICAL run sends no alert, so there is one incident and no new notification."""
    a, b = nodes
    key = sorted(a.owned())[0]
    for _ in range(3):
        await a.clock.advance(60)
        await a.run(key, Status.CRITICAL)
    state = a.core.processor.state(key)
    assert state is not None and state.hard_status is Status.CRITICAL
    await a.core.processor.persist()  # a's periodic save, before it dies
    opened, queued = await _count(a.store, incidents), await _count(a.store, outbox)
    assert opened == 1

    await b.core.sharding.apply(_view("b", "b", epoch=2))  # a is dead: b takes over at once
    moved = b.core.processor.state(key)
    assert moved is not None and moved.hard_status is Status.CRITICAL
    assert moved.hard_since == state.hard_since
    assert b.core.sharding.owner(key) == "b" and b.core.scheduler.check_count == 24
    await b.clock.advance(60)
    await b.run(key, Status.CRITICAL)
    assert await _count(b.store, incidents) == opened
    assert await _count(b.store, outbox) == queued


async def test_a_stopping_node_hands_its_checks_over_with_states_not_yet_saved(
    nodes: list[Node],
) -> None:
    """Node a stops: before it leaves, hand_over stops its checks and saves the state of a
    HARD CRITICAL one that its periodic save had not written yet, so b, taking the check over
    at the leave, keeps it HARD CRITICAL without a second alert; a run of a still in flight
    is dropped."""
    a, b = nodes
    key = sorted(a.owned())[0]
    for _ in range(3):
        await a.clock.advance(60)
        await a.run(key, Status.CRITICAL)  # not persisted: no periodic save ran
    await a.core.sharding.hand_over()
    assert a.core.scheduler.check_count == 0 and a.core.sharding.owned_count() == 0
    await a.run(key, Status.OK)  # a run that was in flight at the stop
    assert a.core.processor.state(key) is None

    await b.core.sharding.apply(_view("b", "b", epoch=2))  # a left
    moved = b.core.processor.state(key)
    assert moved is not None and moved.hard_status is Status.CRITICAL
    queued = await _count(b.store, outbox)
    await b.clock.advance(60)
    await b.run(key, Status.CRITICAL)
    assert await _count(b.store, incidents) == 1
    assert await _count(b.store, outbox) == queued


async def test_a_node_that_joins_takes_its_checks_after_the_owner_saved_them(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """Node a polls everything alone; b joins: a releases b's checks and saves their states at
    once, b starts them one heartbeat later with those states and their rule windows, and an
    `absent` rule never fires on a for the series that moved away."""
    setup = load_setup(_config(tmp_path))
    clock = FakeClock()
    store_a = await Store.open(fresh_pg_url, clock=clock, node="a")
    store_b = await Store.open(fresh_pg_url, clock=clock, node="b")
    try:
        a = Node(
            await build_core(
                setup, store_a, clock=clock, metrics=Metrics(), base=tmp_path, view=_view("a", "a")
            ),
            store_a,
            setup,
            clock,
        )
        assert a.core.scheduler.check_count == 24 and a.core.sharding.owned_count() == 24
        every = sorted(c.key for c, _ in setup.collectors)
        for _ in range(3):
            await clock.advance(60)
            for key in every:
                await a.run(key, Status.CRITICAL, duration=7.0)
        await a.core.rules.persist()  # the rule timer saved the engine's state once

        b = Node(
            await build_core(
                setup,
                store_b,
                clock=clock,
                metrics=Metrics(),
                base=tmp_path,
                view=_view("b", "a", "b", epoch=1),
            ),
            store_b,
            setup,
            clock,
        )
        await a.core.sharding.apply(_view("a", "a", "b", epoch=2))
        moved = b.owned()
        assert moved and a.core.scheduler.check_count == 24 - len(moved)
        assert b.core.scheduler.check_count == 0  # a still had them a moment ago
        key = sorted(moved)[0]
        assert a.core.processor.state(key) is None  # a forgot it, after saving it

        await _handover(clock, b)
        assert b.core.scheduler.check_count == len(moved)
        state = b.core.processor.state(key)
        assert state is not None and state.hard_status is Status.CRITICAL
        # The 10-minute average of each moved check's durations moved with it, firing.
        slow = [
            al
            for al in b.core.rules.engine.active_alerts()
            if al.labels["alertname"] == "SlowConnect"
        ]
        assert {(al.labels["item"], al.labels["check"]) for al in slow} == set(moved)

        # b keeps a's rhythm: each moved check runs first one interval after its last run on
        # a (a minute, default), neither sooner (twice in an interval) nor later (a gap).
        last_run = clock.now() - HEARTBEAT
        scheduler = asyncio.create_task(b.core.scheduler.run())
        try:
            await clock.advance(60 - HEARTBEAT - 1)
            assert b.core.scheduler.runs == 0
            await clock.advance(1)

            async def ran() -> bool:
                return b.core.scheduler.runs == len(moved)

            await eventually(ran)
        finally:
            scheduler.cancel()
            await asyncio.gather(scheduler, return_exceptions=True)
        await store_b.flush()
        firsts = {
            (s.item, s.check): (s.time, s.node) for s in await store_b.samples(since=last_run + 1)
        }
        assert firsts == {key: (last_run + 60, "b") for key in moved}

        await clock.advance(600)  # far past `absent`: the moved series are not missing on a
        fired = a.core.rules.engine.evaluate()
        assert not {(al.labels["item"], al.labels["check"]) for al in fired} & moved
    finally:
        await store_a.close()
        await store_b.close()


async def test_a_zone_no_live_node_serves_raises_one_critical_self_alert_until_served(
    tmp_path: Path,
) -> None:
    """Items of a zone no live node serves raise ClusterZoneUnserved with how many checks go
    unpolled; a node serving the zone resolves it (SQLite, one node)."""
    setup = load_setup(_config(tmp_path, extra="dc2"))
    clock = FakeClock()
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=clock)
    try:
        core = await build_core(
            setup, store, clock=clock, metrics=Metrics(), base=tmp_path, view=_view("a", "a")
        )
        assert core.sharding.unserved_zones == {"dc2": 2}
        assert core.scheduler.check_count == 22
        firing = [
            a for a in await store.alerts(status="firing") if a.labels["alertname"] == ALERTNAME
        ]
        assert [(a.labels["zone"], a.annotations["unpolled_checks"]) for a in firing] == [
            ("dc2", "2")
        ]

        both = frozenset({"default", "dc2"})
        await core.sharding.apply(ClusterView("a", (NodeView("a", both),), epoch=1))
        assert core.sharding.unserved_zones == {} and core.scheduler.check_count == 24
        assert not [
            a for a in await store.alerts(status="firing") if a.labels["alertname"] == ALERTNAME
        ]
    finally:
        await store.close()


async def test_a_single_node_owns_everything_and_a_reload_keeps_sharding(tmp_path: Path) -> None:
    """Alone on SQLite a node owns every check; a reload that adds checks and removes others
    schedules just the configured ones, still through sharding."""
    setup = load_setup(_config(tmp_path))
    clock = FakeClock()
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=clock)
    try:
        core = await build_core(setup, store, clock=clock, metrics=Metrics(), base=tmp_path)
        assert core.scheduler.check_count == core.sharding.owned_count() == 24
        fewer = load_setup(_config(tmp_path, items=5))
        retired = await core.sharding.reconfigure(fewer.collectors)
        assert core.scheduler.check_count == core.sharding.owned_count() == 10
        assert len(retired) == 24  # 14 removed, and the new copies of the 10 kept
    finally:
        await store.close()


async def test_a_view_applied_under_a_cancelled_heartbeat_is_applied_whole(
    nodes: list[Node],
) -> None:
    """Membership's heartbeat may time out while a view is applied: the checks taken over
    from a dead node still all start, with their states, rather than some being dropped."""
    a, b = nodes
    key = sorted(a.owned())[0]
    for _ in range(3):
        await a.clock.advance(60)
        await a.run(key, Status.CRITICAL)
    await a.core.processor.persist()

    beat = asyncio.create_task(b.core.sharding.apply(_view("b", "b", epoch=2)))
    await asyncio.sleep(0)  # it began: releasing nothing, loading a's states
    beat.cancel()
    with pytest.raises(asyncio.CancelledError):
        await beat

    async def taken_over() -> bool:
        return b.core.scheduler.check_count == 24

    await eventually(taken_over)
    state = b.core.processor.state(key)
    assert state is not None and state.hard_status is Status.CRITICAL
