"""The alert pipeline (DESIGN.md §1): every alert, from checks, rules or the outside.

    alerts ─► fingerprint/dedup ─► store (upsert) ─┬─ repeat, same status ─► done (fast path)
                                                   └─ new or changed ─► mute (MuteView)
                                                        ─► correlate (topology, key, reopen)
                                                        ─► lifecycle settle ─► outbox
    all in ONE transaction: `submit` returns once alerts, incidents, timeline and the
    notification intents they caused are committed.

`AlertPipeline` is the AlertSink; `sweep` and `expire` are what the incident timers call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.incidents import sweep as sweeping
from watchd.incidents.correlate import Correlator, group_key, lock_keys
from watchd.incidents.ledger import Ledger
from watchd.incidents.mute import MuteView
from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.model import Alert, AlertStatus
from watchd.pipeline.storing import StoringSink, log_alerts
from watchd.store.alerts import refresh_alerts, stored_alerts, upsert_alerts
from watchd.store.engine import write_transaction
from watchd.store.errors import StoreError
from watchd.store.tables import alerts as al

__all__ = ["INTERNAL_SOURCES", "AlertPipeline", "StoringSink"]

log = get_logger("watchd.alerts")

# Alerts made inside watchd resolve when their check or rule says so, never by timeout.
INTERNAL_SOURCES = frozenset({"check", "rules"})


class AlertPipeline:
    """The AlertSink: dedup, mute, correlate and record incidents, durably, per batch."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock, settings: IncidentSettings) -> None:
        self._engine = engine
        self._clock = clock
        self.settings = settings
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
        async with self._writing(f"process {len(alerts)} alerts") as conn:
            changed = await self._process(conn, alerts, self._clock.now())
        self.submitted += len(alerts)
        log_alerts(changed)

    async def _process(
        self, conn: AsyncConnection, alerts: Sequence[Alert], now: float
    ) -> list[Alert]:
        latest = {alert.fingerprint: alert for alert in alerts}
        stored = await stored_alerts(conn, list(latest))
        # A plain repeat only moves the alert's end; anything else rewrites its row.
        repeats: dict[float | None, list[str]] = {}
        rewrites: list[Alert] = []
        # Alerts whose status stays and that are where they belong stop at the store: that is
        # the dedup, and the fast path. A firing alert in no incident yet goes on to correlation.
        changed: list[Alert] = []
        for fp, alert in latest.items():
            known = stored.get(fp)
            if known is None:
                rewrites.append(alert)
                changed.append(alert)
                continue
            if known.repeated_by(alert):
                repeats.setdefault(alert.ends_at, []).append(fp)
            else:
                rewrites.append(alert)
            if known.status != alert.status or (
                alert.status is AlertStatus.FIRING and not known.attached
            ):
                changed.append(alert)
        await upsert_alerts(conn, rewrites, now)
        await refresh_alerts(conn, repeats, now)
        if not changed:
            return []
        attached = {fp for fp, known in stored.items() if known.attached}
        settings = self.settings
        await lock_keys(
            conn, [group_key(a.labels, settings.incidents.group_by)[0] for a in changed]
        )
        correlator = Correlator(
            Ledger(conn, now, settings),
            await MuteView.load(conn, now, settings),
            unattached=frozenset(a.fingerprint for a in changed if a.fingerprint not in attached),
        )
        for alert in changed:
            await correlator.apply(alert)
        await correlator.flush()
        return changed

    async def sweep(self) -> int:
        """Re-decide mutes now (windows, silences, parents); see watchd.incidents.sweep."""
        async with self._writing("sweep incident mutes") as conn:
            return await sweeping.sweep(conn, self._clock.now(), self.settings)

    async def expire(self) -> int:
        """Resolve external alerts not refreshed before their endsAt or resolve_timeout."""
        now = self._clock.now()
        timeout = self.settings.incidents.resolve_timeout
        async with self._writing("expire stale alerts") as conn:
            rows = await conn.execute(
                select(al).where(
                    al.c.status == AlertStatus.FIRING.value,
                    al.c.source.not_in(INTERNAL_SOURCES),
                    or_(
                        and_(al.c.ends_at.is_not(None), al.c.ends_at <= now),
                        and_(al.c.ends_at.is_(None), al.c.updated_at <= now - timeout),
                    ),
                )
            )
            stale = [
                Alert(
                    labels=dict(r.labels),
                    status=AlertStatus.RESOLVED,
                    starts_at=r.starts_at,
                    annotations=dict(r.annotations),
                    ends_at=r.ends_at if r.ends_at is not None else now,
                    source=r.source,
                    generator_url=r.generator_url,
                )
                for r in rows
            ]
            if stale:
                await self._process(conn, stale, now)
        for alert in stale:
            log.info("alert_expired", alertname=alert.name, fingerprint=alert.fingerprint)
        return len(stale)

    @asynccontextmanager
    async def _writing(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with write_transaction(self._engine) as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(operation, str(exc)) from exc
