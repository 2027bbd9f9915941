"""Benchmark: the outbox backlog /metrics reads at each scrape, on a big outbox.

Fills a temporary SQLite store with N pending outbox rows (behind N delivered ones), prints
SQLite's plan for the statement (each part must be an index search, never a table scan) and
the time of `watchd.notify.outbox.backlog` over a few runs: the scrape's extra cost. aiosqlite
runs the statement in its own thread, so this is time the scrape waits, not time the event
loop is blocked.

    .venv/bin/python bench/outbox_backlog.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from watchd.clock import FakeClock
from watchd.notify.outbox import backlog, backlog_statement
from watchd.store import Store
from watchd.store.incident_tables import incidents, outbox

START = 1_800_000_000.0
STEP = 0.001  # one row a millisecond


async def fill(store: Store, pending: int) -> None:
    """One incident with 2 x `pending` outbox rows, the older half delivered."""
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(incidents),
            [
                {
                    "id": 1,
                    "key": "k",
                    "group_labels": {},
                    "title": "",
                    "item": "",
                    "state": "open",
                    "severity": "critical",
                    "seq": 0,
                    "opened_at": START,
                    "audible": True,
                    "escalation_step": 0,
                    "sla_ack_breached": False,
                    "sla_resolve_breached": False,
                    "muted_seconds": 0,
                    "updated_at": START,
                }
            ],
        )
        rows = [
            {
                "incident_id": 1,
                "seq": i,
                "idempotency_key": f"1:{i}",
                "receiver": "r",
                "kind": "opened",
                "payload": {},
                "state": "delivered" if i < pending else "pending",
                "attempts": 0,
                "created_at": START + i * STEP,
                "next_attempt_at": START + i * STEP,
            }
            for i in range(2 * pending)
        ]
        for i in range(0, len(rows), 5_000):
            await conn.execute(insert(outbox), rows[i : i + 5_000])


async def main(pending: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite:///{Path(tmp) / 'watchd.db'}", clock=FakeClock())
        try:
            await fill(store, pending)
            sql = backlog_statement().compile(
                dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
            )
            async with store.engine.connect() as conn:
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
                for row in plan:
                    print("plan:", row[3])
            now = START + 3 * pending * STEP
            for _ in range(5):
                cpu, wall = time.process_time(), time.perf_counter()
                found = await backlog(store.engine, now)
                print(
                    f"{found.pending:,} pending, oldest {found.oldest_age:.0f} s: "
                    f"{(time.perf_counter() - wall) * 1000:.1f} ms, "
                    f"{(time.process_time() - cpu) * 1000:.1f} ms of CPU"
                )
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="pending rows (default 100,000)")
    asyncio.run(main(parser.parse_args().rows))
