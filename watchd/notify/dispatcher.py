"""The outbox dispatcher: every notification row delivered at least once, in order per
incident and receiver, with backoff, grouping timers and a delivery log. This module is the
loop that wires the parts together:

    outbox rows (open_rows) ─► plan.scan ─► expiry.expire (rows past max_age)
                            ─► group timers (load_groups) ─► plan.units ─► plan.take
                            ─► outbox.claim (lease) ─► the receiver's queue, served by up to
                               `concurrency` workers: delivery.Delivery (receiver.deliver,
                               attempt.judge, record.Recorder, health.ReceiverHealth: log
                               lines and self-alerts)
                            ─► a finished job wakes the next pass once its receiver's queue
                               is down to half of the last pass's plan.pass_size
    every lease / 3 (monotonic): the leases of the rows in flight are renewed
    on stop: the leases of the rows in flight are given back (outbox.release)
    every repeat_check_interval: repeat.repeat (repeat_interval)

A chain's next row waits until the one before it is delivered, failed (4xx) or expired; each
receiver has its own queue, workers and concurrency limit, so one receiver's outage delays no
other. A storm's rows are claimed up to plan.pass_size per receiver at a time (the backlog,
a quarter of it when other nodes deliver from the store too, at least plan.PER_PASS): a pass
reads every open row, so a pass per few rows delivered made a storm's delivery quadratic.

Time: leases are short (the longest receiver timeout plus LEASE_MARGIN) and renewed while a
delivery runs, so rows a crashed process held go out again within about a minute (on SQLite
at the next start: see `sole`); waits in this process are on the monotonic clock; a stored
retry time that a backward wall-clock step pushed further away than its delay is brought back
(plan.rebase).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.failures import FailureLog
from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.model import AlertSink
from watchd.notify import outbox, plan
from watchd.notify.config import NotifyConfig
from watchd.notify.delivery import GRACE, CountOutcome, Delivery, uncounted
from watchd.notify.expiry import expire
from watchd.notify.health import ReceiverHealth
from watchd.notify.installed import Installed, ReceiverBuilder, install
from watchd.notify.model import Receiver
from watchd.notify.outbox import Row
from watchd.notify.receivers import AnyReceiver
from watchd.notify.record import Recorder
from watchd.notify.repeat import repeat
from watchd.notify.router import Router
from watchd.notify.wakeup import watch_outbox
from watchd.store.errors import StoreError

log = get_logger("watchd.notify")

LEASE_MARGIN = 30.0  # seconds a lease outlasts its longest receiver call (GRACE included)
RESCAN_DELAY = 0.02  # seconds a finished task waits for others to finish before a new scan
SCAN_PACING = 1.0  # after a scan of d seconds, the next starts no sooner than d later
# Jobs a worker has sent whose outcomes are not committed yet, at most. The recorder commits
# what is queued together: with two (16 workers), a storm's 5,000 outcomes took 320
# transactions of six statements; with five, 135 (bench/README.md, issue 13). A process that
# dies loses at most this many outcomes per worker: those rows go out again once their lease
# ends, with the same idempotency key (at least once).
OPEN_JOBS = 5

Job = tuple[plan.Unit, list[list[Row]]]  # a unit and its claimed chains


class Dispatcher:
    """Delivers the outbox to the configured receivers until cancelled (`run`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        receivers: Sequence[AnyReceiver],
        notify: NotifyConfig,
        router: Router,
        settings: IncidentSettings,
        sink: AlertSink | None = None,
        base: Path = Path("."),
        poll_interval: float = 5.0,
        rand: random.Random | None = None,
        build: ReceiverBuilder | None = None,
        rescan_delay: float = RESCAN_DELAY,
        count: CountOutcome = uncounted,
        locale: str = "en",
        sole: bool = False,
    ) -> None:
        """`build` builds receivers from their config (default: the registry's real ones),
        whose default templates speak `locale` (`[daemon] locale`);
        `rescan_delay` is the real time finished deliveries wait before the next scan (0 on a
        fake clock, where no real time may pass unnoticed: scans are then not paced either,
        see `_paced`); `count` counts each row's outcome by receiver (watchd_notifications_total).
        `sole`: no other process can deliver from this store (the daemon holds its SQLite
        file), so rows found leased at the start were left by one that ended: `run` sends
        them at once instead of after their lease."""
        self._engine = engine
        self._sole = sole
        self._count = count
        self._kept = outbox.KeptRows()  # open rows as routed, kept between scans
        self._routes = plan.KeptRoutes()  # their chains' routes, kept between scans
        self._clock = clock
        self._base = base
        self._build = build
        self._rescan_delay = rescan_delay
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._rescan: asyncio.TimerHandle | None = None
        self._next_scan = float("-inf")  # real monotonic time before which no scan starts
        self._loop: asyncio.AbstractEventLoop | None = None
        # The rows this process is delivering (claimed, queued or sent, outcome not yet
        # committed), each with its chain (incident, receiver).
        self._inflight: dict[int, tuple[int, str]] = {}
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}  # workers per receiver
        self._queues: dict[str, deque[Job]] = {}  # claimed jobs no worker has taken yet
        self._queued: dict[str, int] = {}  # rows claimed per receiver, not yet finished
        self._per_pass = plan.PER_PASS  # rows a receiver may have queued (the last pass's)
        self._store_failures = FailureLog(
            log, failing="notify_store_failing", recovered="notify_store_back"
        )
        self._open_pairs: set[tuple[int, str]] = set()
        self._last_repeat = float("-inf")  # monotonic
        self._closed = False
        self._due: dict[plan.RetryKey, float] = {}  # retry times rebased after a clock step
        self._ahead = float("-inf")  # the furthest the wall clock was ahead of the monotonic
        self._installed, _ = install(
            None,
            receivers,
            notify,
            router,
            settings,
            clock=clock,
            base=base,
            engine=engine,
            build=build,
            locale=locale,
        )
        self._health = ReceiverHealth(sink, clock.monotonic)
        self._delivery = Delivery(
            clock=clock,
            rand=rand or random.Random(),
            recorder=Recorder(engine, lambda: self._installed.settings),
            health=self._health,
            current=lambda: self._installed,
            count=count,
        )
        self._unwatch = watch_outbox(engine, self.wake)

    @property
    def router(self) -> Router:
        """The route tree in force (the latest reload's)."""
        return self._installed.router

    @property
    def installed(self) -> Installed:
        """The receivers and settings in force (the latest reload's)."""
        return self._installed

    @property
    def delivered(self) -> int:
        """Rows delivered (or skipped: send_resolved = false) since start."""
        return self._delivery.delivered

    def reconfigure(
        self,
        receivers: Sequence[AnyReceiver],
        notify: NotifyConfig,
        router: Router,
        settings: IncidentSettings,
        locale: str = "en",
    ) -> None:
        """Apply a reloaded config: changed receivers (all of them when `locale` changed) are
        rebuilt, the old ones closed later."""
        self._installed, replaced = install(
            self._installed,
            receivers,
            notify,
            router,
            settings,
            clock=self._clock,
            base=self._base,
            engine=self._engine,
            build=self._build,
            locale=locale,
        )
        if replaced and self._loop is not None:
            self._loop.create_task(self._close_when_idle(replaced), name="watchd.notify.close")
        self.wake()

    def ack_key(self) -> bytes | None:
        """The acknowledge-link HMAC key of the current config (None: links are off), for
        watchd.api.ack.add_routes."""
        links = self._installed.links
        return links.key if links is not None else None

    def wake(self) -> None:
        """Scan the outbox now (new rows were committed); safe from any thread."""
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Scan, deliver and wait (for a wake-up, the next due row or the poll interval)."""
        self._loop = asyncio.get_running_loop()
        renewing = self._loop.create_task(self._renew_leases(), name="watchd.notify.leases")
        try:
            if self._sole:
                await self._release_abandoned()
            while True:
                began = time.monotonic()
                due = await self._cycle()
                ended = time.monotonic()
                self._next_scan = ended + (ended - began) * SCAN_PACING
                wait = (
                    self._poll
                    if due is None
                    else min(self._poll, max(0.0, due - self._clock.now()))
                )
                await self._sleep_or_wake(wait)
                await self._paced()
        finally:
            renewing.cancel()
            await self.aclose()

    async def run_once(self) -> int:
        """One scan, waiting for every delivery it started; returns rows delivered so far."""
        self._loop = asyncio.get_running_loop()
        await self._cycle()
        while any(self._tasks.values()):
            await asyncio.gather(*[t for ts in self._tasks.values() for t in ts])
        return self.delivered

    def lease(self) -> float:
        """Seconds a claim holds its rows: the longest receiver call and LEASE_MARGIN."""
        longest = max((c.timeout for c in self._installed.configs.values()), default=0.0)
        return longest + GRACE + LEASE_MARGIN

    async def aclose(self) -> None:
        """Stop the deliveries in flight and give their rows back, so the next start (or
        another node) sends them at once instead of after the lease (at least once: a row
        whose receiver got it before the stop is sent again)."""
        if self._closed:
            return
        self._closed = True
        self._unwatch()
        held = list(self._inflight)
        tasks = [t for ts in self._tasks.values() for t in ts]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if held:
            try:
                released = await outbox.release(self._engine, held)
            except StoreError as exc:
                log.warning("leases_not_released", rows=len(held), error=exc.reason)
            else:
                log.info("leases_released", rows=released)
        for receiver in self._installed.receivers.values():
            with contextlib.suppress(Exception):
                await receiver.aclose()

    async def _release_abandoned(self) -> None:
        """Make the rows an ended process left leased pending again (at least once: its
        receiver may have had one before the end; the idempotency key tells it so)."""
        try:
            released = await outbox.release_abandoned(self._engine)
        except StoreError as exc:  # their lease runs out as usual
            log.warning("notifications_not_released", error=exc.reason)
            return
        if released:
            log.info(
                "notifications_released",
                count=released,
                note="left in delivery by a process that ended; sent again now",
            )

    async def _renew_leases(self) -> None:
        """Extend the leases of the rows in flight every third of a lease (monotonic sleeps),
        so a slow delivery keeps its rows and a crashed one frees them within a lease."""
        while True:
            await self._clock.sleep(self.lease() / 3)
            if not self._inflight:
                continue
            try:
                await outbox.renew(
                    self._engine, list(self._inflight), self._clock.now() + self.lease()
                )
            except StoreError as exc:
                self._store_failures.failed(error=exc.reason.splitlines()[0])

    async def _paced(self) -> None:
        """Wait until `_next_scan`: a scan reads every open row, and in a storm the ingestion's
        commits wake the dispatcher back to back, so unpaced, scanning thousands of rows again
        and again took the core the ingestion needed. Pacing keeps scans to about half of
        the loop's time; a scan of a few rows (a millisecond) delays nothing noticeable."""
        rest = self._next_scan - time.monotonic()
        if self._rescan_delay > 0 and rest > 0:
            await asyncio.sleep(rest)

    async def _sleep_or_wake(self, seconds: float) -> None:
        if self._wake.is_set():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _cycle(self) -> float | None:
        self._wake.clear()
        await self._health.refresh(self._clock.now())
        try:
            due = None if self._saturated() else await self._dispatch()
            installed = self._installed
            if (
                self._clock.monotonic() - self._last_repeat
                >= installed.notify.repeat_check_interval
            ):
                self._open_pairs |= await repeat(
                    self._engine,
                    installed.settings,
                    installed.router,
                    installed.receivers.keys(),
                    self._open_pairs,
                    self._clock.now(),
                )
                self._last_repeat = self._clock.monotonic()
        except StoreError as exc:
            self._store_failures.failed(error=exc.reason.splitlines()[0])
            return None
        self._store_failures.recovered()
        return due

    def _saturated(self) -> bool:
        """Every receiver has more than half a pass queued: a pass now would only queue rows
        behind those, and its queue going down to half starts the next pass anyway
        (`_serve`). In a storm each commit of the ingestion woke a pass that read every open
        row for nothing."""
        configs = self._installed.configs
        return bool(configs) and all(
            self._queued.get(name, 0) > self._per_pass // 2 for name in configs
        )

    async def _dispatch(self) -> float | None:
        """One pass: plan, expire, claim and start the delivery tasks; when next to look."""
        now = self._clock.now()
        installed = self._installed
        # Alone on its store, every row leased beyond now is one this process holds: those
        # are left unread (in a storm, the thousands a pass claimed), their chains are `held`.
        free_at = now if self._sole else None
        rows = await outbox.open_rows(self._engine, self._kept, free_at=free_at)
        backoffs = {n: (c.backoff_initial, c.backoff_max) for n, c in installed.configs.items()}
        if self._due:  # keep only the retry times of rows still waiting on them
            keys = {(r.id, r.attempts) for r in rows}
            self._due = {k: t for k, t in self._due.items() if k in keys}
        new = [r for r in plan.suspect(rows, now, backoffs) if (r.id, r.attempts) not in self._due]
        if new:
            self._due |= plan.rebase(new, now, await outbox.last_tried(self._engine, new))
        rows = plan.rebased(rows, self._due)
        # How far the wall clock stepped back since this process saw it furthest ahead.
        self._ahead = max(self._ahead, now - self._clock.monotonic())
        skew = self._ahead - (now - self._clock.monotonic())
        rows = plan.unskewed(rows, now, skew)
        found = plan.scan(
            rows,
            now,
            max_age={n: c.max_age for n, c in installed.configs.items()},
            router=installed.router,
            inflight=self._inflight,
            held=set(self._inflight.values()) if self._sole else (),
            routes=self._routes,
        )
        self._open_pairs = set(found.pairs)
        if found.expired:
            await expire(
                self._engine,
                installed.settings,
                found.expired,
                installed.configs,
                self._health,
                now,
            )
            for name, n in Counter(r.receiver for r in found.expired).items():
                self._count(name, "expired", n, None)
        groups = plan.unskewed_groups(
            await outbox.load_groups(self._engine, found.ready), now, skew
        )
        batch = {n for n, r in installed.receivers.items() if r.batch}
        units, group_due = plan.units(found.ready, groups, now, batch=batch)
        backlog = len(rows) + len(self._inflight) if self._sole else len(rows)
        self._per_pass = plan.pass_size(backlog, shared=not self._sole)
        room = {name: self._per_pass - self._queued.get(name, 0) for name in installed.configs}
        await self._launch(plan.take(units, room), now)
        return plan.earliest(found.next_due, group_due)

    async def _launch(self, taken: dict[str, list[plan.Unit]], now: float) -> None:
        """Claim the planned rows, queue them as jobs for their receivers and start workers."""
        rows = [r for units in taken.values() for u in units for c in u.chains for r in c]
        claimed = await outbox.claim(self._engine, rows, now, now + self.lease()) if rows else []
        by_id = {r.id: r for r in claimed}
        for name, units in taken.items():
            queue = self._queues.setdefault(name, deque())
            for unit in units:
                chains = [[by_id[r.id] for r in c if r.id in by_id] for c in unit.chains]
                chains = [c for c in chains if c]
                if chains:
                    queue.append((unit, chains))
                    held = {r.id: (r.incident_id, r.receiver) for c in chains for r in c}
                    self._inflight.update(held)
                    self._queued[name] = self._queued.get(name, 0) + len(held)
        for name in self._queues:
            self._staff(name)

    def _limit(self, name: str) -> int:
        config = self._installed.configs.get(name)
        return config.concurrency if config is not None else 1

    def _staff(self, name: str) -> None:
        """Start workers for receiver `name`, up to its concurrency, while it has jobs queued
        (each worker starts with a job, so none is started for nothing)."""
        queue = self._queues[name]
        workers = self._tasks.setdefault(name, set())
        while queue and len(workers) < self._limit(name):
            task = asyncio.get_running_loop().create_task(
                self._work(name, queue.popleft()), name=f"watchd.notify.{name}"
            )
            workers.add(task)
            task.add_done_callback(partial(self._ended, name))

    def _ended(self, name: str, worker: asyncio.Task[None]) -> None:
        """A worker of `name` ended: staff its queue again. A pass may have queued jobs while
        every worker was ending (its queue empty, waiting for its outcomes' commit), and with
        more than half a pass queued no pass comes to staff them: they stayed leased and
        unsent (tests/notify/test_storm.py)."""
        self._tasks[name].discard(worker)
        if not self._closed and name in self._queues:
            self._staff(name)

    async def _work(self, name: str, job: Job) -> None:
        """Serve `job`, then the receiver's queue until it is empty (or the receiver's
        concurrency was lowered by a reload). A job's outcome is committed while the worker
        sends the next ones; a worker has at most OPEN_JOBS jobs open."""
        queue = self._queues[name]
        settling: deque[Coroutine[Any, Any, None]] = deque()
        try:
            while True:
                settling.append(await self._serve(name, job))
                if len(settling) >= OPEN_JOBS:
                    await settling.popleft()
                if not queue or len(self._tasks.get(name, ())) > self._limit(name):
                    return
                job = queue.popleft()
        finally:
            while settling:
                await settling.popleft()
            self._rescan_soon()

    async def _serve(self, name: str, job: Job) -> Coroutine[Any, Any, None]:
        """Send `job`; return what waits for its outcomes' commit and then lets its rows go
        (the next scan may plan them again, with the rows after them)."""
        unit, chains = job
        ids = [r.id for c in chains for r in c]
        try:
            if name in self._installed.receivers:
                decoded = [[row.decoded() for row in chain] for chain in chains]
                recorded = await self._delivery.deliver(unit, decoded)
            else:  # removed by a reload while queued: the rows wait for their receiver
                recorded = _released(self._engine, ids)
        except BaseException:
            self._settled(name, ids)
            raise
        return self._settle(name, ids, recorded)

    async def _settle(self, name: str, ids: list[int], recorded: Awaitable[None]) -> None:
        try:
            await recorded
        finally:
            self._settled(name, ids)

    def _settled(self, name: str, ids: list[int]) -> None:
        for row_id in ids:
            self._inflight.pop(row_id, None)
        self._queued[name] -= len(ids)
        if self._queued[name] <= self._per_pass // 2:
            self._rescan_soon()

    def _rescan_soon(self) -> None:
        """Scan again shortly: the chains a job served may have more rows due, and its
        receiver's queue wants more. Jobs that finish close together share one scan (a scan
        reads every open row: with thousands waiting, a scan per finished task was most of
        the dispatcher's CPU)."""
        if self._rescan is None or self._rescan.cancelled():
            loop = asyncio.get_running_loop()
            self._rescan = loop.call_later(self._rescan_delay, self._rescanned)

    def _rescanned(self) -> None:
        self._rescan = None
        self._wake.set()

    async def _close_when_idle(self, receivers: Sequence[Receiver]) -> None:
        running = [t for ts in self._tasks.values() for t in ts]
        await asyncio.gather(*running, return_exceptions=True)
        for receiver in receivers:
            with contextlib.suppress(Exception):
                await receiver.aclose()


async def _released(engine: AsyncEngine, ids: list[int]) -> None:
    with contextlib.suppress(StoreError):  # else their lease runs out
        await outbox.release(engine, ids)
