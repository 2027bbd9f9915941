"""Durability: what flush() reported written survives the process being killed (SIGKILL)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from watchd.clock import FakeClock
from watchd.store import Store

CHILD = """
import asyncio, sys, time
from watchd.clock import SystemClock
from watchd.store import AvailabilitySample, Store

async def main() -> None:
    store = await Store.open(sys.argv[1], clock=SystemClock())
    for i in range(500):
        store.record_sample(AvailabilitySample("web1", "http", float(i), 0, 0.01))
    await store.flush()
    await store.save_state("checks", "web1/http", {"state": "HARD"})
    store.record_sample(AvailabilitySample("web1", "http", 999.0, 0, 0.01))  # never flushed
    print("flushed", flush=True)
    time.sleep(60)  # killed long before this ends; blocks the loop so nothing else is written

asyncio.run(main())
"""


@pytest.mark.integration
async def test_flushed_samples_survive_sigkill(tmp_path: Path) -> None:
    """Samples and states written before a SIGKILL are in the SQLite file after a reopen."""
    url = f"sqlite:///{tmp_path}/watchd.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
        assert line.strip() == b"flushed"
    finally:
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), timeout=30)
    assert child.returncode == -signal.SIGKILL

    store = await Store.open(url, clock=FakeClock())
    try:
        assert await store.sample_count() == 500
        assert await store.load_states("checks") == {"web1/http": {"state": "HARD"}}
    finally:
        await store.close()
