"""Receiver health: a receiver's failures are logged once and its recovery once, and giving
up on notifications (refused or expired) raises watchd's own NotificationsFailing alert,
resolved by the receiver's next delivery and sent again every SELF_ALERT_REFRESH meanwhile (see
watchd.model). The self-alert goes into the alert pipeline like any alert (the dispatcher's
back edge into ingestion), so it is routed and notified too."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from watchd.logging import get_logger
from watchd.model import SELF_ALERT_REFRESH, SELF_ALERT_VALID, Alert, AlertSink, AlertStatus
from watchd.notify.attempt import Status

log = get_logger("watchd.notify")

SELF_ALERT = "NotificationsFailing"


class ReceiverHealth:
    """Since when each receiver has been failing, and which have a firing self-alert.
    Durations and refresh intervals are on `monotonic` (a wall-clock step changes neither);
    wall-clock times are only shown."""

    def __init__(
        self, sink: AlertSink | None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._sink = sink
        self._monotonic = monotonic
        self._first_failure: dict[str, float] = {}  # receiver -> wall-clock time
        self._failing_since: dict[str, float] = {}  # receiver -> monotonic time
        self._alerting: dict[
            str, tuple[str, float]
        ] = {}  # receiver -> (error, last sent: monotonic)

    async def track(self, name: str, status: Status, error: str, now: float) -> None:
        """Take the status of a delivery to receiver `name` (`error` when it failed)."""
        if status.sent:
            since = self._first_failure.pop(name, None)
            began = self._failing_since.pop(name, None)
            if began is not None:
                failing_for = max(0.0, self._monotonic() - began)
                log.info("receiver_recovered", receiver=name, failing_for=round(failing_for, 1))
            if self._alerting.pop(name, None) is not None:
                await self._self_alert(name, since or now, now, firing=False, error="")
            return
        if name not in self._first_failure:
            self._first_failure[name] = now
            self._failing_since[name] = self._monotonic()
            log.warning("receiver_failing", receiver=name, error=error)
        if status.gave_up:
            await self.gave_up(name, self._first_failure[name], now, error)

    async def gave_up(self, name: str, since: float, now: float, error: str) -> None:
        """Notifications to `name` were given up on; it has been failing since `since` (or
        earlier, if known): the self-alert fires."""
        since = self._first_failure.setdefault(name, since)
        self._failing_since.setdefault(name, self._monotonic())
        self._alerting[name] = (error, self._monotonic())
        await self._self_alert(name, since, now, firing=True, error=error)

    async def refresh(self, now: float) -> None:
        """Send every firing self-alert again that was last sent SELF_ALERT_REFRESH ago."""
        for name, (error, sent) in list(self._alerting.items()):
            if self._monotonic() - sent >= SELF_ALERT_REFRESH:
                self._alerting[name] = (error, self._monotonic())
                await self._self_alert(
                    name, self._first_failure.get(name, now), now, firing=True, error=error
                )

    async def _self_alert(
        self, name: str, since: float, now: float, *, firing: bool, error: str
    ) -> None:
        if self._sink is None:
            return
        when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        alert = Alert(
            labels={
                "alertname": SELF_ALERT,
                "receiver": name,
                "severity": "critical",
                "item": "watchd",
            },
            status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
            starts_at=since,
            ends_at=now + SELF_ALERT_VALID if firing else now,
            annotations={
                "summary": f"notifications to {name} failing since {when}",
                **({"description": error} if error else {}),
            },
            source="watchd",
        )
        try:
            await self._sink.submit((alert,))
        except Exception as exc:
            log.error("self_alert_not_submitted", receiver=name, error=str(exc))
