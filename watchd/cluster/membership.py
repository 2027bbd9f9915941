"""Who is alive: this node's row in cluster_nodes, its heartbeat, and the view it derives.

    join ─► heartbeat every heartbeat_interval (or at once when another node NOTIFYs):
              UPDATE own row ─► renew/take the singleton lease ─► read every row
              ─► live = heartbeat younger than dead_after (self always)
              ─► changed? epoch + 1, ClusterView to every callback
    leave (SIGTERM) ─► delete own row, release own leases, NOTIFY: the others react at once

A heartbeat that fails (PostgreSQL down or too slow) keeps the last view: checks are never
dropped because the database is away. When heartbeats work again, nodes that were live stay
live for one more `dead_after` (the grace), so the others have had time to heartbeat too;
otherwise every node would briefly see every other dead and take all the checks.

On SQLite the store's file lock makes this process the only node: rows left by earlier
processes are removed at join, and it holds every lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock, sleep_or_wakeup
from watchd.cluster import queries
from watchd.cluster.config import ClusterConfig
from watchd.cluster.lease import SINGLETON, Grant, Lease
from watchd.cluster.metrics import ClusterMetrics
from watchd.cluster.model import ClusterView, NodeView
from watchd.cluster.queries import NodeRecord, NodeRow
from watchd.cluster.wakeup import Wakeup
from watchd.failures import FailureLog
from watchd.logging import get_logger
from watchd.store.engine import writing
from watchd.store.errors import StoreError

log = get_logger("watchd.cluster")

ViewCallback = Callable[[ClusterView], Awaitable[None]]
# A dead node's row is kept this long, for `watchd cluster status` and the dead-nodes metric.
FORGET_DEAD_AFTER = 86400.0


class NodeNameTaken(Exception):
    """Another live node already runs under this node's name."""

    def __init__(self, node: NodeRecord) -> None:
        self.node = node
        super().__init__(
            f"cluster node {node.name!r} is already running on {node.host} (pid {node.pid}), "
            f"its last heartbeat {node.age:.1f}s ago: stop it, or give this node another "
            "cluster.node_name"
        )


class Membership:
    """This node in the cluster: `join`, then `run` (the heartbeat loop), then `leave`.

    `checks_owned` says how many checks this node polls (written with each heartbeat);
    `api` is its API's listen address ("" when disabled), shown by `watchd cluster status`.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        config: ClusterConfig,
        *,
        clock: Clock,
        checks_owned: Callable[[], int],
        api: str = "",
        metrics: ClusterMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._checks_owned = checks_owned
        self._metrics = metrics
        self._single = engine.dialect.name == "sqlite"
        self.me = config.node_name
        self._row = NodeRow(
            name=self.me,
            zones=tuple(config.zones),
            host=socket.gethostname(),
            pid=os.getpid(),
            api=api,
        )
        # The margin covers a monotonic clock running slightly slower than the database's.
        self.lease = Lease(
            SINGLETON,
            me=self.me,
            ttl=config.dead_after,
            margin=config.heartbeat_interval,
            clock=clock,
        )
        if metrics is not None:
            metrics.watch_lease(SINGLETON, self.lease.held)
        self._wakeup = None if self._single else Wakeup(engine.url, me=self.me)
        self._callbacks: list[ViewCallback] = []
        self._live: dict[str, NodeView] = {}
        self._view = ClusterView(me=self.me, live=(), epoch=0)
        self._failing = False
        self._grace_until = float("-inf")  # monotonic
        self._failures = FailureLog(
            log,
            failing="cluster_heartbeat_failing",
            recovered="cluster_heartbeat_recovered",
            outage_field="outage_seconds",
            clock=clock.monotonic,
        )

    @property
    def view(self) -> ClusterView:
        """The live nodes as this node sees them now."""
        return self._view

    def on_change(self, callback: ViewCallback) -> None:
        """Call `callback` with each new view (the first one at `join`)."""
        self._callbacks.append(callback)

    async def join(self) -> ClusterView:
        """Register this node and take its first view; NodeNameTaken if a live node has
        its name, StoreError if the database cannot be reached."""
        started = self._clock.monotonic()
        async with writing(self._engine, "join the cluster") as conn:
            now = queries.db_now(conn, self._clock.now())
            owned = self._checks_owned()
            if self._single:
                await queries.forget_others(conn, self.me)
            stale_before = None if self._single else self._config.dead_after
            if not await queries.register(
                conn, self._row, now, checks_owned=owned, stale_before=stale_before
            ):
                holder = next(n for n in await queries.nodes(conn, now) if n.name == self.me)
                if not self._ended_here(holder):
                    raise NodeNameTaken(holder)
                await queries.register(conn, self._row, now, checks_owned=owned, stale_before=None)
            await queries.notify(conn, self.me)
            grant = await self._renew(conn, now)
            records = await queries.nodes(conn, now)
        self.lease.settle(grant, started)
        if self._wakeup is not None:
            await self._wakeup.ensure()
        await self._apply(records, joining=True)
        return self._view

    def _ended_here(self, node: NodeRecord) -> bool:
        """Whether a fresh row of this name was left by a process of this host that has
        ended (a restart right after a crash), rather than by one that still runs."""
        if node.host != self._row.host or node.pid == self._row.pid:
            return False
        try:
            os.kill(node.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, owned by another user
            return False
        return False

    async def run(self) -> None:
        """Heartbeat until cancelled; failures are logged once per outage and keep the view."""
        while True:
            await self._pause()
            within = self._config.dead_after / 2
            try:
                async with asyncio.timeout(within):
                    await self.beat()
            except (StoreError, TimeoutError) as exc:
                self._failing = True
                self.lease.held()  # logs lease_lost once its own deadline has passed
                if self._metrics is not None:
                    self._metrics.heartbeat_failed()
                self._failures.failed(
                    node=self.me,
                    # A timeout has no text of its own: say what did not happen.
                    error=str(exc) or f"the store did not answer within {within:g} s",
                    note="keeping the last view of the cluster",
                )

    async def _pause(self) -> None:
        """Wait one heartbeat_interval, or less if another node notified a join or leave."""
        if self._wakeup is None:
            await self._clock.sleep(self._config.heartbeat_interval)
            return
        await self._wakeup.ensure()
        await sleep_or_wakeup(self._clock, self._config.heartbeat_interval, self._wakeup.event)

    async def beat(self) -> None:
        """One heartbeat: stamp this node's row, renew the lease, read every node."""
        started = self._clock.monotonic()
        async with writing(self._engine, "heartbeat") as conn:
            now = queries.db_now(conn, self._clock.now())
            owned = self._checks_owned()
            if not await queries.heartbeat(conn, self.me, now, checks_owned=owned):
                # Our row was removed behind our back (a restored database): write it again.
                await queries.register(conn, self._row, now, checks_owned=owned, stale_before=None)
                log.warning("cluster_rejoined", node=self.me, note="its row had disappeared")
            grant = await self._renew(conn, now)
            await queries.forget_dead(conn, now, older_than=FORGET_DEAD_AFTER)
            records = await queries.nodes(conn, now)
        self.lease.settle(grant, started)
        if self._failing:
            self._failing = False
            self._grace_until = self._clock.monotonic() + self._config.dead_after
            self._failures.recovered(node=self.me)
        await self._apply(records)

    async def _renew(self, conn: AsyncConnection, now: ColumnElement[float]) -> Grant:
        held, previous = await queries.acquire(
            conn, SINGLETON, self.me, now, ttl=self._config.dead_after
        )
        return Grant(held=held, previous=previous)

    async def _apply(self, records: list[NodeRecord], *, joining: bool = False) -> None:
        """Derive the live set from `records`, log what changed, and publish a new view."""
        in_grace = self._clock.monotonic() < self._grace_until
        live: dict[str, NodeView] = {}
        for node in records:
            if (
                node.name == self.me
                or node.age <= self._config.dead_after
                or (in_grace and node.name in self._live)
            ):
                live[node.name] = NodeView(node.name, frozenset(node.zones))
        if self._metrics is not None:
            self._metrics.observe(
                live=len(live), dead=len(records) - len(live), checks_owned=self._checks_owned()
            )
        if live == self._live:
            return
        if joining:
            log.info("cluster_joined", node=self.me, live=sorted(live))
        else:
            self._log_changes(live, {node.name: node for node in records})
        self._live = live
        self._view = ClusterView(
            me=self.me,
            live=tuple(live[name] for name in sorted(live)),
            epoch=self._view.epoch + 1,
        )
        if self._metrics is not None:
            self._metrics.membership_changed()
        for callback in self._callbacks:
            try:
                await callback(self._view)
            except Exception:  # one failing consumer must not stop the heartbeat
                log.exception("cluster_view_not_applied", epoch=self._view.epoch)

    def _log_changes(self, live: dict[str, NodeView], rows: dict[str, NodeRecord]) -> None:
        for name in sorted(live.keys() - self._live.keys()):
            log.info("node_joined", node=name, zones=sorted(live[name].zones), me=self.me)
        for name in sorted(self._live.keys() - live.keys()):
            gone = rows.get(name)
            if gone is None:
                log.info("node_left", node=name, me=self.me)
            else:
                log.warning(
                    "node_dead", node=name, last_heartbeat_age=round(gone.age, 1), me=self.me
                )
        for name in sorted(live.keys() & self._live.keys()):
            if live[name].zones != self._live[name].zones:
                log.info("node_zones_changed", node=name, zones=sorted(live[name].zones))

    @property
    def single_node(self) -> bool:
        """Whether this daemon is the only node there can be (SQLite)."""
        return self._single

    async def leave(self) -> None:
        """Leave the cluster now: delete this node's row, release its leases, wake the
        others. If the database is unreachable they see this node dead after dead_after."""
        self.lease.released()
        try:
            async with asyncio.timeout(self._config.heartbeat_interval):
                async with writing(self._engine, "leave the cluster") as conn:
                    await queries.release(conn, self.me)
                    await queries.notify(conn, self.me)
        except (StoreError, TimeoutError) as exc:
            log.warning(
                "cluster_leave_failed",
                node=self.me,
                error=str(exc)
                or f"the store did not answer within {self._config.heartbeat_interval:g} s",
                note="the other nodes see it dead after cluster.dead_after",
            )
        else:
            log.info("cluster_left", node=self.me)
        finally:
            if self._wakeup is not None:
                with contextlib.suppress(Exception):
                    await self._wakeup.close()
