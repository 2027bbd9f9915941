"""The rule engine in the running daemon: fed with every check's samples, timed, persisted.

ResultProcessor ──samples──► observe() ──► RuleEngine.observe ──alerts──► AlertSink
run(): every evaluation_interval ──► RuleEngine.evaluate ──alerts──► AlertSink
                                 └─► rule states saved to the store (namespace "rules")
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.model import AlertSink, Sample
from watchd.rules.engine import ENGINE_KEY, RuleEngine
from watchd.rules.model import RuleSet

if TYPE_CHECKING:
    from watchd.store import Store

log = get_logger("watchd.rules")
STATE_NAMESPACE = "rules"
SAVE_CHUNK = 1_000  # rule series per state-saving transaction
# How often series that only moved (values, windows, flap histories) are saved while running;
# a change of what a series decides on (level, timers, counts, what fires) is saved at the
# next interval, and everything at a stop and a handover. After a crash a window restored
# from up to this long ago misses those points: its rate or delta still spans the gap (the
# first point after it counts the whole increase), an average or maximum does without them.
STEADY_SAVE = 300.0


class RuleService:
    """Owns one RuleEngine: submits its alerts and keeps its state across restarts."""

    def __init__(
        self, engine: RuleEngine, *, sink: AlertSink, store: Store, clock: Clock, interval: float
    ) -> None:
        self.engine = engine
        self._sink = sink
        self._store = store
        self._clock = clock
        self._interval = interval
        self._saving_failed = False
        self._steady_due = clock.monotonic() + STEADY_SAVE

    async def restore(self) -> int:
        """Load the saved rule states (pending-since, attempts, flap history, firing since)."""
        states = await self._store.load_states(STATE_NAMESPACE)
        self.engine.restore_state(states)
        return len(states)

    async def release(self, pairs: Collection[tuple[str, str]]) -> None:
        """Hand the rule series fed by the checks `pairs` ((item, check)) to another cluster
        node: they stop evaluating here at once (no `absent` for a check that moved away) and
        their changed states are saved for the new owner (raises if that save failed)."""
        states, check_keys = self.engine.release(pairs)
        if states:
            await self._store.save_states(STATE_NAMESPACE, states, check_keys)

    async def acquire(self, pairs: Collection[tuple[str, str]]) -> int:
        """Load the rule series states of checks taken over from another cluster node (their
        windows, timers, flap history), before the checks first run here; returns how many."""
        states = await self._store.load_states_of(
            STATE_NAMESPACE, [f"{item}/{check}" for item, check in pairs]
        )
        # When those checks were last seen and which absent rules saw them: in the engine
        # states of the nodes that ran them.
        engines = await self._store.load_states_of(STATE_NAMESPACE, [ENGINE_KEY])
        self.engine.restore_state({**states, **engines}, pairs)
        return len(states)

    async def observe(self, samples: Sequence[Sample], at: float) -> None:
        """The ResultProcessor observer: evaluate the samples (those without a time taken at
        `at`, their run's start), submit what changed."""
        alerts = self.engine.observe(samples, at)
        if alerts:
            await self._sink.submit(tuple(alerts))

    async def replace_rules(self, rules: RuleSet) -> None:
        """Install reloaded rules; alerts of removed or changed rules are resolved, not left firing."""
        alerts = self.engine.replace_rules(rules)
        if alerts:
            await self._sink.submit(tuple(alerts))

    async def persist(self, *, steady: bool = True) -> None:
        """Save the rule states changed since the last save (again, if that save failed),
        those that only moved (see STEADY_SAVE) too when `steady`: a transaction per
        SAVE_CHUNK series, the event loop free between them. At 5,000 SNMP devices a quarter
        of 80,000 series change between two saves, and exporting, encoding and writing them at
        once held the loop for seconds (polls late, bench/snmp_poll.py --scale)."""
        if steady:
            self.engine.save_steady()
        chunks = max(1, math.ceil(self.engine.unsaved_count() / SAVE_CHUNK))
        for chunk in range(chunks):  # a bounded number: series changing meanwhile wait
            states, changed = self.engine.export_changes(SAVE_CHUNK, engine=chunk == 0)
            # The engine's own state is filed under ENGINE_KEY in place of a check, so that a
            # node taking checks over finds every node's (`acquire`).
            check_keys = self.engine.check_keys(changed) | {self.engine.engine_key: ENGINE_KEY}
            try:
                await self._store.save_states(STATE_NAMESPACE, states, check_keys)
            except Exception:
                self.engine.not_saved(changed)
                raise

    async def run(self) -> None:
        """Evaluate timers (for, absent, forecasts) and save state every interval, until cancelled."""
        while True:
            await self._clock.sleep(self._interval)
            alerts = self.engine.evaluate()
            if alerts:
                await self._sink.submit(tuple(alerts))
            steady = self._clock.monotonic() >= self._steady_due
            if steady:
                self._steady_due = self._clock.monotonic() + STEADY_SAVE
            try:
                await self.persist(steady=steady)
            except Exception as exc:
                if not self._saving_failed:
                    log.error(
                        "rule_states_not_saved", error=str(exc), note="kept in memory, retrying"
                    )
                self._saving_failed = True
            else:
                if self._saving_failed:
                    log.info("rule_states_saved_again")
                self._saving_failed = False
