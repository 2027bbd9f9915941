"""Fixtures for membership and lease tests: nodes on one real database, each with its own
store (engine), heartbeating in the background of the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from watchd.clock import SystemClock
from watchd.cluster.config import ClusterConfig
from watchd.cluster.membership import Membership
from watchd.cluster.model import ClusterView
from watchd.store import Store


@dataclass
class Node:
    """A Membership on its own store, with the views it published."""

    membership: Membership
    store: Store
    views: list[ClusterView] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def live(self) -> list[str]:
        return [node.name for node in self.membership.view.live]

    async def stop_heartbeat(self) -> None:
        """Stop heartbeating without leaving: to the others it looks like a SIGKILL."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def start_node() -> AsyncIterator[StartNode]:
    """Join a node (name, url, dead_after, heartbeat_interval) and run its heartbeat; every
    node is stopped (without leaving) and its store closed after the test."""
    nodes: list[Node] = []

    async def start(
        name: str,
        url: str,
        *,
        dead_after: float = 1.0,
        heartbeat_interval: float = 0.2,
        run: bool = True,
    ) -> Node:
        store = await Store.open(url, clock=SystemClock())
        config = ClusterConfig(
            node_name=name, dead_after=dead_after, heartbeat_interval=heartbeat_interval
        )
        membership = Membership(store.engine, config, clock=SystemClock(), checks_owned=lambda: 7)
        node = Node(membership, store)
        nodes.append(node)

        async def record(view: ClusterView) -> None:
            node.views.append(view)

        membership.on_change(record)
        await membership.join()
        if run:
            node.task = asyncio.create_task(membership.run(), name=f"heartbeat {name}")
        return node

    yield start
    for node in nodes:
        await node.stop_heartbeat()
        with contextlib.suppress(Exception):
            await node.store.close()


async def wait_for(condition: Callable[[], bool], within: float) -> float:
    """Wait until `condition()` is true; return how long that took (fails after `within` seconds)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  # the state changes in background tasks
            await asyncio.sleep(0.02)
    return loop.time() - start
