"""Everything the passing of time does to incidents, driven by an injected clock:

    every timer_interval ─► expire stale external alerts (endsAt, resolve_timeout)
                         ─► sweep mutes (windows/silences starting and ending, parents)
                         ─► escalation steps of unacknowledged incidents
                         ─► SLA timers (time to acknowledge, time to resolve) per severity

Each step is its own short transaction; a failing database is logged once and retried.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.clock import Clock
from watchd.incidents.ledger import Ledger
from watchd.incidents.lifecycle import SYSTEM
from watchd.incidents.model import ACTIVE_STATES, State
from watchd.logging import get_logger
from watchd.pipeline import AlertPipeline
from watchd.store.engine import write_transaction
from watchd.store.errors import StoreError
from watchd.store.incident_tables import incidents as inc

log = get_logger("watchd.incidents")


class IncidentTimers:
    """Runs `tick` every `incidents.timer_interval` until cancelled."""

    def __init__(self, pipeline: AlertPipeline, *, clock: Clock) -> None:
        self._pipeline = pipeline
        self._clock = clock
        self._failing = False

    async def run(self) -> None:
        while True:
            await self._clock.sleep(self._pipeline.settings.incidents.timer_interval)
            try:
                await self.tick()
            except (StoreError, SQLAlchemyError, OSError) as exc:
                if not self._failing:
                    log.error("incident_timers_failing", error=str(exc).splitlines()[0])
                self._failing = True
            except asyncio.CancelledError:
                raise
            else:
                if self._failing:
                    log.info("incident_timers_recovered")
                self._failing = False

    async def tick(self) -> None:
        """One pass of every timer, at the clock's current time."""
        await self._pipeline.expire()
        await self._pipeline.sweep()
        try:
            async with write_transaction(self._pipeline.engine) as conn:
                await self.escalate_and_check_sla(conn, self._clock.now())
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError("run escalation and SLA timers", str(exc)) from exc

    async def escalate_and_check_sla(self, conn: AsyncConnection, now: float) -> None:
        settings = self._pipeline.settings
        ledger = Ledger(conn, now, settings)
        policies = {p.name: p for p in settings.incidents.escalation}
        rows = await conn.execute(
            select(inc.c.id).where(inc.c.state.in_(ACTIVE_STATES), inc.c.notified == "firing")
        )
        for (incident_id,) in rows.all():
            incident = await ledger.load(incident_id)
            policy = policies.get(incident.escalation_policy or "")
            if policy is not None and incident.state is State.OPEN and incident.audible:
                base = incident.notified_at or incident.opened_at
                step = incident.escalation_step
                while step < len(policy.steps) and now >= base + policy.steps[step].after:
                    detail = {"policy": policy.name, "step": step + 1}
                    incident = await ledger.event(incident, "escalated", SYSTEM, detail)
                    incident = await ledger.notify(
                        incident, "escalated", detail, receivers=policy.steps[step].receivers
                    )
                    step += 1
                    incident = await ledger.update(incident, escalation_step=step)
            sla = settings.incidents.sla.get(incident.severity)
            if sla is None:
                continue
            age = now - incident.opened_at
            if (
                sla.ack
                and incident.state is State.OPEN
                and not incident.sla_ack_breached
                and age >= sla.ack
            ):
                detail = {"target": "acknowledge", "within": sla.ack, "severity": incident.severity}
                incident = await ledger.update(incident, sla_ack_breached=True)
                incident = await ledger.event(incident, "sla_breach", SYSTEM, detail)
                incident = await ledger.notify(incident, "sla_breach", detail)
            if sla.resolve and not incident.sla_resolve_breached and age >= sla.resolve:
                detail = {"target": "resolve", "within": sla.resolve, "severity": incident.severity}
                incident = await ledger.update(incident, sla_resolve_breached=True)
                incident = await ledger.event(incident, "sla_breach", SYSTEM, detail)
                incident = await ledger.notify(incident, "sla_breach", detail)
