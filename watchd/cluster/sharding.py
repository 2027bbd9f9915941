"""What a node does with a ClusterView: poll the checks it owns, hand over and take over states.

    ClusterView (membership, on every change of the live set) ─┐
    reload (new config: checks, collectors) ───────────────────┤
                                                               ▼
      owners (assign.py: rendezvous over the live nodes serving each item's zone)
        │ released: Scheduler stops them; ResultProcessor and RuleService save what changed,
        │           then forget them (no `absent` for a series whose check moved away)
        │ acquired: check and rule states loaded from the store, then the Scheduler starts
        │           them: at once if their previous owner is dead, after `handover_delay`
        │           (one heartbeat) if it lives, so it has released and saved them first
        └ zones no live node serves ─► ZoneAlarm (ClusterZoneUnserved)

On a single node (SQLite) the view is this node alone: it owns every check of its zones,
nothing moves, and taking the first view loads nothing (build_core restored every state).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from watchd.check_config import ResolvedCheck
from watchd.clock import sleep_or_wakeup
from watchd.cluster.assign import CheckKey, Placed, owners
from watchd.cluster.model import ClusterView
from watchd.cluster.zones import ZoneAlarm
from watchd.logging import get_logger
from watchd.model import AlertSink, Collector

if TYPE_CHECKING:
    from watchd.clock import Clock
    from watchd.results import ResultProcessor
    from watchd.rules.service import RuleService
    from watchd.scheduler import Scheduler

log = get_logger("watchd.cluster")

Checks = Sequence[tuple[ResolvedCheck, Collector]]


class Sharding:
    """Keeps the scheduler on exactly the checks this node owns in the latest ClusterView."""

    def __init__(
        self,
        checks: Checks,
        *,
        scheduler: Scheduler,
        processor: ResultProcessor,
        rules: RuleService,
        sink: AlertSink,
        clock: Clock,
        handover_delay: float,
    ) -> None:
        """`checks` are the configured enabled checks with their collectors; `handover_delay`
        (one heartbeat interval) is how long a check taken from a live node waits to start."""
        self._scheduler = scheduler
        self._processor = processor
        self._rules = rules
        self._clock = clock
        self._delay = handover_delay
        self._zones = ZoneAlarm(sink, clock=clock)
        self._checks: dict[CheckKey, tuple[ResolvedCheck, Collector]] = {}
        self._install(checks)
        self._view: ClusterView | None = None
        self._owners: dict[CheckKey, str | None] = {}
        self._running: set[CheckKey] = set()  # handed to the scheduler
        # Owned, waiting for their live previous owner to let go: (that owner, start at).
        self._pending: dict[CheckKey, tuple[str, float]] = {}
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._applying: set[asyncio.Future[None]] = set()  # views being applied

    # -- what the rest of the daemon reads --------------------------------------------------

    def owned_count(self) -> int:
        """How many checks this node owns (running, or starting after a handover)."""
        return len(self._running) + len(self._pending)

    def owner(self, key: CheckKey) -> str | None:
        """The node that polls this check, None if no live node serves its zone (or it is
        not configured)."""
        return self._owners.get(key)

    def elsewhere(self) -> list[CheckKey]:
        """The configured checks another live node owns."""
        me = self.me
        return [key for key, name in self._owners.items() if name is not None and name != me]

    @property
    def me(self) -> str | None:
        """This node's name in the view applied last."""
        return self._view.me if self._view is not None else None

    @property
    def unserved_zones(self) -> dict[str, int]:
        """Zones no live node serves, with how many checks go unpolled in each."""
        return self._zones.unserved

    # -- changes ----------------------------------------------------------------------------

    async def apply(self, view: ClusterView) -> None:
        """Take a new view of the live nodes (membership's callback); an older one than the
        view applied last (a smaller epoch) is ignored.

        Once begun, applying finishes even if the caller is cancelled (membership's heartbeat
        has a timeout): stopped halfway, checks would be released but never started."""
        task = asyncio.ensure_future(self._apply_newer(view))
        self._applying.add(task)
        task.add_done_callback(self._applying.discard)
        await asyncio.shield(task)

    async def _apply_newer(self, view: ClusterView) -> None:
        async with self._lock:
            if self._view is not None and view.epoch < self._view.epoch:
                return
            await self._apply(view)

    async def reconfigure(self, checks: Checks) -> list[Collector]:
        """Take a reloaded config's checks under the current view; returns the collectors no
        longer used, for the caller to close once their runs have ended. An unchanged check
        keeps its collector (and its place in the schedule)."""
        async with self._lock:
            retired = self._install(checks)
            if self._view is not None:
                await self._apply(self._view)
            return retired

    async def run(self) -> None:
        """Start checks whose handover wait is over and refresh ClusterZoneUnserved, until
        cancelled."""
        while True:
            waits = [start - self._clock.monotonic() for _, start in self._pending.values()]
            refresh = self._zones.next_refresh()
            if refresh is not None:
                waits.append(refresh)
            await sleep_or_wakeup(
                self._clock, max(0.0, min(waits)) if waits else 3600.0, self._changed
            )
            async with self._lock:
                await self._start_due()
            await self._zones.refresh()

    # -- inside the lock --------------------------------------------------------------------

    def _install(self, checks: Checks) -> list[Collector]:
        new: dict[CheckKey, tuple[ResolvedCheck, Collector]] = {}
        retired: list[Collector] = []
        for check, collector in checks:
            old = self._checks.get(check.key)
            if old is not None and old[0] == check:
                new[check.key] = old
                if collector is not old[1]:
                    retired.append(collector)
                continue
            if old is not None:
                retired.append(old[1])
            new[check.key] = (check, collector)
        retired += [old[1] for key, old in self._checks.items() if key not in new]
        self._checks = new
        self._placed = [Placed(c.item, c.name, c.zone) for c, _ in new.values()]
        return retired

    async def _apply(self, view: ClusterView) -> None:
        first = self._view is None
        placed = owners(self._placed, view.live)
        if first:
            # Who polled each check before this node came: the owner among the others.
            others = [node for node in view.live if node.name != view.me]
            before = owners(self._placed, others)
        else:
            before = self._owners
        alive = {node.name for node in view.live}
        owned = {key for key, name in placed.items() if name == view.me}
        now = self._clock.monotonic()
        for key in [k for k in self._pending if k not in owned]:
            del self._pending[key]
        start: set[CheckKey] = set()
        for key in owned - self._running:
            waiting = self._pending.get(key)
            prev = waiting[0] if waiting is not None else before.get(key)
            if prev is not None and prev != view.me and prev in alive:
                if waiting is None:
                    self._pending[key] = (prev, now + self._delay)
            else:
                self._pending.pop(key, None)
                start.add(key)
        released = self._running - owned
        if first:
            # Start-up restored every check's states; those this node does not start now are
            # another's (or will be loaded fresh at their handover): none of them is saved.
            released |= set(self._checks) - start
        self._view, self._owners = view, placed
        await self._release(released)
        # The first view's states were restored with the rest at start-up.
        await self._start(start, load=not first)
        await self._zones.update(_unserved(self._checks, placed))
        self._changed.set()
        if released or self._pending or (start and not first):  # not a single node's start
            log.info(
                "cluster_checks_moved",
                epoch=view.epoch,
                nodes=len(view.live),
                owned=self.owned_count(),
                started=len(start),
                released=len(released),
                waiting_for_handover=len(self._pending),
            )

    async def _start_due(self) -> None:
        now = self._clock.monotonic()
        due = {key for key, (_, at) in self._pending.items() if at <= now}
        if due:
            await self._start(due, load=True)
            for key in due:  # only now: a stop while loading leaves them waiting
                del self._pending[key]
            log.info("cluster_handover_done", started=len(due), owned=self.owned_count())

    async def _start(self, keys: set[CheckKey], *, load: bool) -> None:
        """Load the states of `keys` (when `load`), then schedule them with the running ones."""
        if load and keys:
            try:
                await self._processor.acquire(keys)
                await self._rules.acquire(keys)
            except Exception as exc:  # polling them matters more than their history
                log.error(
                    "cluster_states_not_loaded",
                    checks=len(keys),
                    error=str(exc),
                    note="starting them from fresh states",
                )
        self._running = {key for key in self._running | keys if key in self._checks}
        first_due = self._rhythm(keys) if load else None
        self._scheduler.set_checks((self._checks[key] for key in sorted(self._running)), first_due)

    def _rhythm(self, keys: set[CheckKey]) -> dict[CheckKey, float]:
        """When each taken-over check is next due where it ran before (monotonic): one interval
        (or retry interval) after its last run there, so the move neither skips a run nor
        polls twice. Checks overdue (their node died) are left to the scheduler's jitter,
        which spreads them instead of starting them all at once."""
        now, mono = self._clock.now(), self._clock.monotonic()
        due = {}
        for key in keys:
            state = self._processor.state(key)
            if key not in self._checks or state is None or state.last_check is None:
                continue
            check = self._checks[key][0]
            wait = check.retry_interval if state.retrying else check.interval
            ahead = state.last_check + wait - now
            if ahead >= 0:
                due[key] = mono + ahead
        return due

    async def hand_over(self) -> None:
        """Stopping in a cluster: stop polling every check and save their check and rule
        states now, before this node leaves, so the nodes that take them over at the leave go
        on from this node's latest states (results of runs still in flight are dropped)."""
        async with self._lock:
            self._pending.clear()
            await self._release(set(self._running))

    async def _release(self, keys: set[CheckKey]) -> None:
        """Stop polling `keys`, then save and forget their check and rule states."""
        if not keys:
            return
        self._running -= keys
        self._scheduler.set_checks(self._checks[key] for key in sorted(self._running))
        for release in (self._processor.release, self._rules.release):
            try:
                await release(keys)
            except Exception as exc:
                log.error(
                    "cluster_states_not_saved",
                    checks=len(keys),
                    error=str(exc),
                    note="the new owner goes on from the states saved before",
                )


def _unserved(
    checks: dict[CheckKey, tuple[ResolvedCheck, Collector]], placed: dict[CheckKey, str | None]
) -> dict[str, int]:
    """Zones with checks that no live node serves, and how many checks each has."""
    counts: dict[str, int] = {}
    for key, name in placed.items():
        if name is None:
            zone = checks[key][0].zone
            counts[zone] = counts.get(zone, 0) + 1
    return counts
