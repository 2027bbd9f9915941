"""A store-only AlertSink, and the `alert` log line every sink writes per state change.

The daemon uses AlertPipeline; StoringSink stores alerts without incidents, for the ingestion
tests that check what is stored and for `bench/ingest.py --sink storing`, which separates the
cost of storing from that of correlating.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from watchd.logging import get_logger
from watchd.model import Alert

if TYPE_CHECKING:
    from watchd.store import Store

log = get_logger("watchd.alerts")


class StoringSink:
    """An AlertSink that stores alerts (upsert by fingerprint) and logs each state change."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.submitted = 0

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        if not alerts:
            return
        await self._store.record_alerts(alerts)
        self.submitted += len(alerts)
        log_alerts(alerts)


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
