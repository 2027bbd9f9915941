"""Planning a dispatcher pass: which outbox rows go out now, to which task. Pure functions of
the open rows, the group timers and the time, so the rules read (and are tested) without a
database:

    rebase retry times a backward wall-clock step pushed away (suspect, then rebase with
           the delivery log's time of each suspect row's last attempt, then rebased)
    scan   chains per (incident, receiver) in seq order; a chain waits while its head is
           leased, backing off (next_attempt_at) or its route is muted; rows past max_age
           expire; the due rows of a chain are its leading run of free, due rows
    units  per notification group: the first notification waits group_wait from the group's
           first row, later ones group_interval from the group's last send; a batch receiver
           gets the whole group as one unit, the others one unit per chain
    take   per receiver, units up to pass_size rows (less those it still has queued), claimed
           in one statement and queued for the receiver's `concurrency` workers: a storm's
           thousands of rows are claimed in one pass (a few when nodes share the store), not a
           pass per handful of rows (each pass reads every open row)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

from watchd.notify.backoff import MAX_RETRY_AFTER, ceiling
from watchd.notify.outbox import Group, Row
from watchd.notify.router import LabelSets, Route, Router
from watchd.store.incident_tables import OutboxState

PER_PASS = 1000  # rows a receiver has claimed and queued at most (fewer: more passes)...
MAX_PER_PASS = 10_000  # ...or the backlog (a quarter of it shared), up to this many (pass_size)

Chain = tuple[Row, ...]  # rows of one (incident, receiver) pair, in order
GroupId = tuple[str, str]  # (receiver, group key)


@dataclass(frozen=True, slots=True)
class Unit:
    """Rows delivered by one task: one chain, or a whole group for a batch receiver."""

    receiver: str
    group_key: str
    route: Route
    group: Group | None
    chains: tuple[Chain, ...]

    @property
    def size(self) -> int:
        """How many rows the unit delivers."""
        return sum(len(chain) for chain in self.chains)


@dataclass(frozen=True, slots=True)
class Scan:
    """What a scan of the open rows found: the (incident, receiver) pairs with rows in the
    outbox, rows to expire, due chains per notification group (with their route) and the
    earliest time something that waits becomes due (None: nothing waits on time)."""

    pairs: frozenset[tuple[int, str]]
    expired: tuple[Row, ...]
    ready: dict[GroupId, list[tuple[Route, Chain]]]
    next_due: float | None


def suspect(
    rows: Iterable[Row], now: float, backoff: Mapping[str, tuple[float, float]]
) -> list[Row]:
    """Retried rows that wait longer than their backoff allows (`backoff`: each receiver's
    initial and maximum): a Retry-After asked for it, or the wall clock stepped back since
    the retry time was stored."""
    out = []
    for row in rows:
        if row.state is not OutboxState.PENDING or row.attempts == 0 or row.receiver not in backoff:
            continue
        initial, maximum = backoff[row.receiver]
        if row.next_attempt_at - now > ceiling(row.attempts, initial, maximum):
            out.append(row)
    return out


RetryKey = tuple[int, int]  # (row id, attempts): one stored retry time of one row


def rebase(
    rows: Iterable[Row], now: float, last_tried: Mapping[int, float]
) -> dict[RetryKey, float]:
    """When each of `rows` (suspects) is due, counted from `now`: a row whose last attempt
    (`last_tried`) ended "after" now had its retry time stored before the wall clock went
    back, so it waits its delay from now (at most MAX_RETRY_AFTER) instead of delay + step;
    the others keep their stored time. The caller keeps these times (`rebased`) while the
    rows wait: counted again on every scan, "from now" would never come."""
    out = {}
    for row in rows:
        due = row.next_attempt_at
        tried = last_tried.get(row.id)
        if tried is not None and tried > now:
            due = min(due, now + min(max(0.0, due - tried), MAX_RETRY_AFTER))
        out[(row.id, row.attempts)] = due
    return out


def rebased(rows: Iterable[Row], due: Mapping[RetryKey, float]) -> list[Row]:
    """`rows` with the retry times `due` (from `rebase`) in place of their stored ones."""
    if not due:  # as nearly always: no key to make per row of every pass
        return list(rows)
    return [
        dataclasses.replace(row, next_attempt_at=due[(row.id, row.attempts)])
        if (row.id, row.attempts) in due
        else row
        for row in rows
    ]


def unskewed(rows: Iterable[Row], now: float, skew: float) -> list[Row]:
    """`rows` with creation times from before a backward wall-clock step of `skew` seconds
    (a time "after" now) moved back by the step, so group_wait and max_age count real time."""
    if skew <= 0:
        return list(rows)
    return [
        dataclasses.replace(row, created_at=row.created_at - skew) if row.created_at > now else row
        for row in rows
    ]


def unskewed_groups(
    groups: Mapping[GroupId, Group], now: float, skew: float
) -> dict[GroupId, Group]:
    """`groups` with timers from before a backward wall-clock step moved back by it (as
    `unskewed`), so group_interval counts real time."""

    def back(t: float) -> float:
        return t - skew if t > now else t

    if skew <= 0:
        return dict(groups)
    return {
        key: Group(
            back(g.first_at),
            None if g.last_sent_at is None else back(g.last_sent_at),
            g.firing,
        )
        for key, g in groups.items()
    }


class KeptRoutes:
    """The route of each chain's head row, kept between scans.

    A storm's passes each scan every open chain and routed every due one again: 5,000
    chains routed on each of the ten or so passes that deliver them. An open row keeps its
    label sets between scans (outbox.KeptRows) until its incident changes, so the route is
    kept while the row, its label sets and the router are the same; only the rows of the
    last scan are kept.
    """

    def __init__(self) -> None:
        self._router: Router | None = None
        # By row id: the row's label sets when routed, and the route they reached.
        self._kept: dict[int, tuple[LabelSets, tuple[Route, dict[str, str]]]] = {}
        self._seen: dict[int, tuple[LabelSets, tuple[Route, dict[str, str]]]] = {}

    def route_for(self, router: Router, row: Row) -> tuple[Route, dict[str, str]]:
        """router.route_for of the row's label sets and receiver."""
        if router is not self._router:  # a reload: routes found before may have changed
            self._router, self._kept = router, {}
        kept = self._kept.get(row.id)
        if kept is None or kept[0] is not row.label_sets:
            kept = (row.label_sets, router.route_for(row.label_sets, row.receiver))
        self._seen[row.id] = kept
        return kept[1]

    def finish(self) -> None:
        """End the scan: keep only the routes it asked for."""
        self._kept, self._seen = self._seen, {}


def scan(
    rows: Iterable[Row],
    now: float,
    *,
    max_age: Mapping[str, float],
    router: Router,
    inflight: Collection[int],
    held: Collection[tuple[int, str]] = (),
    routes: KeptRoutes | None = None,
) -> Scan:
    """Sort the open rows (in delivery order per incident and receiver, as
    outbox.open_rows reads them) into expired and due chains. `max_age` has the configured
    receivers (rows for others wait for their receiver to return); `inflight` the rows this
    process is delivering now; `held` the chains (incident, receiver) of those, when `rows`
    may leave them out (outbox.open_rows' `free_at`): their other rows wait, as behind a
    leased head; `routes` keeps the chains' routes for the next scan."""
    kept = routes if routes is not None else KeptRoutes()
    try:
        return _scan(
            rows,
            now,
            max_age=max_age,
            route_for=partial(kept.route_for, router),
            inflight=inflight,
            held=held,
        )
    finally:
        kept.finish()


def _scan(
    rows: Iterable[Row],
    now: float,
    *,
    max_age: Mapping[str, float],
    route_for: Callable[[Row], tuple[Route, dict[str, str]]],
    inflight: Collection[int],
    held: Collection[tuple[int, str]],
) -> Scan:
    chains: dict[tuple[int, str], list[Row]] = {}
    for row in rows:
        chains.setdefault((row.incident_id, row.receiver), []).append(row)
    waits: list[float] = []
    expired: list[Row] = []
    ready: dict[GroupId, list[tuple[Route, Chain]]] = {}

    # When each route reached unmutes (None: not muted now), worked out once per route: the
    # search steps through the mute a minute at a time, too slow to repeat for every chain
    # of a storm held by a mute.
    unmuted: dict[int, float | None] = {}

    def unmuted_at(route: Route) -> float | None:
        if id(route) not in unmuted:
            unmuted[id(route)] = route.unmuted_at(now) if route.muted(now) else None
        return unmuted[id(route)]

    def busy(row: Row) -> bool:
        return row.leased(now) or row.id in inflight

    for pair, chain in chains.items():
        name = pair[1]
        if name not in max_age:
            continue
        live = []
        for row in chain:
            if now - row.created_at > max_age[name] and not busy(row):
                expired.append(row)
            else:
                live.append(row)
        if not live or busy(live[0]) or pair in held:
            continue
        head = live[0]
        if head.next_attempt_at > now:
            waits.append(head.next_attempt_at)
            continue
        route, labels = route_for(head)
        until = unmuted_at(route)
        if until is not None:
            waits.append(until)
            continue
        due: list[Row] = []
        for row in live:
            if row.next_attempt_at > now or busy(row):
                break
            due.append(row)
        key = route.group_key(labels, head.incident_key)
        ready.setdefault((name, key), []).append((route, tuple(due)))
    pairs = frozenset(chains).union(held)
    return Scan(pairs, tuple(expired), ready, min(waits, default=None))


def units(
    ready: Mapping[GroupId, list[tuple[Route, Chain]]],
    groups: Mapping[GroupId, Group],
    now: float,
    *,
    batch: Collection[str],
) -> tuple[Iterator[Unit], float | None]:
    """The units whose group timers let them go now (`groups`: the stored timers), and the
    earliest time a group that waits may go. `batch` names the batch receivers. The units
    are made as they are taken (`take`): a storm's pass finds thousands of chains due and
    takes at most pass_size rows of them."""
    going: list[tuple[GroupId, Route, Group | None, list[tuple[Route, Chain]]]] = []
    waits: list[float] = []
    for (name, key), members in ready.items():
        route = members[0][0]
        group = groups.get((name, key))
        if group is None or group.last_sent_at is None or not group.firing:
            first = min(r.created_at for _, chain in members for r in chain)
            due = first + route.group_wait
        else:
            due = group.last_sent_at + route.group_interval
        if due > now:
            waits.append(due)
        else:
            going.append(((name, key), route, group, members))
    return _made(going, batch), min(waits, default=None)


def _made(
    going: Iterable[tuple[GroupId, Route, Group | None, list[tuple[Route, Chain]]]],
    batch: Collection[str],
) -> Iterator[Unit]:
    for (name, key), route, group, members in going:
        chains = tuple(chain for _, chain in members)
        if name in batch:
            yield Unit(name, key, route, group, chains)
        else:
            for chain in chains:
                yield Unit(name, key, route, group, (chain,))


def take(units: Iterable[Unit], room: Mapping[str, int]) -> dict[str, list[Unit]]:
    """The units to claim now, per receiver, in planning order (oldest incidents first): as
    many as fit in `room[receiver]` rows. The first unit a receiver with room takes goes even
    when it is larger, so no batch group is too big to ever go."""
    out: dict[str, list[Unit]] = {}
    left = {name: space for name, space in room.items() if space > 0}
    # Once no receiver has room, the units after would all be passed over: none is made.
    for unit in units if left else ():
        space = left.get(unit.receiver)
        if space is None:
            continue
        taken = out.setdefault(unit.receiver, [])
        if taken and unit.size > space:
            continue
        taken.append(unit)
        if space > unit.size:
            left[unit.receiver] = space - unit.size
            continue
        del left[unit.receiver]
        if not left:
            break
    return out


def pass_size(open_rows: int, *, shared: bool) -> int:
    """How many rows a receiver may have claimed and queued after a pass that read
    `open_rows`: PER_PASS, or a larger backlog, at most MAX_PER_PASS (the claimed rows'
    payloads held in memory stay bounded). Each pass reads and plans every open row, so with
    a fixed size a backlog of n rows took n / PER_PASS passes over it, quadratic: 20,000
    notifications spent two thirds of the dispatcher's CPU reading and planning rows not
    taken (bench/README.md, issue 13). `shared`: other nodes deliver from the same store
    (PostgreSQL), so a pass takes a quarter of the backlog and leaves them the rest; alone,
    it takes all of it, and a storm's backlog is read once or twice instead of in ten passes
    of a quarter."""
    return min(MAX_PER_PASS, max(PER_PASS, open_rows // 4 if shared else open_rows))


def earliest(*times: float | None) -> float | None:
    """The earliest of the times given (None: none given)."""
    return min((t for t in times if t is not None), default=None)
