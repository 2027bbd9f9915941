"""watchd.store.committed: a transaction's tallies are reported only once it committed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import text

from watchd.clock import FakeClock
from watchd.store import Store
from watchd.store.committed import on_commit, tally
from watchd.store.engine import write_transaction


async def test_tallies_of_a_committed_transaction_are_reported_and_of_a_rolled_back_one_not(
    tmp_path: Path,
) -> None:
    """A committed transaction's tallies reach the listener once; a rolled-back one's never,
    not even with the next transaction on the same pooled connection."""
    store = await Store.open(f"sqlite:///{tmp_path / 'w.db'}", clock=FakeClock())
    reports: list[Mapping[str, int]] = []
    on_commit(store.engine, lambda counts: reports.append(dict(counts)))
    try:
        with pytest.raises(RuntimeError):
            async with write_transaction(store.engine) as conn:
                tally(conn, "opened", 2)
                raise RuntimeError("rolled back")
        async with write_transaction(store.engine) as conn:
            await conn.execute(text("SELECT 1"))
            tally(conn, "resolved")
        async with write_transaction(store.engine) as conn:
            await conn.execute(text("SELECT 1"))
        assert reports == [{"resolved": 1}]
    finally:
        await store.close()
