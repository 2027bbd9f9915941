"""The alert pipeline's transaction: the stages wired in one place, one commit per batch.

    alerts ─► dedup (fingerprint, stored state) ─► store (upsert, refresh)
                 │  repeat, same status ─► done (fast path)
                 ├─ flapping stopped ─► correlate: "flapping_stopped", unmute, settle
                 ├─ new or changed ─► mute (MuteView) ─► correlate (topology, key, reopen)
                 │                      ─► lifecycle settle ─► outbox
                 └─ flapping started ─► correlate: "flapping_started" (after the alert joined)
    time ─► expire (stale external alerts, resolved the same way)
         ─► sweep (re-decide mutes as windows, silences and parents change)
    after the commit ─► recheck: re-run the checks of symptoms whose parent recovered

`submit` returns once the alerts, incidents, timeline and the notification intents they caused
are committed: a sender that was told "stored" may forget its alerts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.incidents.ledger import Ledger
from watchd.incidents.settings import IncidentSettings
from watchd.logging import debug_enabled, get_logger
from watchd.model import Alert
from watchd.pipeline import sweep as sweeping
from watchd.pipeline.correlate import Correlator, group_key, lock_keys
from watchd.pipeline.dedup import dedup
from watchd.pipeline.expire import by_incident, stale_alerts, stale_fingerprints
from watchd.pipeline.mute import MuteView
from watchd.store.alerts import refresh_alerts, stored_alerts, upsert_alerts
from watchd.store.engine import reading, transact

log = get_logger("watchd.alerts")
T = TypeVar("T")

# Expiry resolves at most EXPIRE_CHUNK alerts per transaction, EXPIRE_SLICE at a time, and
# commits once a transaction has held SQLite's write lock for EXPIRE_HOLD seconds: 100,000
# alerts ending at once took minutes in one transaction, while every other writer failed.
EXPIRE_CHUNK = 200
EXPIRE_PAGE = (
    5_000  # stale alerts looked up at a time (a read: the event loop turns them into rows)
)
EXPIRE_SLICE = 20
EXPIRE_HOLD = 0.1
# The timers' sweep reads SWEEP_PAGE members per read and writes the mute changes of
# SWEEP_INCIDENTS incidents per transaction.
SWEEP_PAGE = 2_000
SWEEP_INCIDENTS = 50


# Runs these (item, check) again now, for a fresh result; the composition root passes the
# scheduler's, so the pipeline never imports the polling half.
Recheck = Callable[[set[tuple[str, str]]], object]


class AlertPipeline:
    """The AlertSink: dedup, mute, correlate and record incidents, durably, per batch."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        settings: IncidentSettings,
        recheck: Recheck | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.settings = settings
        self._recheck = recheck
        self.submitted = 0

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def reconfigure(self, settings: IncidentSettings) -> None:
        """Use new settings (after a reload) from the next batch on."""
        self.settings = settings

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        """Store and process `alerts` in one transaction; return once it is committed."""
        if not alerts:
            return
        changed, rechecks = await self._transact(
            f"process {len(alerts)} alerts",
            lambda conn: self._process(conn, alerts, self._clock.now()),
        )
        self.submitted += len(alerts)
        log_alerts(changed)
        self._request(rechecks)

    def _request(self, rechecks: set[tuple[str, str]]) -> None:
        """Ask for fresh results once the symptoms awaiting them are committed: one that came
        back sooner would find no symptom to release."""
        if rechecks and self._recheck is not None:
            self._recheck(rechecks)

    async def _process(
        self, conn: AsyncConnection, alerts: Sequence[Alert], now: float
    ) -> tuple[list[Alert], set[tuple[str, str]]]:
        """The alerts that changed, and the checks released symptoms await a fresh result of."""
        latest = {alert.fingerprint: alert for alert in alerts}
        settings = self.settings
        # First the keys (PostgreSQL): two nodes given the same alerts then take turns, and
        # what they read of them below is what the other committed (issue 19, finding 7).
        group_by = settings.incidents.group_by
        await lock_keys(conn, (group_key(a.labels, group_by)[0] for a in latest.values()))
        stored = await stored_alerts(conn, list(latest))
        batch = dedup(latest, stored)
        await upsert_alerts(conn, batch.rewrites, now)
        await refresh_alerts(conn, batch.repeats, now)
        changed = batch.changed
        if not changed and not batch.flapped:
            return [], set()
        attached = {fp for fp, known in stored.items() if known.attached}
        correlator = Correlator(
            Ledger(conn, now, settings, batch=latest),
            # The view answers for the batch's changed and flapping alerts only.
            await MuteView.load(
                conn, now, settings, asked=[a.labels for a in (*changed, *batch.flapped)]
            ),
            unattached=frozenset(a.fingerprint for a in changed if a.fingerprint not in attached),
            rechecking=frozenset(fp for fp, known in stored.items() if known.rechecking),
        )
        await correlator.prepare(changed)
        # A stop is recorded before the change it comes with, a start after it: the incident's
        # timeline reads "flapping stopped, resolved" and "reopened, flapping started".
        for alert in batch.flapped:
            if not alert.flapping:
                await correlator.flapping(alert)
        await correlator.apply(changed)
        for alert in batch.flapped:
            if alert.flapping:
                await correlator.flapping(alert)
        await correlator.flush()
        return changed, correlator.rechecks

    async def sweep(self) -> int:
        """Re-decide mutes now (windows, silences, parents); see watchd.pipeline.sweep.

        Members are read a page at a time without the write lock and their flips written a
        few incidents per transaction, so however many alerts fire, no other writer waits
        long and the event loop gets a turn between pages."""
        now, settings = self._clock.now(), self.settings
        async with reading(self._engine, "read incident mutes", full_reason=True) as conn:
            view = await MuteView.load(conn, now, settings)
        flips, after = 0, 0
        while True:
            async with reading(self._engine, "read incident mutes", full_reason=True) as conn:
                touched, more = await sweeping.mute_flips(conn, view, after=after, limit=SWEEP_PAGE)
            ids = list(touched)
            for start in range(0, len(ids), SWEEP_INCIDENTS):
                part = {i: touched[i] for i in ids[start : start + SWEEP_INCIDENTS]}
                flips += await self._transact(
                    "sweep incident mutes", partial(_apply_flips, now, settings, part)
                )
                await asyncio.sleep(0)
            if more is None:
                break
            after = more
            await asyncio.sleep(0)
        rechecks = await self._transact(
            "release symptoms",
            lambda conn: sweeping.release(Ledger(conn, now, settings), view),
        )
        self._request(rechecks)
        return flips

    async def expire(self) -> int:
        """Resolve alerts from outside whose end passed before they were sent again.

        A chunk per transaction, each holding the write lock for about EXPIRE_HOLD seconds,
        so that senders (ingestion, notification outcomes, state saves) get their turn in
        between however many alerts end at once; returns how many resolved.
        """
        now = self._clock.now()
        expired = 0
        while True:
            found = await self._stale_page(now)
            before = expired
            expired += await self._expire_page(now, deque(found))
            if len(found) < EXPIRE_PAGE or expired == before:
                return expired

    async def _stale_page(self, now: float) -> list[str]:
        async with reading(self._engine, "find stale alerts", full_reason=True) as conn:
            return await by_incident(conn, await stale_fingerprints(conn, now, EXPIRE_PAGE))

    async def _expire_page(self, now: float, pending: deque[str]) -> int:
        """Resolve the `pending` alerts still stale, a chunk per transaction; how many."""
        expired = 0
        while pending:
            chunk = [pending.popleft() for _ in range(min(EXPIRE_CHUNK, len(pending)))]
            stale, done, rechecks = await self._transact(
                "expire stale alerts", partial(self._expire_chunk, now, chunk)
            )
            pending.extendleft(reversed([a.fingerprint for a in stale[len(done) :]]))
            self._request(rechecks)
            _log_each("alert_expired", "alerts_expired", done, _expired_fields)
            expired += len(done)
            await asyncio.sleep(0)  # a writer already waiting for the lock goes first
        return expired

    async def _expire_chunk(
        self, now: float, chunk: Sequence[str], conn: AsyncConnection
    ) -> tuple[list[Alert], Sequence[Alert], set[tuple[str, str]]]:
        """Those of `chunk` still stale, those of them resolved, the checks to run again."""
        stale = await stale_alerts(conn, now, chunk)
        done, rechecks = await self._process_for(conn, stale, now, EXPIRE_HOLD)
        return stale, done, rechecks

    async def _process_for(
        self, conn: AsyncConnection, alerts: Sequence[Alert], now: float, hold: float
    ) -> tuple[Sequence[Alert], set[tuple[str, str]]]:
        """Process `alerts` a slice at a time until `hold` seconds have passed (at least one
        slice); the alerts processed and the checks to run again."""
        started = time.monotonic()  # real time: this bounds how long the lock is held
        rechecks: set[tuple[str, str]] = set()
        end = 0
        while end < len(alerts) and (end == 0 or time.monotonic() - started < hold):
            part = alerts[end : end + EXPIRE_SLICE]
            end += len(part)
            rechecks |= (await self._process(conn, part, now))[1]
        return alerts[:end], rechecks

    async def _transact(self, operation: str, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """One transaction, run again when it lost a race on PostgreSQL (store.engine.transact)."""
        return await transact(self._engine, operation, body, full_reason=True)


async def _apply_flips(
    now: float,
    settings: IncidentSettings,
    touched: Mapping[int, list[sweeping.Flip]],
    conn: AsyncConnection,
) -> int:
    return await sweeping.apply_flips(Ledger(conn, now, settings), touched, recheck=True)


# A batch that changes more alerts than this is logged as one `alerts` summary line, the lines
# per alert at debug: in a storm a line per alert cost as much CPU as storing the alert and
# buried the rest of the journal.
LOG_EACH_UP_TO = 20


def log_alerts(alerts: Sequence[Alert]) -> None:
    """One `alert` log line per alert whose state changed; for a storm's batch, one summary."""
    _log_each("alert", "alerts", alerts, _changed_fields)


def _changed_fields(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status.value,
        "alertname": alert.name,
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "summary": alert.annotations.get("summary", ""),
        "source": alert.source,
    }


def _expired_fields(alert: Alert) -> dict[str, Any]:
    return {"alertname": alert.name, "fingerprint": alert.fingerprint}


def _log_each(
    each: str, summary: str, alerts: Sequence[Alert], fields: Callable[[Alert], dict[str, Any]]
) -> None:
    """A line `each` per alert at info, or past LOG_EACH_UP_TO alerts one line `summary` (the
    lines per alert at debug)."""
    line = log.info
    if len(alerts) > LOG_EACH_UP_TO:
        statuses = Counter(alert.status.value for alert in alerts)
        log.info(
            summary,
            alerts=len(alerts),
            firing=statuses["firing"],
            resolved=statuses["resolved"],
            alertnames=dict(Counter(alert.name for alert in alerts).most_common(10)),
            items=len({alert.labels.get("item", "") for alert in alerts} - {""}),
        )
        if not debug_enabled("watchd.alerts"):
            return
        line = log.debug
    for alert in alerts:
        line(each, **fields(alert))
