"""Everything the passing of time does to alerts and incidents, driven by an injected clock:

    every timer_interval ─► expire stale external alerts (endsAt, resolve_timeout)
                         ─► sweep mutes (windows/silences starting and ending, parents)
                         ─► escalation steps of unacknowledged incidents
                         ─► SLA timers (time to acknowledge, time to resolve) per severity

Each step is its own short transaction; a failing database is logged once and retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from watchd.clock import Clock
from watchd.failures import FailureLog
from watchd.incidents.escalation import escalate_and_check_sla
from watchd.logging import get_logger
from watchd.pipeline.alert_pipeline import AlertPipeline
from watchd.store.engine import transact
from watchd.store.errors import StoreError

log = get_logger("watchd.incidents")


class IncidentTimers:
    """Runs `tick` every `incidents.timer_interval` until cancelled, while `active()` says
    so: in a cluster only the node holding the singleton lease runs the timers."""

    def __init__(
        self, pipeline: AlertPipeline, *, clock: Clock, active: Callable[[], bool] = lambda: True
    ) -> None:
        self._pipeline = pipeline
        self._clock = clock
        self._active = active
        self._failures = FailureLog(
            log, failing="incident_timers_failing", recovered="incident_timers_recovered"
        )

    async def run(self) -> None:
        while True:
            await self._clock.sleep(self._pipeline.settings.incidents.timer_interval)
            if not self._active():
                continue
            try:
                await self.tick()
            except (StoreError, SQLAlchemyError, OSError) as exc:
                self._failures.failed(error=str(exc).splitlines()[0])
            except asyncio.CancelledError:
                raise
            else:
                self._failures.recovered()

    async def tick(self) -> None:
        """One pass of every timer, at the clock's current time."""
        await self._pipeline.expire()
        await self._pipeline.sweep()
        engine = self._pipeline.engine
        await transact(
            engine,
            "run escalation and SLA timers",
            lambda conn: escalate_and_check_sla(conn, self._clock.now(), self._pipeline.settings),
            full_reason=True,
        )
