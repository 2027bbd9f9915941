"""HTTP ingestion's journal (watchd.ingest.journal), on a real pipeline and store (SQLite and
PostgreSQL): answered at once while the pipeline is busy, taken in behind, in order, durably."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.pipeline.conftest import Harness, alert, settings_from
from watchd.clock import FakeClock
from watchd.ingest.journal import QUIET, IngestJournal
from watchd.model import Alert
from watchd.pipeline.alert_pipeline import AlertPipeline
from watchd.store import Store, StoreError
from watchd.store import journal as stored_journal
from watchd.store.engine import writing
from watchd.store.journal import ingest_journal


class GatedSink:
    """The real pipeline behind a gate the test opens: it holds the moment the pipeline is
    busy (taking a batch in), which no real load makes happen at a chosen instant."""

    def __init__(self, harness: Harness | AlertPipeline) -> None:
        self._pipeline = harness.pipeline if isinstance(harness, Harness) else harness
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.batches: list[tuple[Alert, ...]] = []

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        self.entered.set()
        await self.gate.wait()
        self.batches.append(alerts)
        await self._pipeline.submit(alerts)


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait (real time: the store's thread works meanwhile) until `condition` holds."""
    async with asyncio.timeout(seconds):
        while True:
            result = condition()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.01)


async def journal_rows(harness: Harness) -> int:
    async with harness.store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(ingest_journal))).scalar())


async def leave_rows(harness: Harness, node: str, *batches: tuple[Alert, ...]) -> None:
    """Rows as a process that was killed before taking them in left them."""
    async with writing(harness.store.engine, "test") as conn:
        for alerts in batches:
            await stored_journal.append(conn, node, harness.clock.now(), alerts)


async def started(harness: Harness, sink: object | None = None, **limits: float) -> IngestJournal:
    journal = IngestJournal(
        harness.store.engine,
        sink or harness.pipeline,  # type: ignore[arg-type]
        clock=harness.clock,
        node="me",
        **limits,  # type: ignore[arg-type]
    )
    await journal.recover(every_node=False)
    return journal


async def firing_states(harness: Harness) -> dict[str, str]:
    return {a.labels["item"]: a.status.value for a in await harness.store.alerts()}


async def test_a_request_finding_the_pipeline_idle_is_answered_once_its_incident_is_open(
    harness: Harness,
) -> None:
    journal = await started(harness)
    assert await journal.submit((alert("db1"),)) == []
    assert [i["title"] for i in await harness.incidents()] != []
    assert await journal_rows(harness) == 0
    assert journal.backlog == 0


async def test_requests_arriving_while_the_pipeline_is_busy_are_answered_then_taken_in_in_order(
    harness: Harness,
) -> None:
    sink = GatedSink(harness)
    journal = await started(harness, sink)
    sink.gate.clear()
    first = asyncio.create_task(journal.submit((alert("db1"),)))
    await sink.entered.wait()  # the pipeline is busy with db1
    # Answered while db1 is still being taken in: journaled, durably.
    await journal.submit((alert("db2"),))
    await journal.submit((alert("db2", firing=False), alert("db3")))
    assert not first.done()
    assert await journal_rows(harness) == 2
    assert journal.backlog == 3
    # What the Alertmanager API lists as unprocessed: the latest of each, firing ones only.
    assert [a.labels["item"] for a, _ in journal.unprocessed()] == ["db3"]
    sink.gate.set()
    assert await first == []
    await harness.clock.advance(QUIET)  # the requests paused: the journal is taken in
    await until(lambda: journal.backlog == 0)
    assert await firing_states(harness) == {"db1": "firing", "db2": "resolved", "db3": "firing"}
    # The two journaled requests were taken in together, in the order they were answered.
    assert [[a.labels["item"] for a in batch] for batch in sink.batches] == [
        ["db1"],
        ["db2", "db2", "db3"],
    ]
    await until(lambda: _no_rows(harness))


async def _no_rows(harness: Harness) -> bool:
    return await journal_rows(harness) == 0


async def test_while_requests_keep_coming_journaled_alerts_wait_at_most_max_lag(
    harness: Harness,
) -> None:
    sink = GatedSink(harness)
    journal = await started(harness, sink, max_lag=1.0)
    sink.gate.clear()
    first = asyncio.create_task(journal.submit((alert("db1"),)))
    await sink.entered.wait()
    await journal.submit((alert("db2"),))
    sink.gate.set()
    await first
    # A request every 20 ms (less than QUIET apart): taking db2 in waits, the senders first.
    for n in range(3, 40):
        await harness.clock.advance(0.02)
        await journal.submit((alert(f"db{n}"),))
        if harness.clock.monotonic() < 0.9:
            assert "db2" not in await firing_states(harness)
    await harness.clock.advance(0.3)  # db2 was accepted over max_lag ago
    await until(lambda: journal.backlog == 0)
    assert len(await firing_states(harness)) == 39


async def test_alerts_a_killed_process_journaled_are_taken_in_at_the_next_start(
    harness: Harness,
) -> None:
    await leave_rows(harness, "me", (alert("db1"), alert("db2")), (alert("db1", firing=False),))
    journal = IngestJournal(harness.store.engine, harness.pipeline, clock=harness.clock, node="me")
    assert await journal.recover(every_node=False) == 3
    await until(lambda: journal.backlog == 0)
    assert await firing_states(harness) == {"db1": "resolved", "db2": "firing"}
    await until(lambda: _no_rows(harness))


async def test_an_alert_whose_end_passed_while_watchd_was_away_is_taken_in_resolved(
    harness: Harness,
) -> None:
    ends = harness.clock.now() + 60
    await leave_rows(harness, "me", (alert("db1", ends_at=ends),))
    await harness.clock.advance(120)  # watchd was away past the alert's end
    journal = await started(harness)
    await until(lambda: journal.backlog == 0)
    assert await firing_states(harness) == {"db1": "resolved"}
    assert [i["state"] for i in await harness.incidents()] == []


async def test_a_live_node_takes_over_the_journal_a_dead_node_left_and_only_that(
    harness: Harness,
) -> None:
    await leave_rows(harness, "dead", (alert("db1"),))
    await leave_rows(harness, "alive", (alert("db2"),))
    journal = await started(harness)
    await journal.adopt(["me", "alive"])
    await until(lambda: journal.backlog == 0)
    assert await firing_states(harness) == {"db1": "firing"}
    assert await journal_rows(harness) == 1  # the live node's own row, left to it


async def test_past_max_backlog_a_request_waits_for_room(harness: Harness) -> None:
    sink = GatedSink(harness)
    journal = await started(harness, sink, max_backlog=2)
    sink.gate.clear()
    first = asyncio.create_task(journal.submit((alert("db1"),)))
    await sink.entered.wait()
    await journal.submit((alert("db2"), alert("db3")))
    third = asyncio.create_task(journal.submit((alert("db4"),)))
    await asyncio.sleep(0.05)
    assert not third.done()  # two alerts wait already: no room
    sink.gate.set()
    await first
    await harness.clock.advance(QUIET)
    await asyncio.wait_for(third, 10)
    await harness.clock.advance(QUIET)
    await until(lambda: journal.backlog == 0)
    assert set(await firing_states(harness)) == {"db1", "db2", "db3", "db4"}


def refused_by_store(harness: Harness) -> Alert:
    """An alert the store itself refuses (as in tests/hardening/test_isolation.py)."""
    if harness.store.engine.dialect.name == "postgresql":
        return alert("db\u0000")
    return replace(alert("bad", name="check_nan"), starts_at=math.nan)


async def test_an_alert_the_store_refuses_after_it_was_journaled_is_dropped_alone_and_counted(
    harness: Harness,
) -> None:
    await leave_rows(harness, "me", (alert("db1"), refused_by_store(harness), alert("db2")))
    journal = await started(harness)
    await until(lambda: journal.backlog == 0)
    assert set(await firing_states(harness)) == {"db1", "db2"}
    assert journal.refused == 1
    await until(lambda: _no_rows(harness))


async def test_stopping_leaves_journaled_alerts_for_the_next_start(harness: Harness) -> None:
    sink = GatedSink(harness)
    journal = await started(harness, sink)
    sink.gate.clear()
    first = asyncio.create_task(journal.submit((alert("db1"),)))
    await sink.entered.wait()
    await journal.submit((alert("db2"),))
    await journal.stop()
    with pytest.raises(Exception, match="stopping"):
        await first  # its sender gets 503 and sends it again
    assert await journal_rows(harness) == 1
    again = await started(harness)
    await until(lambda: again.backlog == 0)
    assert await firing_states(harness) == {"db2": "firing"}


async def test_while_the_store_is_locked_requests_get_the_outage_and_journaled_alerts_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the journal cannot take is refused as an outage (HTTP 503: sent again); a
    journaled alert the pipeline cannot take in waits and goes in once the store is back."""
    monkeypatch.setattr("watchd.store.engine.BUSY_TIMEOUT_MS", 200)
    clock = FakeClock()
    store = await Store.open(f"sqlite:///{tmp_path}/locked.db", clock=clock)
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        sink = GatedSink(AlertPipeline(store.engine, clock=clock, settings=settings_from({})))
        journal = IngestJournal(store.engine, sink, clock=clock)
        await journal.recover(every_node=True)
        sink.gate.clear()
        first = asyncio.create_task(journal.submit((alert("db1"),)))
        await sink.entered.wait()
        other.execute("BEGIN EXCLUSIVE")  # another process holds the database
        with pytest.raises(StoreError):
            await journal.submit((alert("db2"),))
        other.execute("ROLLBACK")
        await journal.submit((alert("db3"),))  # journaled
        other.execute("BEGIN EXCLUSIVE")
        sink.gate.set()
        with pytest.raises(StoreError):
            await first  # taken in at once, so refused at once: its sender sends it again
        await asyncio.sleep(0.5)  # db3's take-in failed too: it waits, retried with backoff
        assert journal.backlog == 1
        other.execute("ROLLBACK")
        await clock.advance(1.0)
        await until(lambda: journal.backlog == 0)
        assert {a.labels["item"] for a in await store.alerts()} == {"db3"}
    finally:
        other.close()
        await store.close()


async def test_a_journal_row_that_cannot_be_read_is_left_and_logged_and_the_rest_taken_in(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    await leave_rows(harness, "me", (alert("db1"),))
    async with writing(harness.store.engine, "test") as conn:
        await conn.execute(
            ingest_journal.insert().values(
                node="me", received_at=harness.clock.now(), count=1, alerts='{"not": "alerts"}'
            )
        )
    await leave_rows(harness, "me", (alert("db2"),))
    journal = await started(harness)
    await until(lambda: journal.backlog == 0)
    assert await firing_states(harness) == {"db1": "firing", "db2": "firing"}
    await until(lambda: _one_row(harness))  # the unreadable row stays: nothing is dropped
    assert "ingest_journal_row_unreadable" in capsys.readouterr().out


async def _one_row(harness: Harness) -> bool:
    return await journal_rows(harness) == 1


async def test_rows_another_node_took_over_while_this_one_was_seen_dead_are_not_taken_in_again(
    harness: Harness,
) -> None:
    sink = GatedSink(harness)
    journal = IngestJournal(harness.store.engine, sink, clock=harness.clock, node="me", shared=True)
    await journal.recover(every_node=False)
    sink.gate.clear()
    first = asyncio.create_task(journal.submit((alert("db1"),)))
    await sink.entered.wait()
    await journal.submit((alert("db2"),))  # journaled by "me"
    other = IngestJournal(
        harness.store.engine, harness.pipeline, clock=harness.clock, node="other", shared=True
    )
    await other.recover(every_node=False)
    await other.adopt(["other"])  # "me" is seen dead: its row taken over, and in
    await until(lambda: other.backlog == 0)
    sink.gate.set()
    await first
    await harness.clock.advance(QUIET)  # the requests paused: "me" takes its queue in
    await until(lambda: journal.backlog == 0)
    assert [[a.labels["item"] for a in batch] for batch in sink.batches] == [["db1"]]
    assert await firing_states(harness) == {"db1": "firing", "db2": "firing"}
