"""Issue 19, finding 7: PostgreSQL under normal load, two nodes and an operator at once.

Two nodes ingest the same alerts (as two Prometheus replicas send them: the same alerts, in
their own order, firing and resolving) while an operator acknowledges and resolves the
incidents they open. Every write must commit without "deadlock detected" reaching anyone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.pipeline.conftest import alert, settings_from
from tests.store.conftest import PG_HOST, PG_PORT, PG_USER, pg_create_database, pg_drop_database
from watchd.clock import SystemClock
from watchd.incidents.ledger import IncidentNotFound, Ledger
from watchd.incidents.lifecycle import TransitionError
from watchd.model import Alert
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.store import Store, StoreError
from watchd.store.engine import transact

pytestmark = pytest.mark.integration

ITEMS = [f"host{i:02d}" for i in range(12)]
ROUNDS = 40


async def deadlocks(url: str) -> int:
    """PostgreSQL's count of deadlocks detected in the database of `url`."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    try:
        found: int = await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name
        )
        return found
    finally:
        await conn.close()


@asynccontextmanager
async def two_nodes() -> AsyncIterator[tuple[str, Store, Store]]:
    url = await asyncio.to_thread(pg_create_database)
    clock = SystemClock()
    first = await Store.open(url, clock=clock)
    second = await Store.open(url, clock=clock, migrate=False)
    try:
        yield url, first, second
    finally:
        await first.close()
        await second.close()
        await asyncio.to_thread(pg_drop_database, url)


def batch(rng: random.Random) -> tuple[Alert, ...]:
    """Every item's alert, each firing or resolved at random, in a random order."""
    alerts = [alert(item, firing=rng.random() < 0.6, source="prometheus") for item in ITEMS]
    rng.shuffle(alerts)
    return tuple(alerts)


async def test_two_nodes_and_an_operator_never_deadlock() -> None:
    """Two nodes ingesting the same alerts in their own order while an operator acknowledges and resolves their incidents: every write commits, and PostgreSQL detects no deadlock."""
    settings = settings_from({})
    failures: list[str] = []
    async with two_nodes() as (url, first, second):
        before = await deadlocks(url)

        async def node(store: Store, seed: int) -> None:
            pipeline = AlertPipeline(store.engine, clock=SystemClock(), settings=settings)
            rng = random.Random(seed)
            for _ in range(ROUNDS):
                try:
                    await pipeline.submit(batch(rng))
                except StoreError as exc:
                    failures.append(f"node {seed}: {exc.reason.splitlines()[0]}")

        async def operator(store: Store) -> None:
            service = IncidentService(store.engine, clock=SystemClock(), settings=lambda: settings)
            rng = random.Random(3)
            for _ in range(ROUNDS):
                listed = await service.list_incidents(state="open,acknowledged")
                for incident in rng.sample(listed, min(3, len(listed))):
                    act = rng.choice([service.acknowledge, service.resolve])
                    try:
                        await act(incident["id"], "alice")
                    except (TransitionError, IncidentNotFound):
                        pass  # a node changed it first: that is fine
                    except StoreError as exc:
                        failures.append(f"operator: {exc.reason.splitlines()[0]}")

        await asyncio.gather(node(first, 1), node(second, 2), operator(first))
        await first.engine.dispose()  # each backend reports its deadlock count as it exits
        await second.engine.dispose()
        await asyncio.sleep(0.5)
        detected = await deadlocks(url) - before
    assert failures == []
    assert detected == 0


async def test_incidents_met_in_opposite_orders_never_deadlock() -> None:
    """Two transactions meeting the same incidents in opposite orders (a delivery record and a batch of alerts) both commit with no deadlock: the one that would wait against the id order backs off and runs again."""
    settings = settings_from({})
    async with two_nodes() as (url, first, second):
        pipeline = AlertPipeline(first.engine, clock=SystemClock(), settings=settings)
        await pipeline.submit((alert("host00"), alert("host01")))
        ids = [
            i["id"]
            for i in await IncidentService(
                first.engine, clock=SystemClock(), settings=lambda: settings
            ).list_incidents()
        ]
        before = await deadlocks(url)
        both_hold_one = asyncio.Barrier(2)
        runs: list[str] = []

        def body(order: list[int]) -> Callable[[AsyncConnection], Awaitable[None]]:
            async def run(conn: AsyncConnection) -> None:
                runs.append(str(order))
                ledger = Ledger(conn, 0.0, settings)
                incident = await ledger.load(order[0])
                if runs.count(str(order)) == 1:
                    await both_hold_one.wait()
                await ledger.event(incident, "comment", "test", {"text": "first"})
                await ledger.event(await ledger.load(order[1]), "comment", "test", {"text": "2"})

            return run

        await asyncio.wait_for(
            asyncio.gather(
                transact(first.engine, "ascending", body(sorted(ids))),
                transact(second.engine, "descending", body(sorted(ids, reverse=True))),
            ),
            timeout=30,
        )
        await first.engine.dispose()
        await second.engine.dispose()
        await asyncio.sleep(0.5)
        detected = await deadlocks(url) - before
    assert detected == 0
    assert len(runs) == 3  # the descending one backed off once
