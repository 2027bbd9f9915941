"""The outbox dispatcher: every notification row delivered at least once, in order per
incident and receiver, with backoff, grouping timers and a delivery log.

    outbox rows (pending) ─► scan: chains per (incident, receiver), route, group timers,
                             max_age ─► claim (lease) ─► one task per chain, or per group for
                             batch receivers ─► receiver.deliver ─► record: deliveries row,
                             outbox state, timeline event, group timers ─► wake the scan

A chain's next row waits until the one before it is delivered, failed (4xx) or expired; each
receiver has its own tasks and concurrency limit, so one receiver's outage delays no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.config import Config
from watchd.incidents.ledger import IncidentNotFound, Ledger, incident_from_row
from watchd.incidents.model import State
from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.model import Alert, AlertSink, AlertStatus
from watchd.notify import outbox
from watchd.notify.acklinks import LinkMaker
from watchd.notify.backoff import backoff
from watchd.notify.build import build_receivers
from watchd.notify.model import Notification, Outcome, Receiver, excerpt
from watchd.notify.outbox import Attempt, Group, Row
from watchd.notify.receivers import AnyReceiver
from watchd.notify.router import Route, routing_labels
from watchd.notify.wakeup import watch_outbox
from watchd.store.engine import write_transaction
from watchd.store.errors import StoreError
from watchd.store.incident_tables import incidents as inc

log = get_logger("watchd.notify")

LEASE = 120.0
PER_TASK = 16
RESCAN_DELAY = 0.02  # seconds a finished task waits for others to finish before a new scan
SELF_ALERT = "NotificationsFailing"


@dataclass(frozen=True, slots=True)
class _Unit:
    """Rows delivered by one task: one chain, or a whole group for a batch receiver."""

    receiver: str
    group_key: str
    route: Route
    group: Group | None
    chains: tuple[tuple[Row, ...], ...]


class Dispatcher:
    """Delivers the outbox to the configured receivers until cancelled (`run`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        config: Config,
        settings: IncidentSettings,
        sink: AlertSink | None = None,
        base: Path = Path("."),
        receivers: Mapping[str, Receiver] | None = None,
        poll_interval: float = 5.0,
        rand: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._sink = sink
        self._base = base
        self._poll = poll_interval
        self._rand = rand or random.Random()
        self._wake = asyncio.Event()
        self._rescan: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[int] = set()
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self._first_failure: dict[str, float] = {}
        self._alerting: set[str] = set()
        self._store_failing = False
        self._open_pairs: set[tuple[int, str]] = set()
        self._last_repeat = float("-inf")
        self.delivered = 0
        self._receivers: dict[str, Receiver] = {}
        self._configs: dict[str, AnyReceiver] = {}
        self._install(config, settings, receivers)
        self._recorder = outbox.Recorder(engine, lambda: self._settings)
        self._unwatch = watch_outbox(engine, self.wake)

    def _install(
        self, config: Config, settings: IncidentSettings, given: Mapping[str, Receiver] | None
    ) -> list[Receiver]:
        """Take a config; return the receivers it replaced (to close once idle)."""
        configs = {r.name: r for r in config.receivers}
        built = dict(given) if given is not None else {}
        for name, cfg in configs.items():
            if name in built:
                continue
            if name in self._receivers and self._configs.get(name) == cfg:
                built[name] = self._receivers[name]
        missing = [c for n, c in configs.items() if n not in built]
        built.update(
            build_receivers(missing, clock=self._clock, base=self._base, engine=self._engine)
        )
        replaced = [r for n, r in self._receivers.items() if built.get(n) is not r]
        self._receivers, self._configs = built, configs
        self._settings = settings
        self._notify = config.notify
        self._links: LinkMaker | None = None
        links = config.notify.ack_links
        if links is not None:
            try:
                key = links.key.reveal().encode()
                self._links = LinkMaker(links.base_url, key, links.ttl)
            except Exception as exc:
                log.error("ack_links_disabled", error=str(exc))
        return replaced

    def reconfigure(self, config: Config, settings: IncidentSettings) -> None:
        """Apply a reloaded config: changed receivers are rebuilt, the old ones closed later."""
        replaced = self._install(config, settings, None)
        if replaced and self._loop is not None:
            self._loop.create_task(self._close_when_idle(replaced), name="watchd.notify.close")
        self.wake()

    def ack_key(self) -> bytes | None:
        """The acknowledge-link HMAC key of the current config (None: links are off), for
        watchd.api.ack.add_routes."""
        return self._links.key if self._links is not None else None

    def wake(self) -> None:
        """Scan the outbox now (new rows were committed); safe from any thread."""
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Scan, deliver and wait (for a wake-up, the next due row or the poll interval)."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                due = await self._cycle()
                wait = (
                    self._poll
                    if due is None
                    else min(self._poll, max(0.0, due - self._clock.now()))
                )
                await self._sleep_or_wake(wait)
        finally:
            await self.aclose()

    async def run_once(self) -> int:
        """One scan, waiting for every delivery it started; returns rows delivered so far."""
        self._loop = asyncio.get_running_loop()
        await self._cycle()
        while any(self._tasks.values()):
            await asyncio.gather(*[t for ts in self._tasks.values() for t in ts])
        return self.delivered

    async def aclose(self) -> None:
        """Stop the deliveries in flight (their rows stay leased and go out after restart)."""
        self._unwatch()
        tasks = [t for ts in self._tasks.values() for t in ts]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for receiver in self._receivers.values():
            with contextlib.suppress(Exception):
                await receiver.aclose()

    async def _sleep_or_wake(self, seconds: float) -> None:
        if self._wake.is_set():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _cycle(self) -> float | None:
        self._wake.clear()
        try:
            due = await self._dispatch()
            if self._clock.now() - self._last_repeat >= self._notify.repeat_check_interval:
                await self._repeat()
                self._last_repeat = self._clock.now()
        except StoreError as exc:
            if not self._store_failing:
                log.error("notify_store_failing", error=exc.reason.splitlines()[0])
            self._store_failing = True
            return None
        if self._store_failing:
            log.info("notify_store_back")
        self._store_failing = False
        return due

    async def _dispatch(self) -> float | None:
        now = self._clock.now()
        rows = await outbox.open_rows(self._engine)
        chains: dict[tuple[int, str], list[Row]] = {}
        for row in rows:
            chains.setdefault((row.incident_id, row.receiver), []).append(row)
        self._open_pairs = set(chains)
        next_due: float | None = None

        def later(t: float) -> None:
            nonlocal next_due
            next_due = t if next_due is None else min(next_due, t)

        expired: list[Row] = []
        ready: dict[tuple[str, str], list[tuple[Route, tuple[Row, ...]]]] = {}
        for (_, name), chain in chains.items():
            cfg = self._configs.get(name)
            if cfg is None or name not in self._receivers:
                continue  # a receiver no longer configured: its rows wait for it to return
            live = []
            for row in chain:
                if now - row.created_at > cfg.max_age and not self._busy(row, now):
                    expired.append(row)
                else:
                    live.append(row)
            if not live or self._busy(live[0], now):
                continue
            head = live[0]
            if head.next_attempt_at > now:
                later(head.next_attempt_at)
                continue
            route = self._settings.router.route_for(head.labels, name)
            if route.muted(now):
                later(route.unmuted_at(now))
                continue
            due_rows: list[Row] = []
            for row in live:
                if row.next_attempt_at > now or self._busy(row, now):
                    break
                due_rows.append(row)
            key = route.group_key(head.labels, head.incident_key)
            ready.setdefault((name, key), []).append((route, tuple(due_rows)))
        if expired:
            await self._expire(expired, now)
        groups = await outbox.load_groups(self._engine, ready)
        units: list[_Unit] = []
        for (name, key), members in ready.items():
            route = members[0][0]
            group = groups.get((name, key))
            if group is None or group.last_sent_at is None or not group.firing:
                first = min(r.created_at for _, rs in members for r in rs)
                due = first + route.group_wait
            else:
                due = group.last_sent_at + route.group_interval
            if due > now:
                later(due)
                continue
            chain_list = tuple(rs for _, rs in members)
            if self._receivers[name].batch:
                units.append(_Unit(name, key, route, group, chain_list))
            else:
                units += [_Unit(name, key, route, group, (rs,)) for rs in chain_list]
        await self._launch(units, now)
        return next_due

    def _busy(self, row: Row, now: float) -> bool:
        leased = row.state == "delivering" and (row.claimed_until or 0.0) >= now
        return leased or row.id in self._inflight

    async def _launch(self, units: list[_Unit], now: float) -> None:
        """Claim due rows and start at most `concurrency` tasks per receiver, each taking up
        to PER_TASK rows in turn (one scan then serves a large backlog)."""
        plan: dict[str, list[list[_Unit]]] = {}
        sizes: dict[str, list[int]] = {}  # rows per slot, kept beside the slots (no recount)
        for unit in units:
            name = unit.receiver
            free = self._configs[name].concurrency - len(self._tasks.setdefault(name, set()))
            slots = plan.setdefault(name, [])
            counts = sizes.setdefault(name, [])
            rows = sum(len(chain) for chain in unit.chains)
            if len(slots) < free:
                slots.append([unit])
                counts.append(rows)
                continue
            if not slots:
                continue
            lightest = min(range(len(slots)), key=counts.__getitem__)
            if counts[lightest] < PER_TASK:
                slots[lightest].append(unit)
                counts[lightest] += rows
        ids = [
            r.id
            for slots in plan.values()
            for slot in slots
            for u in slot
            for c in u.chains
            for r in c
        ]
        if not ids:
            return
        longest = max(c.timeout for c in self._configs.values())
        claimed = await outbox.claim(self._engine, ids, now, now + LEASE + longest * PER_TASK)
        by_id = {r["id"]: r for r in claimed}
        for name, slots in plan.items():
            for slot in slots:
                jobs = []
                for unit in slot:
                    chains = [[by_id[r.id] for r in c if r.id in by_id] for c in unit.chains]
                    chains = [c for c in chains if c]
                    if chains:
                        jobs.append((unit, chains))
                        self._inflight.update(r["id"] for c in chains for r in c)
                if not jobs:
                    continue
                task = asyncio.get_running_loop().create_task(
                    self._work(jobs), name=f"watchd.notify.{name}"
                )
                self._tasks[name].add(task)
                task.add_done_callback(self._tasks[name].discard)

    async def _work(self, jobs: list[tuple[_Unit, list[list[dict[str, Any]]]]]) -> None:
        try:
            for unit, chains in jobs:
                await self._deliver(unit, chains)
        finally:
            for _, chains in jobs:
                for chain in chains:
                    self._inflight.difference_update(r["id"] for r in chain)
            self._rescan_soon()

    def _rescan_soon(self) -> None:
        """Scan again shortly: the chains this task served may have more rows due. Tasks that
        finish close together share one scan (a scan reads every open row: with thousands
        waiting, a scan per finished task was most of the dispatcher's CPU)."""
        if self._rescan is None or self._rescan.cancelled():
            loop = asyncio.get_running_loop()
            self._rescan = loop.call_later(RESCAN_DELAY, self._rescanned)

    def _rescanned(self) -> None:
        self._rescan = None
        self._wake.set()

    async def _deliver(self, unit: _Unit, chains: list[list[dict[str, Any]]]) -> None:
        receiver = self._receivers[unit.receiver]
        try:
            if receiver.batch:
                rows = [r for c in chains for r in c]
                await self._attempt(unit, receiver, rows, [])
            else:
                for chain in chains:
                    for i, row in enumerate(chain):
                        if not await self._attempt(
                            unit, receiver, [row], [r["id"] for r in chain[i + 1 :]]
                        ):
                            break
        except StoreError as exc:
            # The rows keep their lease and go out again when it ends: at least once.
            log.error(
                "notification_not_recorded",
                receiver=unit.receiver,
                error=exc.reason.splitlines()[0],
            )

    async def _attempt(
        self, unit: _Unit, receiver: Receiver, rows: list[dict[str, Any]], rest: list[int]
    ) -> bool:
        """Send `rows` once, record the outcome; True when the chain may go on."""
        cfg = self._configs[unit.receiver]
        notes = [self._note(r) for r in rows]
        started_at = self._clock.now()
        started = time.monotonic()
        skipped = not cfg.send_resolved and all(
            n.payload.get("status") == "resolved" and n.kind in ("resolved", "closed")
            for n in notes
        )
        if skipped:
            outcome = Outcome(True, response="not sent: send_resolved = false")
        else:
            outcome = await self._call(receiver, notes, cfg.timeout)
        latency = time.monotonic() - started
        now = self._clock.now()
        attempts = [
            self._judge(unit, row, outcome, started_at, latency, now, skipped) for row in rows
        ]
        status = attempts[0].status
        group = None
        if status in ("delivered", "skipped"):
            firing = any(n.payload.get("status") == "firing" for n in notes)
            first = unit.group.first_at if unit.group is not None else started_at
            group = (unit.receiver, unit.group_key, Group(first, now, firing))
        await self._recorder.record(
            attempts,
            release=rest if status == "retry" else (),
            group=group,
            now=now,
        )
        await self._track(unit.receiver, status, outcome, now)
        if status in ("delivered", "skipped"):
            self.delivered += len(rows)
        return status != "retry"

    async def _call(self, receiver: Receiver, notes: list[Notification], limit: float) -> Outcome:
        try:
            # Receivers keep their own timeouts; this bounds one that forgets to.
            async with asyncio.timeout(limit + 5.0):
                return await receiver.deliver(notes)
        except TimeoutError:
            return Outcome(False, error=f"no answer within {limit + 5.0:.0f}s (timeout)")
        except Exception as exc:  # a receiver bug must not lose the row: retried, logged
            return Outcome(False, error=excerpt(f"{type(exc).__name__}: {exc}"))

    def _note(self, row: dict[str, Any]) -> Notification:
        extra: dict[str, Any] = {}
        if self._links is not None:
            extra = self._links.links(row["incident_id"], self._clock.now())
        return Notification(
            outbox_id=row["id"],
            incident_id=row["incident_id"],
            seq=row["seq"],
            idempotency_key=row["idempotency_key"],
            receiver=row["receiver"],
            kind=row["kind"],
            payload=row["payload"],
            attempt=row["attempts"] + 1,
            context=extra,
        )

    def _judge(
        self,
        unit: _Unit,
        row: dict[str, Any],
        outcome: Outcome,
        started_at: float,
        latency: float,
        now: float,
        skipped: bool,
    ) -> Attempt:
        cfg = self._configs[unit.receiver]
        next_at = row["next_attempt_at"]
        if outcome.ok:
            status, kind = ("skipped" if skipped else "delivered"), "delivered"
        elif not outcome.retryable:
            status, kind = "failed", "delivery_failed"
        elif now - row["created_at"] >= cfg.max_age:
            status, kind = "expired", "delivery_expired"
        else:
            status, kind = "retry", "delivery_retrying"
            delay = outcome.retry_after
            if delay is None:
                delay = backoff(
                    row["attempts"] + 1, cfg.backoff_initial, cfg.backoff_max, self._rand
                )
            next_at = now + delay
        error = "; ".join(x for x in (outcome.error, *outcome.notes) if x)
        detail = {
            "receiver": unit.receiver,
            "notification": row["kind"],
            "seq": row["seq"],
            "attempt": row["attempts"] + 1,
            "status": status,
            "http_status": outcome.status,
            "latency": round(latency, 4),
            **({"error": error} if error else {}),
            **({"response": excerpt(outcome.response, 200)} if outcome.response else {}),
            **outcome.detail,
        }
        # The timeline gets outcomes, not every retry: the first failure and the final word.
        event = None if status == "retry" and row["attempts"] > 0 else (kind, detail)
        return Attempt(
            row=row,
            started_at=started_at,
            latency=latency,
            status=status,
            http_status=outcome.status,
            response=outcome.response,
            error=error,
            next_attempt_at=next_at,
            event=event,
        )

    async def _track(self, name: str, status: str, outcome: Outcome, now: float) -> None:
        """Log a receiver's failures once and its recovery once; self-alert on give-ups."""
        if status in ("delivered", "skipped"):
            since = self._first_failure.pop(name, None)
            if since is not None:
                log.info("receiver_recovered", receiver=name, failing_for=round(now - since, 1))
            if name in self._alerting:
                self._alerting.discard(name)
                await self._self_alert(name, since or now, now, firing=False, error="")
            return
        if name not in self._first_failure:
            self._first_failure[name] = now
            log.warning("receiver_failing", receiver=name, error=outcome.error)
        if status in ("failed", "expired"):
            self._alerting.add(name)
            await self._self_alert(
                name, self._first_failure[name], now, firing=True, error=outcome.error
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
            ends_at=None if firing else now,
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

    async def _expire(self, rows: list[Row], now: float) -> None:
        for name in sorted({r.receiver for r in rows}):
            mine = [r for r in rows if r.receiver == name]
            age = self._configs[name].max_age
            reason = f"not delivered within max_age ({age:.0f}s)"
            await outbox.expire(self._engine, self._settings, mine, now, reason)
            log.warning("notifications_expired", receiver=name, count=len(mine))
            self._first_failure.setdefault(name, min(r.created_at for r in mine))
            self._alerting.add(name)
            await self._self_alert(name, self._first_failure[name], now, firing=True, error=reason)

    async def _repeat(self) -> None:
        """Notify again open incidents whose group was last notified repeat_interval ago."""
        now = self._clock.now()
        router = self._settings.router
        query = select(inc).where(
            inc.c.state == State.OPEN.value, inc.c.audible.is_(True), inc.c.notified == "firing"
        )
        try:
            async with self._engine.connect() as conn:
                incidents = [incident_from_row(r) for r in await conn.execute(query)]
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError("read incidents to repeat", str(exc)) from exc
        wanted: dict[tuple[str, str], list[tuple[int, Route]]] = {}
        for incident in incidents:
            labels = routing_labels(incident.as_json())
            for route in router.match(labels):
                if route.repeat_interval <= 0:
                    continue
                for name in route.receivers:
                    if (incident.id, name) in self._open_pairs or name not in self._receivers:
                        continue
                    key = route.group_key(labels, incident.key)
                    wanted.setdefault((name, key), []).append((incident.id, route))
        groups = await outbox.load_groups(self._engine, wanted)
        due: dict[int, list[str]] = {}
        for (name, key), members in wanted.items():
            group = groups.get((name, key))
            if group is None or group.last_sent_at is None or not group.firing:
                continue
            for incident_id, route in members:
                if group.last_sent_at + route.repeat_interval <= now:
                    due.setdefault(incident_id, []).append(name)
        for incident_id, names in due.items():
            try:
                async with write_transaction(self._engine) as conn:
                    ledger = Ledger(conn, now, self._settings)
                    incident = await ledger.load(incident_id)
                    if incident.state is State.OPEN:
                        await ledger.notify(incident, "repeated", {}, receivers=sorted(set(names)))
            except IncidentNotFound:
                continue
            except (SQLAlchemyError, OSError) as exc:
                raise StoreError("write repeated notifications", str(exc)) from exc
            self._open_pairs.update((incident_id, n) for n in names)

    async def _close_when_idle(self, receivers: Sequence[Receiver]) -> None:
        running = [t for ts in self._tasks.values() for t in ts]
        await asyncio.gather(*running, return_exceptions=True)
        for receiver in receivers:
            with contextlib.suppress(Exception):
                await receiver.aclose()
