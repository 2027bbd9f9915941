"""Issue 19, finding 6, at the store: a claimed SQLite file is locked and watched."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from watchd.clock import FakeClock
from watchd.model import Alert, AlertStatus
from watchd.store import Store, StoreError, StoreLocked


def alert(name: str) -> Alert:
    return Alert({"alertname": name}, AlertStatus.FIRING, 100.0)


async def test_a_second_claim_is_refused_naming_the_file_and_the_holder(tmp_path: Path) -> None:
    """A second daemon's store on a claimed file is refused with the file and the holder's pid, while an unclaimed (CLI) store still reads and writes it."""
    url = f"sqlite:///{tmp_path}/watchd.db"
    first = await Store.open(url, clock=FakeClock(), claim=True)
    try:
        with pytest.raises(StoreLocked) as refused:
            await Store.open(url, clock=FakeClock(), claim=True)
        assert str(tmp_path / "watchd.db") in str(refused.value)
        assert f"pid {os.getpid()}" in str(refused.value)
        cli = await Store.open(url, clock=FakeClock())
        await cli.record_alerts([alert("FromCli")])
        assert [a.name for a in await first.alerts()] == ["FromCli"]
        await cli.close()
    finally:
        await first.close()
    again = await Store.open(url, clock=FakeClock(), claim=True)  # released at close
    await again.close()


@pytest.mark.parametrize("replace", [False, True])
async def test_a_lost_file_refuses_writes_and_leaves_a_full_copy(
    tmp_path: Path, replace: bool
) -> None:
    """Once its file is deleted or replaced the store refuses every commit and saves a copy holding everything committed before."""
    db = tmp_path / "watchd.db"
    store = await Store.open(f"sqlite:///{db}", clock=FakeClock(), claim=True)
    try:
        await store.record_alerts([alert("Before")])
        assert store.file_lost() is None
        db.unlink()
        if replace:
            sqlite3.connect(db).close()
        with pytest.raises(StoreError, match=r"was (deleted|replaced)"):
            await store.record_alerts([alert("After")])
        assert str(db) in (store.file_lost() or "")
        await store.watch_file(interval=0.01)  # returns once it has reported
    finally:
        await store.close()
    (copy,) = [p for p in os.listdir(tmp_path) if p.startswith("watchd.db.lost-")]
    with sqlite3.connect(tmp_path / copy) as saved:
        labels = [json.loads(row[0]) for row in saved.execute("SELECT labels FROM alerts")]
    assert labels == [{"alertname": "Before"}]
    assert not replace or db.stat().st_size == 0  # the replacement is left alone
