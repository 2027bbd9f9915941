"""ClusterZoneUnserved: a zone with checks that no live node serves is an outage, never silent.

Sharding tells `ZoneAlarm` how many checks each unserved zone has after every change of the
live set or the config; the alarm fires one critical self-alert per zone, sends it again every
SELF_ALERT_REFRESH while it stays true (each with an end SELF_ALERT_VALID ahead, so a stale
one ends by itself), and resolves it once a node serves the zone again. Every node computes
the same zones from the same view and sends the same label set: the fingerprint makes them one
alert.
"""

from __future__ import annotations

from collections.abc import Mapping

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.model import SELF_ALERT_REFRESH, SELF_ALERT_VALID, Alert, AlertSink, AlertStatus

log = get_logger("watchd.cluster")

ALERTNAME = "ClusterZoneUnserved"


class ZoneAlarm:
    """Fires, refreshes and resolves ClusterZoneUnserved, one alert per zone."""

    def __init__(self, sink: AlertSink, *, clock: Clock) -> None:
        self._sink = sink
        self._clock = clock
        # Unserved zones: (checks unpolled, wall time it started, monotonic time last sent).
        self._firing: dict[str, tuple[int, float, float]] = {}

    @property
    def unserved(self) -> dict[str, int]:
        """The zones no live node serves now, with how many checks go unpolled in each."""
        return {zone: count for zone, (count, _, _) in self._firing.items()}

    async def update(self, unserved: Mapping[str, int]) -> None:
        """Take the zones unserved now (zone -> checks unpolled); alert what changed."""
        alerts = []
        now, mono = self._clock.now(), self._clock.monotonic()
        for zone, count in unserved.items():
            seen = self._firing.get(zone)
            if seen is not None and seen[0] == count:
                continue
            since = now if seen is None else seen[1]
            if seen is None:
                log.error("cluster_zone_unserved", zone=zone, checks=count)
            self._firing[zone] = (count, since, mono)
            alerts.append(_alert(zone, count, since, now, firing=True))
        for zone in [z for z in self._firing if z not in unserved]:
            count, since, _ = self._firing.pop(zone)
            log.info("cluster_zone_served_again", zone=zone)
            alerts.append(_alert(zone, count, since, now, firing=False))
        await self._submit(alerts)

    async def refresh(self) -> None:
        """Send every firing alert again that was last sent SELF_ALERT_REFRESH ago."""
        now, mono = self._clock.now(), self._clock.monotonic()
        alerts = []
        for zone, (count, since, sent) in self._firing.items():
            if mono - sent >= SELF_ALERT_REFRESH:
                self._firing[zone] = (count, since, mono)
                alerts.append(_alert(zone, count, since, now, firing=True))
        await self._submit(alerts)

    def next_refresh(self) -> float | None:
        """Seconds until `refresh` has something to send again; None while nothing fires."""
        if not self._firing:
            return None
        oldest = min(sent for _, _, sent in self._firing.values())
        return max(0.0, oldest + SELF_ALERT_REFRESH - self._clock.monotonic())

    async def _submit(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        try:
            await self._sink.submit(tuple(alerts))
        except Exception as exc:  # the BufferedSink keeps alerts; another sink may raise
            log.error("self_alert_not_submitted", alertname=ALERTNAME, error=str(exc))


def _alert(zone: str, count: int, since: float, now: float, *, firing: bool) -> Alert:
    return Alert(
        # The count is an annotation: a label would make each new count a new alert.
        labels={"alertname": ALERTNAME, "item": "watchd", "zone": zone, "severity": "critical"},
        annotations={
            "summary": f"no live watchd node serves zone {zone!r}: {count} checks are not polled",
            "unpolled_checks": str(count),
        },
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        starts_at=since,
        ends_at=now + SELF_ALERT_VALID if firing else now,
        source="watchd",
    )
