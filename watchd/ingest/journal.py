"""Accept first, take in right behind: HTTP ingestion that keeps up with an alert storm.

A request whose alerts find the pipeline idle is taken in at once and answered once its
alerts, incidents and notifications are committed: a store that refuses one of its alerts is
a 400 naming it, as before. A request that arrives while the pipeline is busy does not wait
for it: its alerts are journaled (one INSERT per group of requests, watchd.store.journal) and
it is answered 200; the pipeline takes them in behind the alerts before them, in the order
they were accepted, several requests per transaction.

While requests keep coming (one at least every QUIET seconds) journaled alerts wait up to
`max_lag` before they are taken in, so the senders are answered first: in a storm, a sender
whose requests are slow falls behind (Prometheus drops alerts once its queue to an
Alertmanager is full) while the pipeline catches up in bigger batches as soon as the
requests pause. More than `max_backlog` alerts waiting makes new requests wait for room, so a
sender faster than the pipeline for good is slowed down to its pace (backpressure).

A journal row is deleted once the pipeline has committed its alerts, before the next batch is
taken in. Rows left by a process that stopped or was killed are taken in first at the next
start (`recover`); in a cluster, rows left by a node that died are taken over by a live one
(`adopt`), and a node that was only cut off checks before each batch that its rows are still
its own. A batch committed just before a kill is taken in again: every alert of it is then
a repeat of what is stored and changes nothing. Until they are taken in, journaled alerts are
what Alertmanager's API lists as "unprocessed" (`unprocessed`). An alert taken in after its
end (endsAt passed while watchd was away) is taken in resolved. Alerts the pipeline refuses alone after they
were answered 200 are logged and counted (refused), as the retry buffer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.failures import FailureLog
from watchd.logging import get_logger
from watchd.model import Alert, AlertSink, AlertStatus
from watchd.pipeline.isolate import Refused, submit_isolating
from watchd.store import StoreError, journal
from watchd.store.engine import reading, writing
from watchd.store.journal import Entry

log = get_logger("watchd.ingest.journal")

QUIET = 0.05  # a pause between requests this long ends a storm's burst: take alerts in then
MAX_BATCH = 5_000  # alerts taken in per transaction at most
MAX_BACKOFF = 30.0  # seconds between attempts while the store cannot take alerts in


@dataclass(frozen=True)
class _Waiting:
    """Alerts taken in at once: their request waits for the outcome."""

    alerts: tuple[Alert, ...]
    done: asyncio.Future[list[Refused]]


@dataclass(frozen=True)
class _Journaling:
    """Alerts to journal: their request waits for the commit of their row."""

    alerts: tuple[Alert, ...]
    done: asyncio.Future[None]


Queued = TypeVar("Queued", _Waiting, _Journaling, Entry)


def _head_run(items: Iterable[object], kind: type[Queued], limit: int) -> list[Queued]:
    """The items of `kind` at the head of `items` that go into one transaction: up to `limit`
    alerts in all, one item at least (a request may hold more)."""
    run: list[Queued] = []
    size = 0
    for item in items:
        if not isinstance(item, kind) or (run and size + len(item.alerts) > limit):
            break
        run.append(item)
        size += len(item.alerts)
    return run


class IngestJournal:
    """The HTTP ingestion's way into the pipeline (`sink`): at once when it is idle, through
    the journal in `engine` when it is busy. Without an engine (the routes over a plain sink)
    every request waits for its alerts to be taken in, requests arriving meanwhile together.

    The task taking alerts in starts when some are queued and ends when none are; `stop`
    ends it for good (at shutdown)."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        sink: AlertSink,
        *,
        clock: Clock,
        node: str = "",
        shared: bool = False,
        max_lag: float = 1.0,
        max_backlog: int = 50_000,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._clock = clock
        self._node = node
        self._shared = shared  # other nodes may take this node's rows over (PostgreSQL)
        self._max_lag = max_lag
        self._max_backlog = max_backlog
        self._max_batch = max_batch
        self._queue: deque[Entry | _Waiting] = deque()
        self._journaled = 0  # alerts in the journal's rows not taken in yet
        self._appending = 0  # alerts of the INSERT under way
        self._appends: deque[_Journaling] = deque()
        self._appender: asyncio.Task[None] | None = None
        self._taker: asyncio.Task[None] | None = None
        self._taking_in = False
        self._recovered = engine is None
        self._stopped = False  # nothing more taken in here: journaled, for the next start
        self._last_request = -math.inf
        self._room = asyncio.Event()
        self._unremoved: list[int] = []  # rows taken in whose delete failed: deleted next time
        self._stalled = FailureLog(
            log, failing="ingest_journal_stalled", recovered="ingest_journal_taking_in_again"
        )
        self._refusing = FailureLog(
            log, failing="ingest_store_refused", recovered="ingest_store_accepting_again"
        )
        self.refused = 0

    def reconfigure(self, *, max_lag: float, max_backlog: int) -> None:
        """Use new limits (after a reload) from now on."""
        self._max_lag, self._max_backlog = max_lag, max_backlog
        self._room.set()

    @property
    def backlog(self) -> int:
        """Alerts accepted and not taken in by the pipeline yet (journaled or being journaled)."""
        waiting = sum(len(a.alerts) for a in self._appends)
        return self._journaled + self._appending + waiting

    def unprocessed(self) -> list[tuple[Alert, float]]:
        """The alerts answered and not taken in yet, with when they were: the latest of each
        fingerprint, firing ones only (Alertmanager's API lists them as "unprocessed")."""
        latest: dict[str, tuple[Alert, float]] = {}
        for item in self._queue:
            if isinstance(item, Entry):
                latest.update((a.fingerprint, (a, item.received_at)) for a in item.alerts)
        return [(a, at) for a, at in latest.values() if a.status is AlertStatus.FIRING]

    def lag(self) -> float:
        """Seconds the oldest journaled alert has waited to be taken in (0 when none waits)."""
        head = next((item for item in self._queue if isinstance(item, Entry)), None)
        return 0.0 if head is None else max(0.0, self._clock.now() - head.received_at)

    async def submit(self, alerts: tuple[Alert, ...]) -> list[Refused]:
        """Accept `alerts`; return those the store refused alone (by position), in order.

        Returns once they are committed (taken in, or journaled while the pipeline is busy);
        raises StoreError when the store cannot commit them now (the sender retries), and a
        pipeline fault taking them in at once.
        """
        if not alerts:
            return []
        self._last_request = self._clock.monotonic()
        if self._engine is None or self._caught_up():
            return await self._take_in_now(alerts)
        while self.backlog >= self._max_backlog:
            self._room.clear()
            await self._room.wait()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._appends.append(_Journaling(alerts, done))
        if self._appender is None or self._appender.done():
            self._appender = asyncio.create_task(self._append(), name="watchd.ingest-journal")
        # Shielded: a client that goes away does not stop the commit of its alerts.
        await asyncio.shield(done)
        return []

    def _caught_up(self) -> bool:
        return (
            self._recovered
            and not self._stopped
            and not self._taking_in
            and not self._queue
            and not self._appends
            and (self._appender is None or self._appender.done())
        )

    async def _take_in_now(self, alerts: tuple[Alert, ...]) -> list[Refused]:
        if self._stopped:
            raise _stopping()
        done: asyncio.Future[list[Refused]] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append(_Waiting(alerts, done))
        self._start()
        # Shielded: a client that goes away does not stop the commit of its alerts.
        return await asyncio.shield(done)

    async def _append(self) -> None:
        """Journal the requests waiting to be, a group per INSERT, and queue their alerts."""
        assert self._engine is not None  # only requests with a journal are appended
        while self._appends:
            group = _head_run(self._appends, _Journaling, self._max_batch)
            for _ in group:
                self._appends.popleft()
            alerts = tuple(a for part in group for a in part.alerts)
            now = self._clock.now()
            self._appending = len(alerts)
            try:
                async with writing(self._engine, f"journal {len(alerts)} alerts") as conn:
                    seq = await journal.append(conn, self._node, now, alerts)
            except StoreError as exc:
                self._refused(exc)
                for part in group:
                    if not part.done.done():
                        part.done.set_exception(exc)
                continue
            finally:
                self._appending = 0
            self._refusing.recovered()
            self._queued(Entry(seq, now, alerts))
            for part in group:
                if not part.done.done():
                    part.done.set_result(None)

    def _queued(self, entry: Entry) -> None:
        self._queue.append(entry)
        self._journaled += len(entry.alerts)
        self._start()

    def _refused(self, exc: StoreError) -> None:
        if exc.outage:
            self._refusing.failed(
                operation=exc.operation, reason=exc.reason, note="senders get 503 and retry"
            )

    async def recover(self, *, every_node: bool) -> int:
        """Queue the rows an earlier process of this node left (`every_node`: all rows, as on
        SQLite, where this process is the only node); how many alerts. Called before the API
        starts: requests accepted from then on are taken in behind them."""
        assert self._engine is not None
        async with reading(self._engine, "read the ingest journal") as conn:
            found = await journal.entries(conn, None if every_node else self._node)
        self._requeue(found, "ingest_journal_recovered")
        self._recovered = True
        return sum(len(e.alerts) for e in found)

    async def adopt(self, live: Sequence[str]) -> None:
        """Take over the rows of nodes that are not `live` (at each change of the cluster)."""
        assert self._engine is not None
        try:
            async with writing(self._engine, "adopt ingest journal rows") as conn:
                found = await journal.adopt(conn, self._node, live)
        except StoreError as exc:
            log.warning("ingest_journal_not_adopted", error=str(exc), note="tried at next change")
            return
        self._requeue(found, "ingest_journal_adopted")

    def _requeue(self, found: Sequence[Entry], event: str) -> None:
        if not found:
            return
        now = self._clock.now()
        for entry in found:
            self._queued(Entry(entry.seq, entry.received_at, _as_of(entry.alerts, now)))
        log.info(
            event,
            rows=len(found),
            alerts=sum(len(e.alerts) for e in found),
            oldest_age=round(max(0.0, now - found[0].received_at), 1),
        )

    async def stop(self) -> None:
        """Take nothing more in (at shutdown): requests still waiting get 503 (their senders
        send them again), journaled alerts are left for the next start."""
        self._stopped = True
        if self._taker is not None:
            self._taker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._taker
        stopping = _stopping()
        for item in self._queue:
            if isinstance(item, _Waiting) and not item.done.done():
                item.done.set_exception(stopping)
        if self.backlog:
            log.info("ingest_journal_left", alerts=self.backlog, note="taken in at next start")

    def _start(self) -> None:
        if not self._stopped and (self._taker is None or self._taker.done()):
            self._taker = asyncio.create_task(self._take_in_queued(), name="watchd.ingest-take-in")

    async def _take_in_queued(self) -> None:
        """Take the queue in, in order, until it is empty."""
        failures = 0
        while self._queue:
            if isinstance(self._queue[0], _Waiting):
                await self._take_in_waiting(self._waiting_at_head())
                continue
            await self._hold_back()
            try:
                await self._take_in(self._batch())
            except StoreError as exc:  # an outage: the rows stay queued, tried again later
                failures += 1
                self._stalled.failed(
                    operation=exc.operation, reason=exc.reason, backlog=self.backlog
                )
                await self._clock.sleep(min(MAX_BACKOFF, 0.5 * 2**failures))
                continue
            failures = 0
            self._stalled.recovered()

    def _waiting_at_head(self) -> list[_Waiting]:
        """The requests waiting at the head of the queue, up to max_batch alerts (one at least),
        taken off it: they are answered whatever happens."""
        group = _head_run(self._queue, _Waiting, self._max_batch)
        for _ in group:
            self._queue.popleft()
        return group

    async def _take_in_waiting(self, group: list[_Waiting]) -> None:
        """Take in the alerts of requests that wait, together, and wake each with its outcome."""
        self._taking_in = True
        try:
            refused = await submit_isolating(self._sink, tuple(a for w in group for a in w.alerts))
        except BaseException as exc:
            # A store outage: every request of the group gets 503 and is sent again. Cancelled
            # (stop): the same, then the cancellation goes on.
            if isinstance(exc, StoreError):
                self._refused(exc)
            failure = exc if isinstance(exc, Exception) else _stopping()
            for waiting in group:
                if not waiting.done.done():
                    waiting.done.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._taking_in = False
        self._refusing.recovered()
        start = 0
        for waiting in group:
            end = start + len(waiting.alerts)
            mine = [
                Refused(r.position - start, r.error) for r in refused if start <= r.position < end
            ]
            start = end
            if not waiting.done.done():
                _answer(waiting.done, mine)

    async def _hold_back(self) -> None:
        """Wait while requests keep coming, up to max_lag after the oldest was accepted."""
        while self.backlog < self._max_backlog:
            quiet_for = self._clock.monotonic() - self._last_request
            waited = self.lag()
            if quiet_for >= QUIET or waited >= self._max_lag:
                return
            await self._clock.sleep(min(QUIET - quiet_for, self._max_lag - waited))

    def _batch(self) -> list[Entry]:
        """The journaled entries at the head of the queue, up to max_batch alerts (one at least),
        left on it until they are taken in."""
        return _head_run(self._queue, Entry, self._max_batch)

    async def _take_in(self, entries: list[Entry]) -> None:
        """Submit the entries' alerts, then delete their rows; raises StoreError on an outage
        (nothing is dequeued then)."""
        assert self._engine is not None  # entries come from the journal
        if self._shared:
            entries = await self._still_mine(entries)
            if not entries:
                return
        alerts = tuple(a for e in entries for a in e.alerts)
        self._taking_in = True
        try:
            refused = await submit_isolating(self._sink, alerts)
        finally:
            self._taking_in = False
        for r in refused:
            self.refused += 1
            log.error(
                "alert_refused",
                alertname=alerts[r.position].name,
                fingerprint=alerts[r.position].fingerprint,
                reason=r.reason,
                note="accepted (journaled) earlier, dropped: it fails alone",
            )
        for _ in entries:
            self._queue.popleft()
        self._journaled -= len(alerts)
        if self.backlog < self._max_backlog:
            self._room.set()
        seqs = [*self._unremoved, *(e.seq for e in entries)]
        try:
            async with writing(self._engine, "delete ingest journal rows") as conn:
                await journal.remove(conn, seqs)
        except StoreError as exc:
            # Taken in again after a restart they would be repeats: no harm, only work.
            self._unremoved = seqs
            log.warning("ingest_journal_rows_kept", rows=len(seqs), error=str(exc))
            return
        self._unremoved = []

    async def _still_mine(self, entries: list[Entry]) -> list[Entry]:
        """The entries whose rows this node still owns. Cut off from the database for longer
        than the cluster's dead_after, this node was seen dead and another took its rows over
        and in; taking them in again here, after newer alerts, could reopen what they
        resolved. The others are dropped from the queue."""
        assert self._engine is not None
        async with reading(self._engine, "read the ingest journal") as conn:
            mine = await journal.owned(conn, self._node, [e.seq for e in entries])
        gone = [e for e in entries if e.seq not in mine]
        if gone:
            for entry in gone:
                self._queue.remove(entry)
                self._journaled -= len(entry.alerts)
            self._room.set()
            log.warning(
                "ingest_journal_taken_over",
                rows=len(gone),
                alerts=sum(len(e.alerts) for e in gone),
                note="another node took them in while this one was seen dead",
            )
        return [e for e in entries if e.seq in mine]


def _stopping() -> StoreError:
    """What a request waiting to be taken in gets when watchd stops: 503, sent again."""
    return StoreError("take alerts in", "watchd is stopping")


def _as_of(alerts: tuple[Alert, ...], now: float) -> tuple[Alert, ...]:
    """The alerts as they stand at `now`: one whose end passed meanwhile is resolved."""
    return tuple(
        dataclasses.replace(a, status=AlertStatus.RESOLVED)
        if a.status is AlertStatus.FIRING and a.ends_at is not None and a.ends_at <= now
        else a
        for a in alerts
    )


def _answer(done: asyncio.Future[list[Refused]], refused: list[Refused]) -> None:
    """Wake one request: its refused alerts (400), or the pipeline's fault (500)."""
    for r in refused:
        if not isinstance(r.error, StoreError):
            done.set_exception(r.error)  # the error middleware logs it with its traceback
            return
    for r in refused:
        log.warning("ingest_alert_refused", reason=r.reason, note="the sender gets 400 naming it")
    done.set_result(refused)
