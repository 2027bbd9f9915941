"""The `log` receiver: notification intents printed to the log (structlog), so a fresh install
shows what it would notify. Full delivery (router, webhook, retries) is the notify package.

Rows are claimed before they are logged (state "delivering", with a lease); on PostgreSQL with
FOR UPDATE SKIP LOCKED so several nodes never print the same row. Rows of one incident go out
in order of their sequence.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.store.engine import write_transaction
from watchd.store.errors import StoreError
from watchd.store.incident_tables import outbox as ob

log = get_logger("watchd.notify")

LEASE = 60.0


class LogDispatcher:
    """Delivers pending outbox rows of the receivers named in `receivers` to the log."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        receivers: tuple[str, ...],
        interval: float = 1.0,
        batch: int = 100,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.receivers = receivers
        self._interval = interval
        self._batch = batch
        self.delivered = 0
        self._failing = False

    async def run(self) -> None:
        """Deliver what is pending every `interval` until cancelled; errors are retried."""
        while True:
            try:
                while await self.deliver_once() == self._batch:
                    pass
            except StoreError as exc:
                if not self._failing:
                    log.error("log_delivery_failing", error=exc.reason.splitlines()[0])
                self._failing = True
            else:
                self._failing = False
            await self._clock.sleep(self._interval)

    async def deliver_once(self) -> int:
        """Claim, log and mark delivered up to `batch` rows; return how many."""
        if not self.receivers:
            return 0
        rows = await self._claim()
        for row in rows:
            payload: dict[str, Any] = row["payload"]
            incident = payload.get("incident", {})
            log.info(
                "notification",
                receiver=row["receiver"],
                kind=row["kind"],
                idempotency_key=row["idempotency_key"],
                incident=incident.get("id"),
                state=incident.get("state"),
                severity=incident.get("severity"),
                title=incident.get("title"),
                status=payload.get("status"),
                alerts=len(payload.get("alerts", [])),
            )
        if rows:
            try:
                async with write_transaction(self._engine) as conn:
                    await conn.execute(
                        update(ob)
                        .where(ob.c.id.in_([r["id"] for r in rows]))
                        .values(
                            state="delivered",
                            delivered_at=self._clock.now(),
                            attempts=ob.c.attempts + 1,
                            claimed_until=None,
                        )
                    )
            except (SQLAlchemyError, OSError) as exc:
                raise StoreError("mark log notifications delivered", str(exc)) from exc
        self.delivered += len(rows)
        return len(rows)

    async def _claim(self) -> list[dict[str, Any]]:
        now = self._clock.now()
        query = (
            select(ob)
            .where(
                ob.c.receiver.in_(self.receivers),
                or_(
                    ob.c.state == "pending",
                    and_(ob.c.state == "delivering", ob.c.claimed_until < now),
                ),
                ob.c.next_attempt_at <= now,
            )
            .order_by(ob.c.incident_id, ob.c.seq, ob.c.id)
            .limit(self._batch)
        )
        try:
            async with write_transaction(self._engine) as conn:
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                rows = [dict(r._mapping) for r in await conn.execute(query)]
                if rows:
                    await conn.execute(
                        update(ob)
                        .where(ob.c.id.in_([r["id"] for r in rows]))
                        .values(state="delivering", claimed_until=now + LEASE)
                    )
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError("claim log notifications", str(exc)) from exc
        return rows
