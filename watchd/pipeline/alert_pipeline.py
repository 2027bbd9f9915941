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

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.incidents.ledger import Ledger
from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.model import Alert
from watchd.pipeline import sweep as sweeping
from watchd.pipeline.correlate import Correlator, group_key, lock_keys
from watchd.pipeline.dedup import dedup
from watchd.pipeline.expire import stale_alerts
from watchd.pipeline.mute import MuteView
from watchd.store.alerts import refresh_alerts, stored_alerts, upsert_alerts
from watchd.store.engine import transact

log = get_logger("watchd.alerts")
T = TypeVar("T")


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
            Ledger(conn, now, settings),
            await MuteView.load(conn, now, settings),
            unattached=frozenset(a.fingerprint for a in changed if a.fingerprint not in attached),
            rechecking=frozenset(fp for fp, known in stored.items() if known.rechecking),
        )
        # A stop is recorded before the change it comes with, a start after it: the incident's
        # timeline reads "flapping stopped, resolved" and "reopened, flapping started".
        for alert in batch.flapped:
            if not alert.flapping:
                await correlator.flapping(alert)
        for alert in changed:
            await correlator.apply(alert)
        for alert in batch.flapped:
            if alert.flapping:
                await correlator.flapping(alert)
        await correlator.flush()
        return changed, correlator.rechecks

    async def sweep(self) -> int:
        """Re-decide mutes now (windows, silences, parents); see watchd.pipeline.sweep."""
        flips, rechecks = await self._transact(
            "sweep incident mutes",
            lambda conn: sweeping.sweep(conn, self._clock.now(), self.settings),
        )
        self._request(rechecks)
        return flips

    async def expire(self) -> int:
        """Resolve alerts from outside whose end passed before they were sent again."""
        now = self._clock.now()

        async def expire(conn: AsyncConnection) -> tuple[list[Alert], set[tuple[str, str]]]:
            stale = await stale_alerts(conn, now)
            if not stale:
                return stale, set()
            return stale, (await self._process(conn, stale, now))[1]

        stale, rechecks = await self._transact("expire stale alerts", expire)
        self._request(rechecks)
        for alert in stale:
            log.info("alert_expired", alertname=alert.name, fingerprint=alert.fingerprint)
        return len(stale)

    async def _transact(self, operation: str, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """One transaction, run again when it lost a race on PostgreSQL (store.engine.transact)."""
        return await transact(self._engine, operation, body, full_reason=True)


def log_alerts(alerts: Iterable[Alert]) -> None:
    """One `alert` log line per alert whose state changed."""
    for alert in alerts:
        log.info(
            "alert",
            status=alert.status.value,
            alertname=alert.name,
            fingerprint=alert.fingerprint,
            labels=dict(alert.labels),
            summary=alert.annotations.get("summary", ""),
            source=alert.source,
        )
