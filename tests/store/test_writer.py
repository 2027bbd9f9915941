"""The background writer: batches by size and interval, survives outages, flushes on cancel."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from structlog.testing import capture_logs

from watchd.clock import FakeClock
from watchd.store import AvailabilitySample, Store

from .conftest import eventually


def sample(t: float) -> AvailabilitySample:
    return AvailabilitySample("web1", "http", t, 0, 0.1)


async def test_writer_flushes_a_full_batch_at_once(store: Store) -> None:
    """A full batch (batch_size=10) is written without waiting for the flush interval."""
    writer = asyncio.create_task(store.run_writer())
    try:
        for t in range(10):
            store.record_sample(sample(float(t)))

        async def written() -> bool:
            return await store.sample_count() == 10

        await eventually(written)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def test_writer_flushes_a_partial_batch_after_the_interval(
    store: Store, clock: FakeClock
) -> None:
    """Fewer samples than a batch are written once the flush interval has passed."""
    writer = asyncio.create_task(store.run_writer())
    await clock.advance(0)  # lets the writer start waiting at time 0
    try:
        store.record_sample(sample(1.0))
        await clock.advance(0.5)
        assert store.pending_samples == 1
        await clock.advance(0.6)

        async def written() -> bool:
            return await store.sample_count() == 1

        await eventually(written)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def test_writer_rides_out_a_write_outage(store: Store, clock: FakeClock) -> None:
    """While writes fail the writer keeps running and retrying; afterwards everything is written."""
    async with store.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE samples RENAME TO samples_away"))
    writer = asyncio.create_task(store.run_writer())
    try:
        with capture_logs() as logs:
            for t in range(3):
                store.record_sample(sample(float(t)))
            for _ in range(5):  # several failed attempts, each followed by a backoff
                await clock.advance(61.0)
                await asyncio.sleep(0.05)  # let the failing write's real I/O finish
            assert not writer.done()
            assert store.pending_samples == 3

            async with store.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE samples_away RENAME TO samples"))

            async def written() -> bool:
                await clock.advance(61.0)
                return any(e["event"] == "sample writes recovered" for e in logs)

            await eventually(written)
        events = [e["event"] for e in logs]
        assert events == ["sample writes failing", "sample writes recovered"]
        assert await store.sample_count() == 3
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def test_cancelled_writer_flushes_what_is_queued(store: Store) -> None:
    """Cancelling the writer (shutdown) writes the samples still queued before it stops."""
    writer = asyncio.create_task(store.run_writer())
    await asyncio.sleep(0)
    store.record_sample(sample(1.0))
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert writer.cancelled()
    assert await store.sample_count() == 1
