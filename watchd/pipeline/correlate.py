"""Correlation: which incident an alert belongs to (DESIGN.md §4 Incidents, topology).

    firing alert ─► item UNREACHABLE (every parent down)? ─► symptom of the parent's incident
                 └► group key (group_by labels) ─► open incident with that key? ─► join it
                                                └► resolved within reopen_window? ─► reopen it
                                                └► open a new one (change link, problems)
    resolved alert ─► its incidents' alert rows ─► settle at the batch's end (maybe resolves it)
    parent recovered ─► its symptoms await a fresh result (status "recheck", still muted);
                        their checks are re-run ─► still failing: correlated on their own
                                                └► recovered: resolved, nothing to tell
                                                └► nothing within recheck_timeout: on their own
    flapping marker changed ─► "flapping_started" / "flapping_stopped" on its incidents, notified
                               once each; while it flaps the alert is muted "flapping"

An item is *down* when its host check (DESIGN.md §4 Reachability) is HARD CRITICAL or UNKNOWN:
an open or acknowledged incident holds that check's own alert (source "check", not a symptom)
firing critical. Any other alert of the item, critical or not, from watchd or from outside, says
nothing about whether it answers. UNREACHABLE applies recursively up the graph.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.durations import format_duration
from watchd.incidents import problems
from watchd.incidents.changes import Change, active_changes, latest_change_for
from watchd.incidents.ledger import Ledger, incident_from_row
from watchd.incidents.lifecycle import SYSTEM, settle
from watchd.incidents.model import ACTIVE_STATES, Incident, MemberGroup, State
from watchd.model import CHECK_SOURCE, Alert, AlertStatus
from watchd.pipeline.mute import MuteView
from watchd.store.incident_tables import AWAITING_RECHECK
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incidents as inc
from watchd.store.members import bound_values, one_of
from watchd.store.tables import alerts as al


def group_key(labels: Mapping[str, str], group_by: list[str]) -> tuple[str, dict[str, str]]:
    """The incident key of an alert and its group labels (missing labels count as empty).

    An alert that has none of the group_by labels is grouped by its alertname instead, so
    unrelated alerts from outside never share one catch-all incident.
    """
    group = {name: labels.get(name, "") for name in group_by}
    if not any(group.values()):
        group = {"alertname": labels.get("alertname", "")}
    return ",".join(f"{k}={v}" for k, v in group.items()), group


# Advisory locks of incident keys live in a space of their own (the two-int form, class
# KEY_LOCK_CLASS) and are bucketed: a storm of 10,000 new keys takes at most KEY_LOCK_BUCKETS
# locks, well inside PostgreSQL's shared lock table (64 per connection by default).
KEY_LOCK_CLASS = 0x77_61_74_63  # "watc"
KEY_LOCK_BUCKETS = 256


def key_buckets(keys: Iterable[str]) -> list[int]:
    """The sorted lock buckets of `keys` (stable across processes and nodes)."""
    return sorted({zlib.crc32(key.encode()) % KEY_LOCK_BUCKETS for key in keys})


async def lock_keys(conn: AsyncConnection, keys: Iterable[str]) -> None:
    """Serialize correlation per key across nodes sharing PostgreSQL (SQLite has one writer).

    One statement takes the keys' bucket locks in ascending order (unnest yields the array's
    order), so two transactions never wait for each other in a cycle. The alert pipeline
    takes them before it touches any alert or incident row: see AlertPipeline._process.
    """
    if conn.dialect.name != "postgresql":
        return
    buckets = key_buckets(keys)
    if buckets:
        await conn.execute(_LOCK_BUCKETS, {"cls": KEY_LOCK_CLASS, "buckets": buckets})


_LOCK_BUCKETS = text(
    "SELECT pg_advisory_xact_lock(:cls, b) FROM unnest(CAST(:buckets AS integer[])) AS b"
)


class Correlator:
    """Applies alerts to incidents on one Ledger with one MuteView."""

    def __init__(
        self,
        ledger: Ledger,
        view: MuteView,
        *,
        unattached: frozenset[str] = frozenset(),
        rechecking: frozenset[str] = frozenset(),
    ) -> None:
        self.ledger = ledger
        self.view = view
        self.settings = ledger.settings
        # Fingerprints known to be in no incident yet: joining needs no membership probe.
        self._unattached = set(unattached)
        # Fingerprints of symptoms awaiting a fresh result: firing again means it still fails.
        self._rechecking = set(rechecking)
        # (item, check) of the checks whose fresh result symptoms await: the caller asks for
        # these runs once the transaction has committed.
        self.rechecks: set[tuple[str, str]] = set()
        # Incidents alerts joined or left, settled once each by flush() rather than once per
        # alert; those that lost an alert then release the symptoms that are reachable again.
        self._unsettled: dict[int, None] = {}
        self._resolutions: set[int] = set()
        # A burst of new alerts for one incident is attached together: the incident each key
        # resolved to in this batch, and the new members queued for each incident. Anything
        # that reads membership (topology, resolutions) writes the queue first.
        self._incident_of_key: dict[str, int] = {}
        self._queued: dict[int, list[tuple[Alert, str, str | None]]] = {}
        self._changes: list[Change] | None = None
        # The incidents of the batch's keys, read for all of them at once (prepare): key →
        # (its active incident, else the one it may reopen), checked again when used.
        self._keys: dict[str, tuple[int | None, int | None]] = {}
        self._histories: dict[str, problems.KeyHistory] = {}
        # The group key and labels of the batch's firing alerts by fingerprint, as prepare
        # found them, each taken once by firing().
        self._group_keys: dict[str, tuple[str, dict[str, str]]] = {}
        # The batch's items that have parents, and what is down above them (_down_of): None
        # when an alert of the batch may have changed it.
        self._items: frozenset[str] = frozenset()
        self._down: dict[str, int] | None = None
        self._down_covers: frozenset[str] = frozenset()

    async def prepare(self, alerts: Iterable[Alert]) -> None:
        """Read what correlating these alerts needs of their keys' incidents and problems,
        in three statements for the whole batch rather than two or three per new key (a
        storm opens thousands)."""
        group_by = self.settings.incidents.group_by
        firing = [a for a in alerts if a.status is AlertStatus.FIRING]
        self._group_keys = {a.fingerprint: group_key(a.labels, group_by) for a in firing}
        keys = {key for key, _ in self._group_keys.values()}
        if not keys:
            return
        inventory = self.settings.inventory
        self._items = frozenset(
            item for a in firing if (item := a.labels.get("item", "")) and inventory.parents(item)
        )
        ledger, incidents = self.ledger, self.settings.incidents
        since = ledger.now - incidents.reopen_window
        found = [
            incident_from_row(row)
            for row in await ledger.conn.execute(
                _key_incidents(ledger.conn.dialect.name),
                {"keys": bound_values(ledger.conn.dialect.name, sorted(keys)), "since": since},
            )
        ]
        if found and ledger.postgres:
            found = await ledger.lock([i.id for i in found])  # as they are once locked
        ledger.remember(found)  # joining, reopening: not loaded again
        by_key: dict[str, list[Incident]] = {}
        for incident in found:
            by_key.setdefault(incident.key, []).append(incident)
        for key in keys:
            active, reopenable = _choose(by_key.get(key, []), since)
            self._keys[key] = (
                None if active is None else active.id,
                None if reopenable is None else reopenable.id,
            )
        self._histories = await problems.key_histories(
            ledger.conn, keys, ledger.now, incidents.problem_period
        )

    async def _before_sql(self) -> None:
        """Write what this batch holds in memory (queued members, new incidents): the SQL
        that follows reads the incident tables."""
        await self._write_queued()
        await self.ledger.write_held()

    async def apply(self, alerts: Sequence[Alert]) -> None:
        """Apply changed alerts in order; a run of resolved ones is applied together."""
        run: list[Alert] = []
        for alert in alerts:
            if alert.status is AlertStatus.FIRING:
                await self.resolved(run)
                run = []
                await self.firing(alert)
            else:
                run.append(alert)
        await self.resolved(run)

    async def firing(self, alert: Alert) -> None:
        """Attach a (newly) firing alert to its incident: symptom, join, reopen or open."""
        if alert.fingerprint in self._rechecking:
            self._rechecking.discard(alert.fingerprint)
            await self._end_recheck(alert.fingerprint, "a fresh result still fails")
        labels = alert.labels
        muted = self.view.reason(labels, flapping=alert.flapping)
        if self._host_check_alert(alert):
            self._down = None  # this alert may make its item down: ask the store again
        root = await self._unreachable_root(labels.get("item", ""))
        if root is not None:
            incident_id, parent = root
            if alert.fingerprint in self._unattached:
                self._queue(incident_id, alert, f"unreachable:{parent}", role="symptom")
            else:
                parent_incident = await self.ledger.load(incident_id)
                await self._attach(parent_incident, alert, "symptom", f"unreachable:{parent}")
            return
        grouped = self._group_keys.pop(alert.fingerprint, None)
        key, group = grouped or group_key(labels, self.settings.incidents.group_by)
        known = self._incident_of_key.get(key)
        if known is not None and alert.fingerprint in self._unattached:
            self._queue(known, alert, muted)
            return
        incident, reopenable = await self._incidents_of_key(key)
        if incident is None:
            incident = reopenable
            if incident is not None:
                incident = await self.ledger.update(
                    incident,
                    state=State.OPEN.value,
                    resolved_at=None,
                    resolved_by=None,
                    acknowledged_at=None,
                    acknowledged_by=None,
                    escalation_step=0,
                )
                incident = await self.ledger.event(
                    incident, "reopened", SYSTEM, {"fingerprint": alert.fingerprint}
                )
        if incident is None:
            incident = await self._open(alert, key, group)
        self._incident_of_key[key] = incident.id
        self._keys[key] = (incident.id, None)
        if alert.fingerprint in self._unattached:
            self._queue(incident.id, alert, muted)
        else:
            await self._attach(incident, alert, "member", muted)

    def _queue(
        self, incident_id: int, alert: Alert, muted: str | None, *, role: str = "member"
    ) -> None:
        self._unattached.discard(alert.fingerprint)
        self._queued.setdefault(incident_id, []).append((alert, role, muted))

    async def _write_queued(self) -> None:
        """Attach the queued new members, in the order the alerts came: one insert of the
        members and one of their timeline events for all the incidents, and one update of
        their seqs. A second wave of alerts joining thousands of open incidents cost seven
        statements per incident (1.4 ms each, bench/README.md, issue 13)."""
        queued, self._queued = self._queued, {}
        if not queued:
            return
        await self.ledger.lock(queued)  # in the ledger's lock order, all at once
        members: dict[int, list[dict[str, Any]]] = {}
        events: dict[int, tuple[list[tuple[str, str, dict[str, Any]]], list[float]]] = {}
        now = self.ledger.now
        for incident_id, joins in queued.items():
            joining = members[incident_id] = []
            entries, times = events[incident_id] = ([], [])
            for alert, role, muted in joins:
                labels = alert.labels
                joining.append(
                    {
                        "fingerprint": alert.fingerprint,
                        "role": role,
                        "item": labels.get("item", ""),
                        "severity": labels.get("severity", ""),
                        "status": "firing",
                        "muted": muted,
                    }
                )
                detail: dict[str, Any] = {"fingerprint": alert.fingerprint, "role": role}
                if muted:
                    detail["muted"] = muted
                entries.append(("alert_joined", SYSTEM, detail))
                times.append(now)
            self._unsettled[incident_id] = None
        await self.ledger.add_members_to_each(members)
        await self.ledger.append_events_to_each(events)

    async def resolved(self, alerts: Sequence[Alert]) -> None:
        """Mark the alerts resolved in every incident not closed that holds them; flush()
        settles them, so an alert replaced in the same batch (a check going from WARNING to
        CRITICAL resolves its warning alert and fires a critical one) never resolves the
        incident.

        Set-wise: one read of the alerts' incidents, which are locked together (ascending ids),
        then one UPDATE of their members (two when symptoms leave too) and one append of
        their "alert_resolved" events, in the order of the alerts. 100,000 alerts expiring at
        once cost five statements each when done one by one (issue 19), and the end of an
        outage four per incident when done incident by incident (issue 13).
        """
        if not alerts:
            return
        if any(self._host_check_alert(a) for a in alerts):
            self._down = None
        await self._before_sql()
        conn = self.ledger.conn
        found = await conn.execute(
            _alert_incidents(conn.dialect.name),
            {"fingerprints": bound_values(conn.dialect.name, [a.fingerprint for a in alerts])},
        )
        held: dict[str, list[tuple[int, str]]] = {}
        for incident_id, fp, role in found:
            held.setdefault(fp, []).append((incident_id, role))
        if not held:
            return
        incidents = {
            i.id: i for i in await self.ledger.lock({i for h in held.values() for i, _ in h})
        }
        # Per incident, in the order of the alerts: (fingerprint, role, mute reason).
        leaving: dict[int, list[tuple[str, str, str | None]]] = {}
        for alert in alerts:
            # Muted now means the resolved notification waits for the window's (or
            # flapping's) end.
            muted = self.view.reason(alert.labels, flapping=alert.flapping)
            for incident_id, role in held.get(alert.fingerprint, ()):
                if incident_id in incidents:
                    leaving.setdefault(incident_id, []).append((alert.fingerprint, role, muted))
        await self._resolve_members(incidents, leaving)

    async def _resolve_members(
        self,
        incidents: Mapping[int, Incident],
        leaving: Mapping[int, list[tuple[str, str, str | None]]],
    ) -> None:
        """Mark these alerts of the incidents resolved (a member with its mute reason), with
        an "alert_resolved" event each on the active incidents: set-wise, a statement or two
        for all of them."""
        changes: list[tuple[int, str, dict[str, Any]]] = []
        appends: dict[int, tuple[list[tuple[str, str, dict[str, Any]]], list[float]]] = {}
        now = self.ledger.now
        for incident_id in sorted(leaving):
            gone = leaving[incident_id]
            for fp, role, muted in gone:
                values: dict[str, Any] = {"status": "resolved"}
                if role == "member":
                    values["muted"] = muted
                changes.append((incident_id, fp, values))
            if incidents[incident_id].state.active:
                appends[incident_id] = (
                    [
                        ("alert_resolved", SYSTEM, {"fingerprint": fp, "role": role})
                        for fp, role, _ in gone
                    ],
                    [now] * len(gone),
                )
            self._unsettled[incident_id] = None
            self._resolutions.add(incident_id)
        await self.ledger.set_members_each(changes)
        await self.ledger.append_events_to_each(appends)

    async def flapping(self, alert: Alert) -> None:
        """The alert's source started or stopped flapping: say so once, on its latest incident.

        The event goes in the timeline and, when receivers have heard of the incident and
        nothing else mutes the alert, out as a notification. While flapping, the alert is muted
        "flapping" in every incident holding it: its changes are recorded, not notified, and
        escalation and SLA timers hold. When it stops, those incidents settle: a state other
        than the one last notified is notified (resolved, reopened, opened); the same state is
        not paged again.
        """
        await self._before_sql()
        # A stop settles incidents here: what was read of them may change.
        self._keys.clear()
        self._down = None
        fp = alert.fingerprint
        started = alert.flapping
        kind = "flapping_started" if started else "flapping_stopped"
        otherwise = self.view.reason(alert.labels)
        rows = await self.ledger.conn.execute(
            select(ia.c.incident_id)
            .select_from(ia.join(inc, inc.c.id == ia.c.incident_id))
            .where(ia.c.fingerprint == fp, ia.c.role == "member", inc.c.state != State.CLOSED.value)
            .order_by(ia.c.incident_id.desc())
        )
        for index, (incident_id,) in enumerate(rows.all()):
            incident = await self.ledger.load(incident_id)
            if index == 0:
                detail = {"fingerprint": fp, "status": alert.status.value}
                incident = await self.ledger.event(incident, kind, SYSTEM, detail)
                if incident.notified is not None and otherwise is None:
                    incident = await self.ledger.notify(incident, kind, detail)
            await self.ledger.set_member(
                incident_id, fp, muted=self.view.reason(alert.labels, flapping=started)
            )
            if started:
                self._unsettled[incident_id] = None
            else:
                await settle(self.ledger, incident, flap_stopped=True)

    async def release_symptoms(
        self, incident: Incident, firing: Sequence[tuple[str, str]] | None = None
    ) -> None:
        """Firing symptoms whose item is reachable again await a fresh result of their check.

        The stored result is the one from while the parent was down: paging on it would open
        an incident for every child just before their checks see them up again. They stay
        muted until a fresh result still fails (then they are correlated on their own), their
        check recovers, or recheck_timeout passes (see release_unconfirmed): a parent's
        recovery never hides that a child is still down.
        """
        pending = firing
        if pending is None:
            await self._before_sql()
            pending = (await self._firing_symptoms([incident.id])).get(incident.id, [])
        if not pending:
            return
        down = await self.down_items(item for _, item in pending)
        for fp, item in pending:
            if incident.state.active and self.settings.inventory.is_unreachable(item, down):
                continue
            await self.ledger.set_member(incident.id, fp, status=AWAITING_RECHECK)
            incident = await self.ledger.event(
                incident,
                "alert_rechecking",
                SYSTEM,
                {"fingerprint": fp, "reason": "item reachable"},
            )
            alert = await self._stored_alert(fp)
            if alert is not None and alert.source == CHECK_SOURCE and "check" in alert.labels:
                self.rechecks.add((item, alert.labels["check"]))

    async def release_unconfirmed(self) -> None:
        """Symptoms that got no fresh result within recheck_timeout are correlated on their own
        (a child whose check cannot run still pages); resolved ones just leave."""
        timeout = self.settings.incidents.recheck_timeout
        await self._before_sql()
        rows = await self.ledger.conn.execute(
            select(ia.c.fingerprint)
            .distinct()
            .where(ia.c.status == AWAITING_RECHECK, ia.c.updated_at <= self.ledger.now - timeout)
        )
        for (fp,) in rows.all():
            await self._end_recheck(fp, f"no fresh result within {format_duration(timeout)}")
            alert = await self._stored_alert(fp)
            if alert is not None and alert.status is AlertStatus.FIRING:
                await self.firing(alert)

    async def _end_recheck(self, fp: str, reason: str) -> None:
        """The alert leaves the incidents where it awaited a fresh result."""
        await self._before_sql()
        rows = await self.ledger.conn.execute(
            select(ia.c.incident_id).where(ia.c.fingerprint == fp, ia.c.status == AWAITING_RECHECK)
        )
        for (incident_id,) in rows.all():
            incident = await self.ledger.load(incident_id)  # the incident first: the lock order
            await self.ledger.conn.execute(
                delete(ia).where(ia.c.incident_id == incident_id, ia.c.fingerprint == fp)
            )
            await self.ledger.event(
                incident, "alert_left", SYSTEM, {"fingerprint": fp, "reason": reason}
            )

    async def down_items(self, items: Iterable[str]) -> dict[str, int]:
        """The ancestors of `items` that are down, each with the incident holding its host
        check's alert (the first opened, if several do)."""
        inventory = self.settings.inventory
        candidates = sorted(a for a in inventory.ancestors(items) if inventory.host_check(a))
        if not candidates:
            return {}
        rows = await self.ledger.conn.execute(
            select(ia.c.item, inc.c.id, al.c.labels)
            .select_from(
                ia.join(inc, inc.c.id == ia.c.incident_id).join(
                    al, al.c.fingerprint == ia.c.fingerprint
                )
            )
            .where(
                inc.c.state.in_(ACTIVE_STATES),
                ia.c.role == "member",
                ia.c.status == "firing",
                ia.c.severity == "critical",
                ia.c.item.in_(candidates),
                al.c.source == CHECK_SOURCE,
            )
            .order_by(inc.c.opened_at, inc.c.id)
        )
        down: dict[str, int] = {}
        for item, incident_id, labels in rows:
            if labels.get("check") == inventory.host_check(item):
                down.setdefault(item, incident_id)
        return down

    async def _unreachable_root(self, item: str) -> tuple[int, str] | None:
        """The incident and the down ancestor an UNREACHABLE item's alert is a symptom of."""
        inventory = self.settings.inventory
        if not item or not inventory.parents(item):
            return None
        down = await self._down_of(item)
        if not inventory.is_unreachable(item, down):
            return None
        node = item
        while True:
            parents = inventory.parents(node)
            direct = [p for p in parents if p in down]
            if direct:
                return down[direct[0]], direct[0]
            node = parents[0]  # every parent is unreachable: follow the first one up

    async def _down_of(self, item: str) -> dict[str, int]:
        """down_items for the batch's items: read once, and again only after an alert that may
        change it (a host check's). A switch failing behind 5,000 hosts asked it per alert."""
        if self._down is None or item not in self._down_covers:
            await self._before_sql()  # a parent's alert queued in this batch makes it down
            self._down_covers = self._items | {item}
            self._down = await self.down_items(self._down_covers)
        return self._down

    def _host_check_alert(self, alert: Alert) -> bool:
        """Whether the alert is an item's host check's own: whether the item is down."""
        item = alert.labels.get("item", "")
        check = self.settings.inventory.host_check(item) if item else None
        return (
            check is not None
            and alert.source == CHECK_SOURCE
            and alert.labels.get("check") == check
        )

    async def _incidents_of_key(self, key: str) -> tuple[Incident | None, Incident | None]:
        """The key's active incident (the latest opened) and, if none, the one resolved within
        reopen_window (the latest resolved): from what prepare() read, when that still holds,
        else one query."""
        since = self.ledger.now - self.settings.incidents.reopen_window
        known = self._keys.pop(key, None)
        if known is not None:
            active_id, reopenable_id = known
            if active_id is None and reopenable_id is None:
                return None, None
            chosen = await self.ledger.load(active_id or reopenable_id or 0)
            if active_id is not None and chosen.state.active:
                return chosen, None
            if active_id is None and _reopenable(chosen, since):
                return None, chosen
        await self._before_sql()
        query = select(inc).where(
            inc.c.key == key,
            or_(
                inc.c.state.in_(ACTIVE_STATES),
                and_(inc.c.state == State.RESOLVED.value, inc.c.resolved_at >= since),
            ),
        )
        found = [incident_from_row(r) for r in await self.ledger.conn.execute(query)]
        if found and self.ledger.postgres:
            # Locked, in the ledger's order, and read again as they are once locked.
            found = await self.ledger.lock([i.id for i in found])
        return _choose(found, since)

    async def _open(self, alert: Alert, key: str, group: dict[str, str]) -> Incident:
        labels = alert.labels
        item = labels.get("item", "")
        title = alert.annotations.get("summary") or " on ".join(
            part for part in (alert.name or "alert", item) if part
        )
        policy = self.settings.incidents.escalation_policy_for([labels])
        incident = await self.ledger.create(
            {
                "key": key,
                "group_labels": group,
                "title": title,
                "item": item,
                "severity": labels.get("severity", "none"),
                "escalation_policy": policy,
            },
            event=("opened", SYSTEM, {"fingerprint": alert.fingerprint, "key": key}),
        )
        change = None
        if item:
            change = latest_change_for(item, await self._recent_changes(), self.settings.inventory)
        if change is not None:
            incident = await self.ledger.update(incident, change_id=change.id)
            incident = await self.ledger.event(
                incident,
                "change_linked",
                SYSTEM,
                {"change": change.id, "summary": change.summary, "ticket": change.ticket},
            )
        return await problems.note_opened(self.ledger, incident, self._histories.pop(key, None))

    async def _recent_changes(self) -> list[Change]:
        """Changes running or ended within change_link_window: read once per batch, as a
        storm opens many incidents in one (changes are recorded in transactions of their own)."""
        if self._changes is None:
            window = self.settings.incidents.change_link_window
            self._changes = await active_changes(self.ledger.conn, self.ledger.now, after=window)
        return self._changes

    async def _attach(self, incident: Incident, alert: Alert, role: str, muted: str | None) -> None:
        fp = alert.fingerprint
        labels = alert.labels
        values: dict[str, Any] = {
            "role": role,
            "item": labels.get("item", ""),
            "severity": labels.get("severity", ""),
            "status": "firing",
            "muted": muted,
        }
        if fp in self._unattached:
            self._unattached.discard(fp)
            member = None
        else:
            member = await self.ledger.member_status(incident.id, fp)
        if member is None:
            await self.ledger.add_member(incident.id, fp, **values)
            kind = "alert_joined"
        else:
            await self.ledger.set_member(incident.id, fp, **values)
            kind = "alert_refired"
        detail: dict[str, Any] = {"fingerprint": fp, "role": role}
        if muted:
            detail["muted"] = muted
        await self.ledger.event(incident, kind, SYSTEM, detail)
        self._unsettled[incident.id] = None

    async def flush(self) -> None:
        """Settle every incident that alerts joined or left (severity, resolution,
        notification), once each, and release the symptoms of those that lost an alert.

        Callers apply a batch of alerts and then flush, in the same transaction: a burst of
        alerts joining one incident settles it once and notifies once, with all of them.
        """
        await self._write_queued()
        # What settling reads, for all of them at once: the incidents, their members and the
        # firing symptoms of those that lost an alert (of the incidents held in memory, read
        # one by one). Settling one changes no other's members.
        await self.ledger.lock(self._unsettled)
        groups = await self.ledger.member_groups_of(self._unsettled)
        stored = [i for i in self._resolutions if not self.ledger.holds(i)]
        symptoms = await self._firing_symptoms(stored)
        # Those whose last alert resolved are notified resolved with their alerts: read them
        # for all at once too (the end of an outage resolves thousands).
        await self.ledger.read_alert_rows(
            [i for i in stored if not any(_firing_member(g) for g in groups.get(i, ()))]
        )
        while self._unsettled:
            incident_id = next(iter(self._unsettled))
            del self._unsettled[incident_id]
            incident = await self.ledger.load(incident_id)
            incident = await settle(self.ledger, incident, members=groups.pop(incident_id, None))
            if incident_id in self._resolutions:
                self._resolutions.discard(incident_id)
                firing = None if self.ledger.holds(incident_id) else symptoms.get(incident_id, [])
                await self.release_symptoms(incident, firing)
        await self.ledger.write_held()

    async def _firing_symptoms(
        self, incident_ids: Sequence[int]
    ) -> dict[int, list[tuple[str, str]]]:
        """The firing symptoms (fingerprint, item) of these stored incidents, by incident."""
        if not incident_ids:
            return {}
        dialect = self.ledger.conn.dialect.name
        rows = await self.ledger.conn.execute(
            _firing_symptoms(dialect), {"ids": bound_values(dialect, sorted(incident_ids))}
        )
        found: dict[int, list[tuple[str, str]]] = {}
        for incident_id, fp, item in rows:
            found.setdefault(incident_id, []).append((fp, item))
        return found

    async def _stored_alert(self, fp: str) -> Alert | None:
        row = (await self.ledger.conn.execute(select(al).where(al.c.fingerprint == fp))).first()
        if row is None:
            return None
        return Alert(
            labels=dict(row.labels),
            status=AlertStatus(row.status),
            starts_at=row.starts_at,
            annotations=dict(row.annotations),
            ends_at=row.ends_at,
            source=row.source,
            generator_url=row.generator_url,
        )


def _firing_member(group: MemberGroup) -> bool:
    return group.role == "member" and group.status == "firing"


def _reopenable(incident: Incident, since: float) -> bool:
    return (
        incident.state is State.RESOLVED
        and incident.resolved_at is not None
        and incident.resolved_at >= since
    )


def _choose(found: list[Incident], since: float) -> tuple[Incident | None, Incident | None]:
    """Of a key's incidents, the active one (the latest opened) and, if none, the latest
    resolved since `since`."""
    active = [i for i in found if i.state.active]
    if active:
        return max(active, key=lambda i: (i.opened_at, i.id)), None
    resolved = [i for i in found if _reopenable(i, since)]
    return None, max(resolved, key=lambda i: (i.resolved_at or 0.0, i.id), default=None)


# Built once per dialect: constructing a statement costs more than running it.
@cache
def _key_incidents(dialect: str) -> Select[Any]:
    return select(inc).where(
        one_of(dialect, inc.c.key, "keys"),
        or_(
            inc.c.state.in_(ACTIVE_STATES),
            and_(inc.c.state == State.RESOLVED.value, inc.c.resolved_at >= bindparam("since")),
        ),
    )


@cache
def _firing_symptoms(dialect: str) -> Select[Any]:
    return (
        select(ia.c.incident_id, ia.c.fingerprint, ia.c.item)
        .where(
            one_of(dialect, ia.c.incident_id, "ids"),
            ia.c.role == "symptom",
            ia.c.status == "firing",
        )
        .order_by(ia.c.incident_id, ia.c.fingerprint)
    )


@cache
def _alert_incidents(dialect: str) -> Select[Any]:
    """The incidents not closed that hold any of the bound fingerprints: id, fingerprint, role."""
    return (
        select(ia.c.incident_id, ia.c.fingerprint, ia.c.role)
        .select_from(ia.join(inc, inc.c.id == ia.c.incident_id))
        .where(one_of(dialect, ia.c.fingerprint, "fingerprints"), inc.c.state != State.CLOSED.value)
    )
