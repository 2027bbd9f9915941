"""What operators do with incidents, silences, changes and problems, as one object for the API
and the CLI: each call is one transaction on the store, so both work the same with the daemon
running or stopped (SQLite WAL lets them share the file)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.incidents import changes as change_ops
from watchd.incidents import lifecycle, problems
from watchd.incidents.ledger import Ledger, incident_from_row
from watchd.incidents.model import Incident
from watchd.incidents.settings import IncidentSettings
from watchd.pipeline import silences, sweep
from watchd.pipeline.current import CurrentAlert, current_alerts
from watchd.pipeline.incident_query import IncidentFilter, filtered
from watchd.pipeline.silences import Silence
from watchd.store.engine import reading, transact
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incidents as inc
from watchd.store.pages import DEFAULT_LIMIT, FIRST_PAGE, Listed, Page, count, sliced
from watchd.store.tables import alerts as al
from watchd.timestamps import shown_time

T = TypeVar("T")


def _shown(t: float | None) -> float | None:
    """A stored alert time for the API: one stored out of range before it was refused at
    ingestion (Infinity, 1e13) is clamped into it, so the answer stays JSON."""
    return None if t is None else shown_time(t)


class IncidentService:
    """Incident queries and actions; `settings` is called each time so reloads apply."""

    def __init__(
        self, engine: AsyncEngine, *, clock: Clock, settings: Callable[[], IncidentSettings]
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._settings = settings

    def now(self) -> float:
        return self._clock.now()

    async def list_incidents(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        item: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[dict[str, Any]]:
        """Incidents, newest first, filtered by state, severity and item (the first `limit`)."""
        found = await self.incidents_page(
            state=state, severity=severity, item=item, page=Page(limit)
        )
        return found.items

    async def incidents_page(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        item: str | None = None,
        page: Page = FIRST_PAGE,
        where: IncidentFilter | None = None,
    ) -> Listed[dict[str, Any]]:
        """One page of the incidents, newest first, filtered by state, severity and item (or
        filtered and sorted by `where`, which the dashboard builds), and how many match."""
        if where is None:
            where = IncidentFilter(
                state=tuple(state.split(",")) if state else (),
                severity=tuple(severity.split(",")) if severity else (),
                items=(item,) if item else None,
            )
        query = filtered(select(inc), where)
        async with self._reading("list incidents") as conn:
            rows = await conn.execute(sliced(query, page))
            found = [incident_from_row(r).as_json() for r in rows]
            return Listed(found, await count(conn, query))

    async def get_incident(self, incident_id: int) -> dict[str, Any]:
        """One incident with its alerts and its timeline; IncidentNotFound if there is none."""
        async with self._reading(f"read incident {incident_id}") as conn:
            ledger = Ledger(conn, self._clock.now(), self._settings())
            incident = await ledger.load(incident_id, lock=False)
            alerts = await ledger.alert_rows(incident_id)
            events = await ledger.events(incident_id)
        return {
            **incident.as_json(),
            "alerts": [
                {
                    "fingerprint": a["fingerprint"],
                    "role": a["role"],
                    "status": a["status"],
                    "muted": a["muted"],
                    "labels": a["labels"],
                    "annotations": a["annotations"],
                    "starts_at": _shown(a["starts_at"]),
                    "ends_at": _shown(a["ends_at"]),
                    "source": a["source"],
                }
                for a in alerts
            ],
            "timeline": [e.as_json() for e in events],
        }

    async def acknowledge(self, incident_id: int, by: str, comment: str = "") -> dict[str, Any]:
        return await self._act(lambda led: lifecycle.acknowledge(led, incident_id, by, comment))

    async def unacknowledge(self, incident_id: int, by: str, comment: str = "") -> dict[str, Any]:
        return await self._act(lambda led: lifecycle.unacknowledge(led, incident_id, by, comment))

    async def resolve(self, incident_id: int, by: str, comment: str = "") -> dict[str, Any]:
        return await self._act(lambda led: lifecycle.resolve(led, incident_id, by, comment))

    async def close(self, incident_id: int, by: str, comment: str = "") -> dict[str, Any]:
        return await self._act(lambda led: lifecycle.close(led, incident_id, by, comment))

    async def comment(self, incident_id: int, by: str, text: str) -> dict[str, Any]:
        return await self._act(lambda led: lifecycle.comment(led, incident_id, by, text))

    async def silences(self, *, include_expired: bool = False) -> list[dict[str, Any]]:
        """Every active and pending silence (expired ones too when asked), newest first."""
        return (await self.silences_page(include_expired=include_expired)).items

    async def silences_page(
        self, *, include_expired: bool = False, page: Page | None = None
    ) -> Listed[dict[str, Any]]:
        """Active and pending silences (expired ones too when asked), newest first: all of
        them or one `page`, with their total."""
        now = self._clock.now()
        async with self._reading("list silences") as conn:
            found = await silences.list_silences(
                conn, now, include_expired=include_expired, page=page
            )
        return Listed([s.as_json(now) for s in found.items], found.total)

    async def add_silence(
        self,
        *,
        matchers: list[str],
        ends_at: float,
        created_by: str,
        comment: str = "",
        starts_at: float | None = None,
        replacing: str | None = None,
    ) -> dict[str, Any]:
        """Create a silence and apply it to incidents at once; SilenceError for bad input.

        With `replacing`, that silence ends now (if it had not) in the same transaction, so
        what both mute stays muted: how Alertmanager updates a silence it cannot edit in place
        (SilenceNotFound if there is no such silence)."""
        now = self._clock.now()

        async def add(conn: AsyncConnection) -> Silence:
            if replacing is not None:
                if await silences.get_silence(conn, replacing) is None:
                    raise silences.SilenceNotFound(replacing)
                await silences.expire_silence(conn, replacing, now)
            silence = await silences.add_silence(
                conn,
                matchers=matchers,
                starts_at=now if starts_at is None else starts_at,
                ends_at=ends_at,
                created_by=created_by,
                comment=comment,
                now=now,
            )
            await sweep.sweep(conn, now, self._settings())
            return silence

        return (await self._transact("add a silence", add)).as_json(now)

    async def silences_with_expired(
        self, expired_limit: int
    ) -> tuple[list[Silence], Listed[Silence]]:
        """Every active and pending silence, and the `expired_limit` that ended last with how
        many have ended."""
        now = self._clock.now()
        async with self._reading("list silences") as conn:
            current = await silences.list_silences(conn, now)
            expired = await silences.expired_silences(conn, now, expired_limit)
        return current.items, expired

    async def find_silence(self, silence_id: str) -> Silence | None:
        """The silence `silence_id` in whatever state, or None if there is none."""
        async with self._reading("read a silence") as conn:
            return await silences.get_silence(conn, silence_id)

    async def expire_silence(self, silence_id: str) -> bool:
        """End a silence now (what it held back is notified); False if none was running."""
        now = self._clock.now()

        async def expire(conn: AsyncConnection) -> bool:
            expired = await silences.expire_silence(conn, silence_id, now)
            if expired:
                await sweep.sweep(conn, now, self._settings())
            return expired

        return await self._transact("expire a silence", expire)

    async def changes(self) -> list[dict[str, Any]]:
        """The latest changes (the first page), latest start first."""
        return (await self.changes_page()).items

    async def changes_page(self, page: Page = FIRST_PAGE) -> Listed[dict[str, Any]]:
        """One page of the changes, latest start first, with their total."""
        async with self._reading("list changes") as conn:
            found = await change_ops.list_changes(conn, page)
        return Listed([c.as_json() for c in found.items], found.total)

    async def end_change(self, change_id: int) -> bool:
        """End a change now (what its window held back is notified); False if none was running."""
        now = self._clock.now()

        async def end(conn: AsyncConnection) -> bool:
            ended = await change_ops.end_change(conn, change_id, now)
            if ended:
                await sweep.sweep(conn, now, self._settings())
            return ended

        return await self._transact("end a change", end)

    async def add_change(
        self,
        *,
        item: str,
        summary: str,
        starts_at: float,
        ends_at: float,
        ticket: str = "",
        created_by: str,
    ) -> dict[str, Any]:
        """Record a change (a maintenance window for its item and children); ChangeError."""
        now = self._clock.now()
        settings = self._settings()

        async def add(conn: AsyncConnection) -> change_ops.Change:
            change = await change_ops.add_change(
                conn,
                item=item,
                summary=summary,
                starts_at=starts_at,
                ends_at=ends_at,
                ticket=ticket,
                created_by=created_by,
                now=now,
                inventory=settings.inventory,
            )
            await sweep.sweep(conn, now, settings)
            return change

        return (await self._transact("add a change", add)).as_json()

    async def problems(self, *, state: str | None = None) -> list[dict[str, Any]]:
        """Every problem (in `state`, if given), newest first."""
        return (await self.problems_page(state=state)).items

    async def problems_page(
        self, *, state: str | None = None, page: Page | None = None
    ) -> Listed[dict[str, Any]]:
        """Problems, newest first (all or one `page`), with their total."""
        async with self._reading("list problems") as conn:
            return await problems.list_problems(conn, state=state, page=page)

    async def get_problem(self, problem_id: int) -> dict[str, Any]:
        """One problem with the ids of its incidents; ProblemNotFound if there is none."""
        async with self._reading(f"read problem {problem_id}") as conn:
            found = (await problems.list_problems(conn, problem_id=problem_id)).items
        if not found:
            raise problems.ProblemNotFound(problem_id)
        return found[0]

    async def get_change(self, change_id: int) -> dict[str, Any] | None:
        """One change, or None if there is none."""
        async with self._reading(f"read change {change_id}") as conn:
            found = await change_ops.get_change(conn, change_id)
        return None if found is None else found.as_json()

    async def close_problem(self, problem_id: int, by: str, resolution: str = "") -> dict[str, Any]:
        """Close an open problem (ProblemNotFound, ProblemClosed otherwise)."""
        return await self._transact(
            "close a problem",
            lambda conn: problems.close_problem(
                conn, problem_id, by=by, resolution=resolution, now=self._clock.now()
            ),
        )

    async def alerts(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """The first page of the stored alerts (see alerts_page)."""
        return (await self.alerts_page(status=status)).items

    async def alerts_page(
        self, *, status: str | None = None, page: Page = FIRST_PAGE
    ) -> Listed[dict[str, Any]]:
        """One page of the stored alerts (oldest first) with the incident each belongs to and
        why it is muted, if it is, and how many alerts there are."""
        query = select(al)
        if status:
            query = query.where(al.c.status == status)
        query = query.order_by(al.c.first_seen, al.c.fingerprint)
        async with self._reading("list alerts") as conn:
            rows = (await conn.execute(sliced(query, page))).all()
            membership = await conn.execute(
                select(ia.c.fingerprint, ia.c.incident_id, ia.c.role, ia.c.muted)
                .where(ia.c.fingerprint.in_([r.fingerprint for r in rows]))
                .order_by(ia.c.incident_id)
            )
            latest = {m.fingerprint: m for m in membership}  # the newest incident wins
            total = await count(conn, query)
        found = []
        for r in rows:
            m = latest.get(r.fingerprint)
            found.append(
                {
                    "fingerprint": r.fingerprint,
                    "labels": r.labels,
                    "annotations": r.annotations,
                    "status": r.status,
                    "starts_at": _shown(r.starts_at),
                    "ends_at": _shown(r.ends_at),
                    "source": r.source,
                    "updated_at": r.updated_at,
                    "incident": None if m is None else m.incident_id,
                    "role": None if m is None else m.role,
                    "muted": None if m is None else m.muted,
                }
            )
        return Listed(found, total)

    async def current_alerts(
        self, labels_match: Callable[[Mapping[str, str]], bool] = lambda _: True
    ) -> AsyncGenerator[list[CurrentAlert], None]:
        """The firing alerts whose labels pass `labels_match`, with what mutes them now, in
        chunks (watchd.pipeline.current); close it (contextlib.aclosing) if you stop early."""
        async with self._reading("list current alerts") as conn:
            async for chunk in current_alerts(
                conn, self._clock.now(), self._settings(), labels_match=labels_match
            ):
                yield chunk

    async def _act(self, action: Callable[[Ledger], Awaitable[Incident]]) -> dict[str, Any]:
        incident = await self._transact(
            "change an incident",
            lambda conn: action(Ledger(conn, self._clock.now(), self._settings())),
        )
        return incident.as_json()

    async def _transact(self, operation: str, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """One write transaction, run again if it lost a race on PostgreSQL (store.engine)."""
        return await transact(self._engine, operation, body, full_reason=True)

    def _reading(self, operation: str) -> AbstractAsyncContextManager[AsyncConnection]:
        return reading(self._engine, operation, full_reason=True)
