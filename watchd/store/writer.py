"""Batched, non-blocking writing of availability samples.

Checks call `record` (a deque append); one writer loop turns the queue into one transaction per
batch. While the database cannot be written, samples wait in memory up to `max_pending`; past
that the oldest are dropped, counted and logged, so an outage costs history, never memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.failures import FailureLog
from watchd.logging import get_logger
from watchd.store.engine import writing
from watchd.store.errors import StoreError
from watchd.store.samples import AvailabilitySample, insert_samples

log = get_logger("watchd.store")

MAX_BACKOFF = 60.0


class SampleWriter:
    """A bounded queue of samples and the loop that writes it to the database in batches."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        batch_size: int,
        flush_interval: float,
        max_pending: int,
        on_flush: Callable[[float], None] | None = None,
        node: str | None = None,
    ) -> None:
        self._engine = engine
        self._node = node  # the cluster node name stamped on every sample; None: one node
        self._on_flush = on_flush
        self._series: dict[tuple[str, str], int] = {}  # series ids by (item, check)
        self._clock = clock
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._pending: deque[AvailabilitySample] = deque()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failures = FailureLog(
            log,
            failing="sample writes failing",
            recovered="sample writes recovered",
            level=logging.WARNING,
            outage_field="outage_seconds",
            ndigits=3,
            clock=clock.monotonic,
        )
        self._dropping = False
        self.dropped = 0
        self.write_latency_seconds = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, sample: AvailabilitySample) -> None:
        """Queue one sample; wake the writer once a full batch is waiting."""
        self._pending.append(sample)
        self._trim()
        if len(self._pending) >= self._batch_size:
            self._full.set()

    async def flush(self) -> int:
        """Write everything queued in one transaction; on failure keep it queued and raise."""
        async with self._lock:
            batch, self._pending = self._pending, deque()
            self._full.clear()
            if not batch:
                return 0
            started = time.perf_counter()
            try:
                async with writing(self._engine, f"write {len(batch)} samples") as conn:
                    created = await insert_samples(conn, batch, self._series, self._node)
            except StoreError as error:
                # Samples recorded meanwhile are newer: they go behind the failed batch.
                batch.extend(self._pending)
                self._pending = batch
                self._trim()
                self._failures.failed(reason=error.reason, pending=len(self._pending))
                raise
            # Only ids of a committed transaction are remembered.
            self._series.update(created)
            # Real elapsed time, not the injected clock: this measures the database.
            self.write_latency_seconds = time.perf_counter() - started
            if self._on_flush is not None:
                self._on_flush(self.write_latency_seconds)
            self._failures.recovered(dropped_total=self.dropped)
            self._dropping = False
            return len(batch)

    async def run(self) -> None:
        """Flush every flush_interval, or at once when a batch is full, until cancelled.

        Write errors never escape: the loop retries with jittered exponential backoff while
        the samples wait in the bounded queue. On cancellation it flushes once more.
        """
        failures = 0
        try:
            while True:
                if failures:
                    # While backing off, a full batch must not cut the pause short: that would
                    # hammer a database that is already failing.
                    await self._clock.sleep(self._backoff(failures))
                else:
                    await self._wait_for_batch()
                try:
                    await self.flush()
                    failures = 0
                except StoreError:
                    failures += 1
        except asyncio.CancelledError:
            try:
                await self.flush()
            except StoreError:
                log.error("samples not written at shutdown", pending=len(self._pending))
            raise

    async def _wait_for_batch(self) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(self._flush_interval))
        full = asyncio.ensure_future(self._full.wait())
        try:
            await asyncio.wait({sleeper, full}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            full.cancel()

    def _backoff(self, failures: int) -> float:
        base = max(self._flush_interval, 0.1) * 2.0 ** min(failures, 16)
        return min(MAX_BACKOFF, base) * random.uniform(0.8, 1.2)

    def _trim(self) -> None:
        over = len(self._pending) - self._max_pending
        if over <= 0:
            return
        for _ in range(over):
            self._pending.popleft()
        self.dropped += over
        if not self._dropping:
            self._dropping = True
            log.warning(
                "sample queue full, dropping the oldest samples",
                max_pending=self._max_pending,
            )
