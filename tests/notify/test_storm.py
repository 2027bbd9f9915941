"""The dispatcher in a storm (issue 13): a backlog of hundreds of new incidents against one
real loopback webhook receiver, with the guarantees of the outbox kept: each notification once
(per idempotency key), in order per incident, never more requests at once than the receiver's
concurrency, and the delivery log and timeline written for every outcome."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import event

from tests.notify.conftest import Hook, alert
from tests.notify.test_dispatcher import webhook
from tests.statements import recorded_statements
from watchd.notify import outbox, plan, record
from watchd.store.incident_tables import OutboxState

STORM = 300  # more than the 64 rows a pass used to take (4 tasks x 16 rows)


async def at_once(request: web.Request, n: int) -> None:
    """A receiver behaviour that answers at once."""


class Gauge:
    """A receiver behaviour that answers after a short real wait and keeps the most requests
    it had at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def __call__(self, request: web.Request, n: int) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.002)
        finally:
            self.now -= 1


class Calls:
    """Counts the calls of the async function `name` of `module`, patched for one test."""

    def __init__(self, monkeypatch: Any, module: Any, name: str) -> None:
        self.count = 0
        original = getattr(module, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


@contextlib.asynccontextmanager
async def dispatching(notify: Any) -> AsyncIterator[None]:
    """The dispatcher running on its own (scans woken by commits and its own timers) for the
    body of the block, then stopped."""
    running = asyncio.get_running_loop().create_task(notify.dispatcher.run())
    try:
        yield
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def pumped(notify: Any, hook: Hook, n: int) -> None:
    """Run dispatcher passes, each until its deliveries end, until `hook` has `n` distinct
    notifications, 30 passes at most (the caller asserts)."""
    for _ in range(30):
        await notify.pump(1)
        if len(hook.unique) == n:
            return


async def received(hook: Hook, n: int) -> None:
    """Wait up to 5 s for `hook` to have `n` distinct notifications (the caller asserts)."""
    for _ in range(500):
        if len(hook.unique) == n:
            return
        await asyncio.sleep(0.01)


async def test_a_storm_backlog_goes_out_in_one_pass_once_each_within_the_concurrency(
    make_notify: Any, hook_server: Any
) -> None:
    """300 new incidents are all delivered by one dispatcher pass (not 64 rows per pass, each
    pass reading every open row), each notification once, never more than `concurrency`
    requests at once, each outcome in the delivery log and on its incident's timeline."""
    await deliver_storm(make_notify, hook_server)


async def deliver_storm(make_notify: Any, hook_server: Any) -> None:
    """The storm of the test above, on the store `make_notify` opens (test_postgres too)."""
    gauge = Gauge()
    hook: Hook = await hook_server(gauge)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=5)]})
    await notify.send(*[alert(f"host{i}") for i in range(STORM)])
    delivered = await notify.dispatcher.run_once()
    assert delivered == STORM
    assert len(hook.unique) == STORM == len(hook.received)
    assert 1 < gauge.most <= 5
    rows = await notify.outbox("hook")
    assert {r["state"] for r in rows} == {"delivered"} and len(rows) == STORM
    log = await notify.deliveries("hook")
    assert sorted(d["outbox_id"] for d in log) == sorted(r["id"] for r in rows)
    for incident in (1, STORM // 2, STORM):
        assert [k for k, _ in await notify.timeline(incident)][-1] == "delivered"


async def test_a_storm_larger_than_a_pass_is_claimed_in_passes_and_kept_in_order(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """With more rows than a pass takes, later passes take the rest; an incident's opening
    still goes before its resolution, and every row is delivered once."""
    monkeypatch.setattr(plan, "PER_PASS", 50)
    hook: Hook = await hook_server(Gauge())
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=8)]})
    await notify.send(*[alert(f"host{i}") for i in range(200)])
    await notify.send(*[alert(f"host{i}", firing=False) for i in range(0, 200, 2)])
    await pumped(notify, hook, 300)
    assert len(hook.unique) == 300
    seen: dict[int, list[int]] = {}
    for doc in hook.unique.values():
        seen.setdefault(doc["incident"]["id"], []).append(doc["event"]["seq"])
    assert all(seqs == sorted(seqs) for seqs in seen.values())
    assert sum(len(s) == 2 for s in seen.values()) == 100
    rows = await notify.outbox("hook")
    assert {r["state"] for r in rows} == {"delivered"}


async def test_scans_woken_back_to_back_are_paced_by_their_own_cost(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """A storm's commits wake the dispatcher back to back; each scan reads every open row (here
    made to take 100 ms, as thousands of rows do). After a scan the next one waits at least as
    long as it took, so scanning leaves the loop half its time for the ingestion."""
    hook: Hook = await hook_server(Gauge())
    notify = await make_notify(
        {
            "receivers": [webhook("hook", hook.url)],
            "route": {"mute_time_intervals": ["always"]},
            "notify": {"time_intervals": [{"name": "always"}]},
        }
    )
    await notify.send(*[alert(f"host{i}") for i in range(20)])
    scans: list[tuple[float, float]] = []
    read = outbox.open_rows

    async def slow_read(*args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        await asyncio.sleep(0.1)
        try:
            return await read(*args, **kwargs)
        finally:
            scans.append((began, time.monotonic()))

    monkeypatch.setattr(outbox, "open_rows", slow_read)
    async with dispatching(notify):
        for _ in range(200):  # 1 s of wake-ups every 5 ms
            notify.dispatcher.wake()
            await asyncio.sleep(0.005)
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(scans)]
    assert hook.received == []
    assert len(gaps) >= 2
    assert min(gaps) >= 0.1


async def test_a_storms_delivery_outcomes_are_put_on_the_timelines_a_batch_at_a_time(
    make_notify: Any, hook_server: Any
) -> None:
    """Each delivered notification adds a "delivered" event to its incident; a batch of
    outcomes writes them with one UPDATE of the incidents and one INSERT (before: an UPDATE
    and an INSERT per incident, 300 each). How many outcomes a batch holds depends on timing,
    so the UPDATEs are counted against the batches (one delivery-log INSERT each)."""
    hook: Hook = await hook_server(Gauge())
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=5)]})
    await notify.send(*[alert(f"host{i}") for i in range(STORM)])
    statements = recorded_statements(notify.store.engine)
    assert await notify.dispatcher.run_once() == STORM
    seq_updates = [s for s in statements if s.startswith("UPDATE incidents SET seq")]
    batches = [s for s in statements if s.startswith("INSERT INTO deliveries")]
    assert len(batches) < STORM  # outcomes were written together
    assert len(seq_updates) == len(batches), (len(seq_updates), len(batches))
    for incident in (1, STORM // 2, STORM):
        assert [k for k, _ in await notify.timeline(incident)][-1] == "delivered"


async def test_scans_read_in_full_only_the_rows_that_are_new_or_whose_incident_changed(
    make_notify: Any, hook_server: Any
) -> None:
    """Each scan routes every open row on its incident's member labels. A row is read in full
    (its incident's labels, its members' labels) only when it is new or its incident changed
    since the last scan; routing sees a new member's labels at once, and a row whose state
    changed is seen with its new state. Before, every scan read and decoded all of them."""
    hook: Hook = await hook_server(Gauge())
    notify = await make_notify(
        {
            "receivers": [webhook("hook", hook.url)],
            "route": {"mute_time_intervals": ["always"]},  # the rows stay open
            "notify": {"time_intervals": [{"name": "always"}]},
        }
    )
    await notify.send(alert("host0"), alert("host1"))
    members: list[Any] = []
    whole: list[Any] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM incident_alerts JOIN alerts" in statement:
            members.append(parameters)
        if "outbox.idempotency_key" in statement:
            whole.append(parameters)

    event.listen(notify.store.engine.sync_engine, "before_cursor_execute", before)
    kept = outbox.KeptRows()
    first = await outbox.open_rows(notify.store.engine, kept)
    assert len(members) == len(whole) == 1
    again = await outbox.open_rows(notify.store.engine, kept)
    assert len(members) == len(whole) == 1  # nothing changed: nothing read in full
    assert again == first
    await notify.send(alert("host0", port="2"))  # joins host0's incident
    after = await outbox.open_rows(notify.store.engine, kept)
    assert len(members) == len(whole) == 2
    host0 = next(r for r in after if r.incident_key.startswith("item=host0"))
    assert {"2"} <= {labels.get("port") for labels in host0.label_sets}
    host1 = next(r for r in after if r.incident_key.startswith("item=host1"))
    assert host1 is next(r for r in first if r.incident_key.startswith("item=host1"))
    now = notify.clock.now()
    await outbox.claim(notify.store.engine, [host1], now, now + 60)
    leased = await outbox.open_rows(notify.store.engine, kept)
    assert len(whole) == 2  # a new state is read with the changing columns alone
    host1_now = next(r for r in leased if r.id == host1.id)
    assert (host1_now.state, host1_now.claimed_until) == (OutboxState.DELIVERING, now + 60)
    assert host1_now.label_sets == host1.label_sets


async def test_a_row_read_whole_in_another_state_than_its_columns_is_seen_as_stored_next_scan(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """A scan reads the open rows' columns, then the new rows whole, in two statements: on
    PostgreSQL a claim or release may commit between them. The row is kept as read whole,
    and the next scan compares the stored columns to that row's, not to the first read's:
    here the whole read saw a lease the store no longer has, and the next scan sees the
    row pending again."""
    hook: Hook = await hook_server(Gauge())
    notify = await make_notify(
        {
            "receivers": [webhook("hook", hook.url)],
            "route": {"mute_time_intervals": ["always"]},  # the rows stay open
            "notify": {"time_intervals": [{"name": "always"}]},
        }
    )
    await notify.send(alert("host0"))
    whole = outbox._routed

    async def leased_meanwhile(conn: Any, ids: Any) -> dict[int, outbox.Row]:
        rows = await whole(conn, ids)
        return {
            i: r.moved(OutboxState.DELIVERING, 0, r.next_attempt_at, 1e12) for i, r in rows.items()
        }

    monkeypatch.setattr(outbox, "_routed", leased_meanwhile)
    kept = outbox.KeptRows()
    (first,) = await outbox.open_rows(notify.store.engine, kept)
    assert first.state is OutboxState.DELIVERING
    monkeypatch.setattr(outbox, "_routed", whole)
    (again,) = await outbox.open_rows(notify.store.engine, kept)
    assert (again.state, again.claimed_until) == (OutboxState.PENDING, None)


async def test_a_worker_sends_the_next_notification_while_the_last_outcome_is_committed(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """With one request at a time, the next incident's notification is sent while the outcome
    of the one before is still being committed (before, each waited for its commit, behind
    the ingestion's writes in a storm); every outcome is still recorded, each row once."""
    write = record._write_batch

    async def slow_write(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.05)
        await write(*args, **kwargs)

    monkeypatch.setattr(record, "_write_batch", slow_write)
    delivered_before: list[int] = []
    notify: Any = None

    async def count(request: web.Request, n: int) -> None:
        rows = await notify.outbox("hook")
        delivered_before.append(sum(r["state"] == "delivered" for r in rows))

    hook: Hook = await hook_server(count)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=1)]})
    await notify.send(*[alert(f"host{i}") for i in range(6)])
    assert await notify.dispatcher.run_once() == 6
    assert len(hook.unique) == 6 == len(hook.received)
    assert any(done < n for n, done in enumerate(delivered_before))
    assert {r["state"] for r in await notify.outbox("hook")} == {"delivered"}
    assert len(await notify.deliveries("hook")) == 6


async def test_wake_ups_do_not_scan_while_the_receivers_queue_is_more_than_half_full(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """While a receiver has more than half a pass of claimed rows queued, the commits that
    wake the dispatcher start no scan (in a storm, one per ingestion commit, each reading
    every open row); the queue going down to half starts the next one, and every
    notification goes out once."""
    monkeypatch.setattr(plan, "PER_PASS", 4)
    go, arrived = asyncio.Event(), asyncio.Event()

    async def held(request: web.Request, n: int) -> None:
        arrived.set()
        await go.wait()

    hook: Hook = await hook_server(held)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=1)]})
    await notify.send(*[alert(f"host{i}") for i in range(10)])
    scans = Calls(monkeypatch, outbox, "open_rows")
    async with dispatching(notify):
        await asyncio.wait_for(arrived.wait(), 10)
        for _ in range(20):
            notify.dispatcher.wake()
            await asyncio.sleep(0.01)
        assert scans.count == 1
        go.set()
        await received(hook, 10)
    assert len(hook.unique) == 10 == len(hook.received)
    assert scans.count > 1


async def test_a_storms_outcomes_are_committed_several_jobs_of_each_worker_at_a_time(
    make_notify: Any, hook_server: Any
) -> None:
    """A worker sends on while up to OPEN_JOBS of its jobs wait for their outcomes' commit, so
    the recorder commits many outcomes together. With two open jobs per worker, against a
    receiver that answers at once, a batch held about one outcome per worker."""
    hook: Hook = await hook_server(at_once)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=5)]})
    await notify.send(*[alert(f"host{i}") for i in range(STORM)])
    statements = recorded_statements(notify.store.engine)
    assert await notify.dispatcher.run_once() == STORM
    batches = [s for s in statements if s.startswith("INSERT INTO deliveries")]
    assert len(batches) <= STORM // 8, len(batches)  # 60 with two open jobs, 25 with five
    assert len(hook.unique) == STORM == len(hook.received)


async def test_rows_claimed_while_every_worker_waits_on_its_commits_still_go_out(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """A pass that queues rows while the receiver's only worker is ending (its queue empty,
    waiting for its outcomes' commit) gets a worker once that one ends. Before, none was
    started: the queue was more than half a pass, so no scan started one either, and the
    rows stayed leased and unsent (a storm end to end on the daemon stopped after its first
    hundred notifications)."""
    monkeypatch.setattr(plan, "PER_PASS", 4)
    write = record.Recorder._write
    committing = asyncio.Event()

    async def slow_write(self: record.Recorder, batch: Any) -> None:
        committing.set()
        await asyncio.sleep(0.3)  # before its transaction: the ingestion may write meanwhile
        await write(self, batch)

    monkeypatch.setattr(record.Recorder, "_write", slow_write)
    hook: Hook = await hook_server(at_once)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=1)]})
    await notify.send(alert("host0"))
    async with dispatching(notify):
        await asyncio.wait_for(committing.wait(), 10)  # the worker's queue is empty: it ends
        await notify.send(*[alert(f"host{i}") for i in range(1, 7)])
        notify.dispatcher.wake()
        await received(hook, 7)
    assert len(hook.unique) == 7 == len(hook.received)


async def test_a_backlog_many_passes_large_is_claimed_in_a_handful_of_passes(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """Each pass reads every open row: a backlog twenty times a pass's size is taken in a
    quarter of it per pass (about five passes and a last one), not twenty passes over it,
    when other nodes may deliver from the store too; every row is delivered once."""
    monkeypatch.setattr(plan, "PER_PASS", 10)
    hook: Hook = await hook_server(at_once)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=4)]})
    await notify.send(*[alert(f"host{i}") for i in range(200)])
    claims = Calls(monkeypatch, outbox, "claim")
    await pumped(notify, hook, 200)
    assert len(hook.unique) == 200 == len(hook.received)
    assert claims.count <= 10, claims.count  # 20 with PER_PASS rows a pass


async def test_a_daemon_alone_on_its_store_claims_a_whole_backlog_in_one_pass(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """With no other node to leave rows to (the daemon holds its SQLite file), the first pass
    claims the whole backlog (up to MAX_PER_PASS) instead of a quarter of it: the backlog is
    read and planned once, not in ten passes over what is left. Every row is delivered once."""
    monkeypatch.setattr(plan, "PER_PASS", 10)
    hook: Hook = await hook_server(at_once)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=4)]}, sole=True)
    await notify.send(*[alert(f"host{i}") for i in range(200)])
    claims = Calls(monkeypatch, outbox, "claim")
    await pumped(notify, hook, 200)
    assert len(hook.unique) == 200 == len(hook.received)
    assert claims.count == 1, claims.count  # 10 with a quarter of the backlog a pass


async def test_a_daemon_alone_on_its_store_still_claims_at_most_max_per_pass_rows(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """The rows a pass claims hold their documents until sent: alone on its store, a pass
    still takes no more than MAX_PER_PASS of a larger backlog."""
    monkeypatch.setattr(plan, "PER_PASS", 10)
    monkeypatch.setattr(plan, "MAX_PER_PASS", 50)
    hook: Hook = await hook_server(at_once)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=4)]}, sole=True)
    await notify.send(*[alert(f"host{i}") for i in range(200)])
    sizes: list[int] = []
    claim = outbox.claim

    async def counted(engine: Any, rows: Any, *args: Any) -> Any:
        sizes.append(len(rows))
        return await claim(engine, rows, *args)

    monkeypatch.setattr(outbox, "claim", counted)
    await pumped(notify, hook, 200)
    assert len(hook.unique) == 200 == len(hook.received)
    assert sizes and max(sizes) == 50, sizes


async def claimed_rows_hold_their_stored_text(make_notify: Any) -> None:
    """Claim two rows: each holds its document as the stored JSON text, and decodes to it."""
    notify = await make_notify({"receivers": [webhook("hook", "http://127.0.0.1:9/hook")]})
    await notify.send(alert("host1"), alert("host2"))
    engine = notify.store.engine
    now = notify.clock.now()
    claimed = await outbox.claim(engine, await outbox.open_rows(engine), now, now + 60)
    stored = {r["id"]: r["payload"] for r in await notify.outbox("hook")}
    assert len(claimed) == 2 and [r.payload for r in claimed] == [None, None]
    assert all(json.loads(r.payload_text or "") == stored[r.id] for r in claimed)
    assert all(r.decoded().payload == stored[r.id] for r in claimed)
    assert all(r.decoded().payload_text is None for r in claimed)


async def test_claimed_rows_hold_their_documents_as_text_until_their_job_is_served(
    make_notify: Any,
) -> None:
    """A claim reads each row's document as its stored JSON text, decoded when the row's job
    is served: a pass of thousands of rows neither decodes them all inside the transaction
    that holds the store's write lock, nor keeps them decoded (~4.2 KB each against ~1.2 KB
    of text) while they wait in the receiver's queue."""
    await claimed_rows_hold_their_stored_text(make_notify)


async def test_a_daemon_alone_on_its_store_does_not_read_again_the_rows_it_holds(
    make_notify: Any, hook_server: Any, monkeypatch: Any
) -> None:
    """Alone on its store, a pass reads only the rows free now: the ten it claimed and holds
    (queued behind a receiver that has not answered yet) are not read again by the pass that
    comes for four new ones, and the new resolution of a held incident still waits for the
    opening before it. Every notification goes out once, in order per incident."""
    monkeypatch.setattr(plan, "PER_PASS", 100)  # no pass is skipped as saturated here
    go, arrived = asyncio.Event(), asyncio.Event()

    async def held(request: web.Request, n: int) -> None:
        arrived.set()
        await go.wait()

    hook: Hook = await hook_server(held)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, concurrency=1)]}, sole=True)
    await notify.send(*[alert(f"host{i}") for i in range(10)])
    reads: list[int] = []
    read = outbox.open_rows

    async def counted(*args: Any, **kwargs: Any) -> Any:
        rows = await read(*args, **kwargs)
        reads.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "open_rows", counted)
    async with dispatching(notify):
        await asyncio.wait_for(arrived.wait(), 10)  # all ten claimed, host0's sent
        await notify.send(alert("host9", firing=False), *[alert(f"new{i}") for i in range(3)])
        for _ in range(500):
            if len(reads) > 1:
                break
            await asyncio.sleep(0.01)
        assert reads[0] == 10 and reads[1] == 4, reads  # 14: every open row, before
        go.set()
        await received(hook, 14)
    assert len(hook.unique) == 14 == len(hook.received)
    order = [(d["incident"]["item"], d["event"]["kind"]) for d in hook.unique.values()]
    assert order.index(("host9", "opened")) < order.index(("host9", "resolved"))
    assert {r["state"] for r in await notify.outbox("hook")} == {"delivered"}
