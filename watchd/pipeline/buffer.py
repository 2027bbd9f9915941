"""A sink for watchd's own producers (checks, rules, traps): it never raises and never drops.

HTTP and MQTT ingestion call the pipeline directly, so a failing store turns into a 503 or an
unacknowledged message and the sender retries. Checks and rules have no sender to retry: their
alerts wait here, in order, and are resubmitted with backoff until the store takes them. The
failure and the recovery are each logged once.

Only a store outage is retried. An alert the store refuses for what it holds, or that the
pipeline fails on, fails the same way every time: it is found alone (watchd.pipeline.isolate),
logged, counted in `refused` and dropped, so it never holds up the alerts behind it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.model import Alert, AlertSink
from watchd.pipeline.isolate import Refused, submit_isolating

log = get_logger("watchd.alerts")

MAX_BACKOFF = 30.0


class BufferedSink:
    def __init__(self, sink: AlertSink, *, clock: Clock, max_pending: int = 100_000) -> None:
        self._sink = sink
        self._clock = clock
        self._max_pending = max_pending
        self._pending: deque[Alert] = deque()
        self._kept = asyncio.Event()  # set while alerts wait: `run` sleeps until then
        self.dropped = 0
        self.refused = 0  # alerts dropped because they failed alone (not a store outage)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        """Store the alerts now if possible; otherwise keep them for `run` to retry, in order."""
        if self._pending:
            self._keep(alerts)  # older alerts wait: keep the order
            return
        try:
            self._drop(alerts, await submit_isolating(self._sink, alerts))
        except Exception as exc:
            log.error("alerts_not_stored", error=str(exc), count=len(alerts), note="kept, retrying")
            self._keep(alerts)

    async def run(self) -> None:
        """Resubmit waiting alerts with exponential backoff, until cancelled."""
        failures = 0
        while True:
            if not self._pending:
                # Idle until something is kept: a loop waking twice a second for nothing would
                # cost the daemon little but a simulated hour (watchd test-paging) 7,200 steps.
                self._kept.clear()
                await self._kept.wait()
            await self._clock.sleep(min(MAX_BACKOFF, 0.5 * 2**failures) if failures else 0.5)
            if not self._pending:
                continue
            batch = tuple(self._pending)
            try:
                refused = await submit_isolating(self._sink, batch)
            except Exception:  # a store outage (submit_isolating raises nothing else)
                failures += 1
                continue
            self._drop(batch, refused)
            # Only what is still at the head was stored by this call: while it ran, newer alerts
            # may have queued behind it, and a full queue may have dropped some of its oldest.
            for alert in batch:
                if self._pending and self._pending[0] is alert:
                    self._pending.popleft()
            log.info("alerts_stored_again", count=len(batch), after_failures=failures)
            failures = 0

    def _drop(self, alerts: Sequence[Alert], refused: list[Refused]) -> None:
        """Log and count the alerts that failed alone: retrying them would fail forever."""
        for r in refused:
            alert = alerts[r.position]
            self.refused += 1
            log.error(
                "alert_refused",
                alertname=alert.name,
                fingerprint=alert.fingerprint,
                reason=r.reason,
                note="dropped: it fails alone, not because the store is down",
            )

    def _keep(self, alerts: tuple[Alert, ...]) -> None:
        self._pending.extend(alerts)
        self._kept.set()
        while len(self._pending) > self._max_pending:
            # Bounded memory: the oldest go first, and the loss is counted and logged.
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("alerts_dropped", dropped=self.dropped, max_pending=self._max_pending)
