"""Benchmark: write 1,000,000 availability samples to SQLite in batches of 1,000.

Prints samples/s, seconds per batch (p50/p99) and the database size on disk for watchd's
store, and the same figures for plain sqlite3 `executemany` on the same schema and pragmas
(the floor any Python writer pays), with the ratio between the two. Runs in a temporary
directory that is removed afterwards.

    .venv/bin/python bench/store_write.py [--samples N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy

from watchd.clock import SystemClock
from watchd.store import AvailabilitySample, Store
from watchd.store.tables import metadata

START = 1_800_000_000.0


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    count: int
    elapsed: float
    per_batch: list[float]
    size: int


def batches(total: int, batch: int) -> Iterator[list[AvailabilitySample]]:
    """2,000 items with 5 checks each, every check run once a minute, statuses cycling."""
    for first in range(0, total, batch):
        yield [
            AvailabilitySample(f"item{n % 2000}", f"check{n % 5}", START + n * 0.006, n % 4, 0.012)
            for n in range(first, min(first + batch, total))
        ]


async def write_with_store(db: Path, total: int, batch: int) -> tuple[int, float, list[float]]:
    store = await Store.open(f"sqlite:///{db}", clock=SystemClock(), batch_size=batch)
    per_batch: list[float] = []
    began = time.perf_counter()
    try:
        for samples in batches(total, batch):
            for sample in samples:
                store.record_sample(sample)
            t0 = time.perf_counter()
            await store.flush()
            per_batch.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - began
        count = await store.sample_count()
    finally:
        await store.close()
    return count, elapsed, per_batch


def write_with_sqlite3(db: Path, total: int, batch: int) -> tuple[int, float, list[float]]:
    schema = sqlalchemy.create_engine(f"sqlite:///{db}")
    metadata.create_all(schema)
    schema.dispose()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # The same work as the store: series ids looked up once, then compact rows.
    insert = (
        "INSERT OR IGNORE INTO samples (time, series_id, status, latency, message) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    series: dict[tuple[str, str], int] = {}
    per_batch: list[float] = []
    began = time.perf_counter()
    for samples in batches(total, batch):
        for s in samples:
            if (s.item, s.check) not in series:
                conn.execute(
                    'INSERT INTO rollup_series (item, "check") VALUES (?, ?)', (s.item, s.check)
                )
                series[(s.item, s.check)] = len(series) + 1
        rows = [
            (
                s.time,
                series[(s.item, s.check)],
                s.status,
                s.latency,
                s.message if s.status else None,
            )
            for s in samples
        ]
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        per_batch.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - began
    (count,) = conn.execute("SELECT count(*) FROM samples").fetchone()
    conn.close()
    return int(count), elapsed, per_batch


def size_of(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def report(result: Result, batch: int) -> None:
    q = statistics.quantiles(result.per_batch, n=100)
    print(f"{result.name}")
    print(
        f"  samples written    {result.count:,} in {len(result.per_batch):,} batches of {batch:,}"
    )
    print(f"  throughput         {result.count / result.elapsed:,.0f} samples/s", end="")
    print(f" ({result.elapsed:.1f} s in all)")
    print(f"  seconds per batch  p50 {q[49]:.4f}  p99 {q[98]:.4f}")
    print(f"  database size      {result.size / 1e6:.1f} MB", end="")
    print(f" ({result.size / result.count:.0f} bytes per sample)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watchd-bench-") as directory:
        store_db, raw_db = Path(directory) / "store.db", Path(directory) / "raw.db"
        count, elapsed, per_batch = asyncio.run(
            write_with_store(store_db, args.samples, args.batch)
        )
        store = Result("watchd store (aiosqlite)", count, elapsed, per_batch, size_of(store_db))
        count, elapsed, per_batch = write_with_sqlite3(raw_db, args.samples, args.batch)
        raw = Result("plain sqlite3 executemany", count, elapsed, per_batch, size_of(raw_db))
    report(store, args.batch)
    report(raw, args.batch)
    ratio = (store.count / store.elapsed) / (raw.count / raw.elapsed)
    print(f"store throughput / plain sqlite3 throughput: {ratio:.2f}")


if __name__ == "__main__":
    main()
