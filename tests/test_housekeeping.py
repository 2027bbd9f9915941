"""Housekeeping jobs: retention bounds the sample table; a failing job is isolated and retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

from watchd.clock import FakeClock
from watchd.housekeeping import Housekeeping, Job, retention_job
from watchd.store import AvailabilitySample, Store


async def test_retention_deletes_only_samples_older_than_the_retention(tmp_path: Path) -> None:
    """Samples older than the retention go, newer ones stay."""
    clock = FakeClock()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", clock=clock)
    try:
        now = clock.now()
        for age in (10 * 86400, 3 * 86400, 3600, 60):
            store.record_sample(AvailabilitySample("host", "cpu", now - age, 0, 0.01))
        await store.flush()
        removed = await retention_job(store, clock, keep=2 * 86400).run()
        assert removed == 2
        assert sorted(now - s.time for s in await store.samples()) == [60, 3600]
    finally:
        await store.close()


async def test_jobs_run_on_their_interval_and_a_failing_job_does_not_stop_others() -> None:
    """A job that raises keeps its schedule and does not prevent another job from running."""
    calls: dict[str, int] = {"good": 0, "bad": 0}

    async def good() -> None:
        calls["good"] += 1

    async def bad() -> None:
        calls["bad"] += 1
        raise RuntimeError("database is locked")

    hk = Housekeeping()
    hk.add(Job("good", good, every=0.1))
    hk.add(Job("bad", bad, every=0.1))
    hk.start()
    try:
        await asyncio.sleep(0.55)
    finally:
        hk.shutdown()
    assert sorted(hk.job_ids()) == ["bad", "good"]
    assert calls["good"] >= 3
    assert calls["bad"] >= 3


async def test_jobs_run_only_while_this_node_holds_the_singleton_lease() -> None:
    """A node without the cluster's lease skips its housekeeping runs until it holds it."""
    calls: list[str] = []
    holding = False

    async def prune() -> None:
        calls.append("prune")

    hk = Housekeeping(active=lambda: holding)
    hk.add(Job("prune", prune, every=0.1))
    hk.start()
    try:
        await asyncio.sleep(0.35)
        assert calls == []
        holding = True
        await asyncio.sleep(0.35)
    finally:
        hk.shutdown()
    assert len(calls) >= 2
