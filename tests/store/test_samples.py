"""Availability samples: round trip, batching, bounded queue, retention, write failures."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from watchd.clock import FakeClock
from watchd.model import Status
from watchd.store import AvailabilitySample, Store, StoreError
from watchd.store import samples as sample_queries


def sample(
    t: float, item: str = "web1", check: str = "http", status: int = 0
) -> AvailabilitySample:
    # The message of an OK run is not kept: only the reason of a failure is worth its bytes.
    message = f"failed at {t}" if status else ""
    return AvailabilitySample(item, check, t, status, 0.25, message)


async def test_samples_round_trip_with_filters(store: Store) -> None:
    """Written samples come back unchanged, oldest first, filtered by item, check and time."""
    store.record_sample(AvailabilitySample("db1", "tcp", 30.0, Status.CRITICAL, None, "refused"))
    for t in (20.0, 10.0, 40.0):
        store.record_sample(sample(t, status=1))
    store.record_sample(sample(15.0, check="ping"))
    assert await store.flush() == 5

    assert [s.time for s in await store.samples()] == [10.0, 15.0, 20.0, 30.0, 40.0]
    assert await store.samples(item="db1") == [
        AvailabilitySample("db1", "tcp", 30.0, 2, None, "refused")
    ]
    web_http = await store.samples(item="web1", check="http", since=10.0, until=40.0)
    assert web_http == [sample(10.0, status=1), sample(20.0, status=1)]
    assert [s.time for s in await store.samples(limit=2)] == [10.0, 15.0]
    assert await store.sample_count() == 5


async def test_flush_writes_the_whole_batch_and_empties_the_queue(store: Store) -> None:
    """A flush writes every queued sample at once and reports how many; an empty flush writes 0."""
    for t in range(25):
        store.record_sample(sample(float(t)))
    assert store.pending_samples == 25
    assert await store.flush() == 25
    assert store.pending_samples == 0
    assert store.write_latency_seconds > 0
    assert await store.flush() == 0
    assert await store.sample_count() == 25


async def test_only_the_messages_of_runs_that_were_not_ok_are_kept(store: Store) -> None:
    """A failure keeps its reason; an OK run's message is not stored and reads back empty."""
    store.record_sample(AvailabilitySample("web1", "http", 1.0, 0, 0.1, "200 in 12 ms"))
    store.record_sample(AvailabilitySample("web1", "http", 2.0, 2, 0.1, "got 503"))
    assert await store.flush() == 2
    assert [s.message for s in await store.samples()] == ["", "got 503"]


async def test_a_repeated_sample_of_one_check_at_one_time_is_stored_once(store: Store) -> None:
    """Two samples of the same check at the very same time are one run: the first is kept."""
    store.record_sample(sample(1.0, status=2))
    store.record_sample(AvailabilitySample("web1", "http", 1.0, 0, 0.1))
    assert await store.flush() == 2
    assert await store.samples() == [sample(1.0, status=2)]


async def test_integer_times_and_latencies_are_accepted(store: Store) -> None:
    """A sample built with ints where floats are expected is stored, not stuck in the queue."""
    store.record_sample(AvailabilitySample("web1", "http", 5, 0, 1))
    assert await store.flush() == 1
    assert await store.samples() == [AvailabilitySample("web1", "http", 5.0, 0, 1.0)]


async def test_queue_drops_the_oldest_past_its_bound(db_url: str, clock: FakeClock) -> None:
    """Past max_pending queued samples the oldest go first, counted and logged once."""
    store = await Store.open(db_url, clock=clock, max_pending=5)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text("DELETE FROM samples"))
        with capture_logs() as logs:
            for t in range(8):
                store.record_sample(sample(float(t)))
        assert store.pending_samples == 5
        assert store.dropped_samples == 3
        assert [e["event"] for e in logs] == ["sample queue full, dropping the oldest samples"]
        await store.flush()
        assert [s.time for s in await store.samples()] == [3.0, 4.0, 5.0, 6.0, 7.0]
    finally:
        await store.close()


async def test_failed_write_keeps_samples_queued_until_recovery(store: Store) -> None:
    """When the samples table cannot be written, samples stay queued and are written later."""
    async with store.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE samples RENAME TO samples_away"))
    store.record_sample(sample(1.0))
    store.record_sample(sample(2.0))
    with capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(StoreError) as caught:
                await store.flush()
        assert caught.value.operation == "write 2 samples"
        assert "samples" in caught.value.reason
        assert "\n" not in caught.value.reason and "[SQL" not in caught.value.reason
        assert store.pending_samples == 2
        store.record_sample(sample(3.0))  # recorded during the outage, queued behind

        async with store.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE samples_away RENAME TO samples"))
        assert await store.flush() == 3
    assert [e["event"] for e in logs] == ["sample writes failing", "sample writes recovered"]
    assert [s.time for s in await store.samples()] == [1.0, 2.0, 3.0]
    assert store.pending_samples == 0


async def test_prune_deletes_only_older_samples(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention deletes samples older than the cut-off (in several chunks) and keeps the rest."""
    monkeypatch.setattr(sample_queries, "PRUNE_CHUNK", 3)
    for t in range(10):
        store.record_sample(sample(float(t)))
    await store.flush()
    assert await store.prune_samples(7.0) == 7
    assert [s.time for s in await store.samples()] == [7.0, 8.0, 9.0]
    assert await store.prune_samples(7.0) == 0


async def test_close_flushes_pending_samples(db_url: str, store: Store, clock: FakeClock) -> None:
    """Samples recorded but not yet flushed are written when the store closes."""
    store.record_sample(sample(1.0, status=2))
    await store.close()
    reopened = await Store.open(db_url, clock=clock)
    try:
        assert await reopened.samples() == [sample(1.0, status=2)]
    finally:
        await reopened.close()


async def test_a_cluster_node_stamps_its_name_on_the_samples_it_writes(
    db_url: str, store: Store, clock: FakeClock
) -> None:
    """On PostgreSQL samples written by node "a" read back with node "a"; SQLite (always one
    node) and a store without a node name leave it empty."""
    node = await Store.open(db_url, clock=clock, node="a")
    try:
        node.record_sample(AvailabilitySample("web1", "http", 10.0, 0, 0.01))
        await node.flush()
    finally:
        await node.close()
    store.record_sample(AvailabilitySample("web1", "http", 20.0, 0, 0.01))
    await store.flush()
    stamped = "a" if db_url.startswith("postgresql") else None
    assert [(s.time, s.node) for s in await store.samples()] == [(10.0, stamped), (20.0, None)]
