"""The buffering sink: watchd's own alerts wait out a failing store, in order, and are stored later."""

from __future__ import annotations

import asyncio

from watchd.clock import FakeClock
from watchd.model import Alert, AlertStatus
from watchd.pipeline.buffer import BufferedSink
from watchd.store import StoreError


class FlakyPipeline:
    """A pipeline that fails while `down` is set, as it does on a locked or full store."""

    def __init__(self) -> None:
        self.down = False
        self.stored: list[str] = []

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        if self.down:
            raise StoreError("process alerts", "database is locked")
        self.stored += [a.name for a in alerts]


def alert(name: str) -> Alert:
    return Alert(labels={"alertname": name}, status=AlertStatus.FIRING, starts_at=0.0)


async def test_alerts_wait_while_the_store_fails_and_arrive_in_order_after() -> None:
    """Alerts submitted during a store outage are kept and stored in their original order once it recovers."""
    clock = FakeClock()
    pipeline = FlakyPipeline()
    sink = BufferedSink(pipeline, clock=clock)
    retry = asyncio.create_task(sink.run())
    await sink.submit((alert("a"),))
    pipeline.down = True
    await sink.submit((alert("b"),))
    await sink.submit((alert("c"),))
    await clock.advance(5)
    assert sink.pending == 2
    pipeline.down = False
    await sink.submit((alert("d"),))  # must queue behind b and c, not overtake them
    await clock.advance(60)
    retry.cancel()
    assert pipeline.stored == ["a", "b", "c", "d"]
    assert sink.pending == 0


async def test_a_store_outage_never_raises_into_the_producer() -> None:
    """A check or rule submitting during an outage is not interrupted by the failure."""
    pipeline = FlakyPipeline()
    pipeline.down = True
    sink = BufferedSink(pipeline, clock=FakeClock())
    await sink.submit((alert("x"),))
    assert sink.pending == 1


async def test_memory_is_bounded_and_the_loss_is_counted() -> None:
    """Past max_pending the oldest waiting alerts are dropped and counted."""
    pipeline = FlakyPipeline()
    pipeline.down = True
    sink = BufferedSink(pipeline, clock=FakeClock(), max_pending=3)
    for name in "abcde":
        await sink.submit((alert(name),))
    assert sink.pending == 3
    assert sink.dropped == 2


class SlowPipeline(FlakyPipeline):
    """A pipeline whose store takes a while: alerts queue up while a retry is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        if self.down:
            raise StoreError("process alerts", "database is locked")
        await self.release.wait()
        self.stored += [a.name for a in alerts]


async def test_alerts_queued_during_a_retry_are_not_lost_when_the_queue_overflows() -> None:
    """A retry in flight while newer alerts overflow the queue stores what it sent and keeps the rest."""
    clock = FakeClock()
    pipeline = SlowPipeline()
    pipeline.down = True
    sink = BufferedSink(pipeline, clock=clock, max_pending=3)
    retry = asyncio.create_task(sink.run())
    for name in "abc":
        await sink.submit((alert(name),))
    pipeline.down = False
    await clock.advance(1)  # the retry of a, b, c is now in flight
    for name in "de":
        await sink.submit((alert(name),))  # overflow: a and b leave the queue
    pipeline.release.set()
    await clock.advance(1)
    await clock.advance(60)
    retry.cancel()
    assert pipeline.stored[:3] == ["a", "b", "c"]
    assert pipeline.stored[3:] == ["d", "e"]
    assert sink.pending == 0
