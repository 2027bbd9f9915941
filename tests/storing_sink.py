"""A store-only AlertSink: test and bench scaffolding, not shipped.

The daemon uses AlertPipeline; StoringSink stores alerts without incidents, for the ingestion
tests that check what is stored and for `bench/ingest.py --sink storing`, which separates the
cost of storing from that of correlating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchd.model import Alert
from watchd.pipeline.alert_pipeline import log_alerts

if TYPE_CHECKING:
    from watchd.store import Store


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
