"""Multi-window, multi-burn-rate alerts on each service's error budget (Google SRE workbook,
"Alerting on SLOs", recommendation 6):

    fast: burn ≥ 14.4 over 1 h and over 5 min    → severity critical (2 % of a month's budget in 1 h)
    slow: burn ≥ 6    over 6 h and over 30 min   → severity warning  (5 % in 6 h)

burn = (1 − availability) / (1 − objective). The long window makes the alert significant,
the short one makes it stop soon after the burning stops. Firing alerts are submitted again
at each evaluation (source "report") with an end `valid_for` ahead, so if watchd stops they
expire then instead of firing forever; a condition that stops holding is sent as resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.durations import format_duration
from watchd.model import Alert, AlertSink, AlertStatus
from watchd.report.catalog import Catalog
from watchd.report.combine import query_keys, service_total
from watchd.report.config import ServiceConfig
from watchd.report.query import tallies
from watchd.store.series import series_ids

ALERTNAME = "ErrorBudgetBurn"


@dataclass(frozen=True, slots=True)
class BurnWindow:
    name: str
    long: float
    short: float
    factor: float
    severity: str


WINDOWS = (
    BurnWindow("fast", 3600.0, 300.0, 14.4, "critical"),
    BurnWindow("slow", 21600.0, 1800.0, 6.0, "warning"),
)


class BurnRateMonitor:
    """Evaluates every service's burn rates; `evaluate` is the housekeeping job."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        catalog: Callable[[], Catalog],
        sink: AlertSink,
        valid_for: float,
    ) -> None:
        self._engine = engine
        self._valid_for = valid_for
        self._clock = clock
        self._catalog = catalog
        self._sink = sink
        self._firing: dict[tuple[str, str], Alert] = {}

    async def evaluate(self) -> list[Alert]:
        """Submit firing (and newly resolved) burn alerts; return what was submitted."""
        now = self._clock.now()
        catalog = self._catalog()
        firing: dict[tuple[str, str], Alert] = {}
        async with self._engine.connect() as conn:
            known = list(await series_ids(conn))
            for service in catalog.services:
                members = catalog.members(service, known)
                rates: dict[float, float | None] = {}
                for span in sorted({w for b in WINDOWS for w in (b.long, b.short)}):
                    keys = query_keys(service, members)
                    found = await tallies(conn, catalog, now - span, now, now=now, keys=keys)
                    tally, _ = service_total(service, found, members)
                    availability = tally.availability(catalog.policy(service))
                    allowed = 1 - service.objective / 100
                    rates[span] = None if availability is None else (1 - availability) / allowed
                for window in WINDOWS:
                    long, short = rates[window.long], rates[window.short]
                    if long is not None and short is not None and min(long, short) >= window.factor:
                        firing[(service.name, window.name)] = _alert(
                            service, window, long, now, now + self._valid_for
                        )
        resolved = [
            Alert(
                labels=a.labels,
                status=AlertStatus.RESOLVED,
                starts_at=a.starts_at,
                annotations=a.annotations,
                ends_at=now,
                source="report",
            )
            for key, a in self._firing.items()
            if key not in firing
        ]
        # Keep the first start of an alert that goes on firing.
        for key, a in firing.items():
            if key in self._firing:
                firing[key] = Alert(
                    a.labels,
                    a.status,
                    self._firing[key].starts_at,
                    a.annotations,
                    ends_at=a.ends_at,
                    source="report",
                )
        self._firing = firing
        out = [*firing.values(), *resolved]
        if out:
            await self._sink.submit(tuple(out))
        return out


def _alert(
    service: ServiceConfig, window: BurnWindow, burn: float, now: float, ends_at: float
) -> Alert:
    return Alert(
        labels={
            "alertname": ALERTNAME,
            "service": service.name,
            "window": window.name,
            "severity": window.severity,
        },
        status=AlertStatus.FIRING,
        starts_at=now,
        annotations={
            "summary": (
                f"Service {service.name} burns its error budget {burn:.1f}× faster than its "
                f"{service.objective}% objective allows over the last "
                f"{format_duration(window.long)} and {format_duration(window.short)}"
            ),
        },
        ends_at=ends_at,
        source="report",
    )
