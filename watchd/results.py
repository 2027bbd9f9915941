"""What happens to a check result: state machine, availability sample, metrics, log, alerts.

One `ResultProcessor` serves the scheduler as its result handler. It keeps the check states in
memory, marks changed ones dirty, and `persist()` writes them in one transaction (the app calls
it every flush interval and at shutdown), so a restart resumes SOFT/HARD states where they were.
Transitions are logged once each: a check that stays down logs one line, and its recovery one
line with the outage length (STYLE.md 5).

A result the scheduler withheld as UNKNOWN "poller overloaded" (RunInfo.overloaded) measured
watchd, not the target: it is recorded (an UNKNOWN availability sample, a metric) but leaves the
check's state as it was: no SOFT attempt, no HARD change, no flap history, no samples for rules.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from watchd.check_config import ResolvedCheck
from watchd.checks import (
    CheckPolicy,
    CheckState,
    Transition,
    TransitionKind,
    advance,
    alert_changes,
    check_samples,
    severity_of,
)
from watchd.clock import Clock
from watchd.durations import format_duration
from watchd.logging import get_logger
from watchd.model import (
    CHECK_SOURCE,
    FLAPPING,
    Alert,
    AlertSink,
    AlertStatus,
    CheckResult,
    Sample,
    Status,
    check_labels,
)
from watchd.runbooks import RUNBOOK_ANNOTATION
from watchd.scheduler import CheckKey, RunInfo
from watchd.store import AvailabilitySample

if TYPE_CHECKING:
    from watchd.metrics import Metrics
    from watchd.store import Store

log = get_logger("watchd.checks")

# Takes a run's samples and the time of those without their own (the run's start).
SamplesObserver = Callable[[Sequence[Sample], float], Awaitable[None]]
STATE_NAMESPACE = "check"
# A run that leaves a check where it stood (the same status, attempts, HARD state and flap
# history) changes only when it last ran and its message: such a state is saved at most this
# often (seconds). A restart then loses when a steady check last ran, never where it stands;
# saving every run's state was a twentieth of the daemon's CPU at 500 HTTP checks a second.
STEADY_STATE_SAVE = 300.0


def state_key(key: CheckKey) -> str:
    return f"{key[0]}/{key[1]}"


class ResultProcessor:
    """Turns each check result into stored, measured, logged and alerted facts."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: Store,
        metrics: Metrics,
        sink: AlertSink,
        policy_for: Callable[[ResolvedCheck], CheckPolicy] | None = None,
        observers: Sequence[SamplesObserver] = (),
    ) -> None:
        self._clock = clock
        self._store = store
        self._metrics = metrics
        self._sink = sink
        self._policy_for = policy_for or _default_policy
        self._observers = list(observers)
        self._states: dict[CheckKey, CheckState] = {}
        self._dirty: set[CheckKey] = set()
        self._marked_at: dict[CheckKey, float] = {}  # monotonic: when last marked for saving
        # Checks handed to another cluster node: a run of theirs still under way when they
        # went must not bring a state back here (it would be saved over the new owner's).
        self._away: set[CheckKey] = set()

    def add_observer(self, observer: SamplesObserver) -> None:
        """Also hand every run's samples to `observer` (the rules engine)."""
        self._observers.append(observer)

    async def restore(self) -> int:
        """Load persisted check states; returns how many were restored."""
        self._load(await self._store.load_states(STATE_NAMESPACE))
        return len(self._states)

    def _load(self, saved: dict[str, dict[str, Any]]) -> None:
        for key, data in saved.items():
            item, _, check = key.partition("/")
            try:
                self._states[(item, check)] = CheckState.from_json(data)
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("check_state_unreadable", item=item, check=check, error=str(exc))
                continue
            self._dirty.discard((item, check))

    async def persist(self) -> int:
        """Write the states changed since the last call in one transaction."""
        if not self._dirty:
            return 0
        dirty, self._dirty = self._dirty, set()
        payload = {state_key(k): self._states[k].to_json() for k in dirty if k in self._states}
        try:
            await self._store.save_states(STATE_NAMESPACE, payload, {k: k for k in payload})
        except Exception:
            self._dirty |= dirty
            raise
        return len(payload)

    async def release(self, keys: Collection[CheckKey]) -> None:
        """Hand checks over to another cluster node: save the states of those that ran here
        now (with when they last ran, so the new owner keeps their rhythm), then forget them
        here (states and metric series). Raises if the save failed; they are forgotten all the
        same (the new owner goes on from the state saved before)."""
        self._away.update(keys)
        # A state restored at start-up and never run here may be older than the owner's.
        unsaved = {k: self._states[k] for k in keys if k in self._marked_at and k in self._states}
        try:
            if unsaved:
                payload = {state_key(k): state.to_json() for k, state in unsaved.items()}
                await self._store.save_states(STATE_NAMESPACE, payload, {k: k for k in payload})
        finally:
            self._drop(keys)

    async def acquire(self, keys: Collection[CheckKey]) -> int:
        """Take checks over from another cluster node: load their states from the store (the
        previous owner saved them), so a HARD problem stays HARD and its flap history goes on.
        Returns how many states were found; a check without one starts PENDING."""
        self._away.difference_update(keys)
        saved = await self._store.load_states_of(STATE_NAMESPACE, [state_key(k) for k in keys])
        self._load(saved)
        return len(saved)

    def state(self, key: CheckKey) -> CheckState | None:
        return self._states.get(key)

    def states(self) -> dict[CheckKey, CheckState]:
        return dict(self._states)

    def _drop(self, keys: Iterable[CheckKey]) -> None:
        for key in keys:
            self._states.pop(key, None)
            self._dirty.discard(key)
            self._marked_at.pop(key, None)
            self._metrics.forget(*key)

    async def handle(self, check: ResolvedCheck, result: CheckResult, run: RunInfo) -> bool:
        """The scheduler's result handler; returns True while the check is retrying."""
        key = check.key
        if key in self._away:
            return False
        previous = self._states.get(key, CheckState())
        if run.overloaded:
            return self._withheld(check, result, run, previous)
        state, transitions = advance(previous, result, run.started, self._policy_for(check))
        state, changes = alert_changes(state, transitions)
        self._states[key] = state
        now = self._clock.monotonic()
        if (
            _moved(previous, state)
            or now - self._marked_at.get(key, -math.inf) >= STEADY_STATE_SAVE
        ):
            self._dirty.add(key)
            self._marked_at[key] = now

        self._record(check, result, run)
        measured, own = _with_context(check, result, run)
        self._metrics.set_check_status(check.item, check.name, state.hard_status)
        # The check's own status is already watchd_check_status; only measurements are probes.
        self._metrics.observe_samples(check.item, check.name, measured)
        samples = [*measured, *own]
        for observer in self._observers:
            await observer(samples, run.started)

        for transition in transitions:
            _log(check, transition, state)
        t = run.started
        alerts = tuple(
            check_alert(check, c.status, c.firing, state, t, c.flapping) for c in changes
        )
        if run.recheck and not transitions and _still_failing(result, state):
            # A fresh result was asked for (the item's parent recovered) and it still fails:
            # say so with the firing alert again, which releases it from the parent's incident.
            alerts = (check_alert(check, state.hard_status, True, state, t, state.flap.flapping),)
        if alerts:
            await self._sink.submit(alerts)
        return state.retrying

    def _withheld(
        self, check: ResolvedCheck, result: CheckResult, run: RunInfo, state: CheckState
    ) -> bool:
        """Record an overloaded run; the check keeps its state and its retry rhythm."""
        self._record(check, result, run)
        self._metrics.count_overloaded(check.kind)
        return state.retrying

    def _record(self, check: ResolvedCheck, result: CheckResult, run: RunInfo) -> None:
        """The run's availability sample and run metrics, whatever became of its result."""
        self._store.record_sample(
            AvailabilitySample(
                item=check.item,
                check=check.name,
                time=run.started,
                status=int(result.status),
                latency=run.duration,
                message=result.message[:500],
            )
        )
        self._metrics.observe_check(check.kind, result.status, run.duration, run.failed)
        self._metrics.set_schedule_lag(run.lag)


# What a check's state stands on: every field of CheckState but when it ran and its message.
# Read from the dataclass's own fields, so a field added to CheckState counts too.
_STANDING = attrgetter(
    *(f.name for f in fields(CheckState) if f.name not in ("last_check", "message"))
)


def _moved(old: CheckState, new: CheckState) -> bool:
    """Whether `new` stands elsewhere than `old`: anything but when it ran and its message
    (compared field by field in C: a dataclasses.replace() per run cost more)."""
    return bool(_STANDING(old) != _STANDING(new))


def _still_failing(result: CheckResult, state: CheckState) -> bool:
    """The result is a problem and so is the HARD state (its alert is firing)."""
    return result.status is not Status.OK and state.hard_status is not Status.OK


def _default_policy(check: ResolvedCheck) -> CheckPolicy:
    return CheckPolicy(max_attempts=check.max_attempts, recover_attempts=check.recover_attempts)


def _with_context(
    check: ResolvedCheck, result: CheckResult, run: RunInfo
) -> tuple[Sequence[Sample], list[Sample]]:
    """The run's samples with item, check and time filled in, and the check's own status ones.

    Samples that share one labels mapping (an SNMP table row's) share one merged mapping too:
    samples are never changed after they are made, and building a dict per sample was a tenth
    of an SNMP poll's result path. Samples made `in_context` have their labels already and
    go on as they are (a sample without a time has the run's)."""
    base = check_labels(check.item, check.name, check.labels)
    started = run.started
    samples: Sequence[Sample]
    if result.in_context:
        samples = result.samples
    else:
        merged: dict[int, dict[str, str]] = {}
        samples = []
        for s in result.samples:
            labels = merged.get(id(s.labels))
            if labels is None:
                labels = merged[id(s.labels)] = {**base, **s.labels}
            samples.append(Sample(s.metric, s.value, labels, started if s.time is None else s.time))
    labels = {**base, "kind": check.kind}  # rules can then match every check of one kind
    return samples, check_samples(result.status, run.duration, labels, started)


def check_alert(
    check: ResolvedCheck,
    status: Status,
    firing: bool,
    state: CheckState,
    t: float,
    flapping: bool = False,
) -> Alert:
    """The alert that stands for a check's HARD problem at one severity, flapping or not.

    Severity is a label, so WARNING -> CRITICAL resolves the warning alert and fires the
    critical one: receivers see both facts and the incident keeps both in its timeline.
    """
    labels = {
        **check.labels,
        "alertname": f"check_{check.kind}",
        "item": check.item,
        "check": check.name,
        "severity": severity_of(status),
    }
    annotations: dict[str, Any] = {
        "summary": f"{check.item}/{check.name} is {status.name}: {state.message}",
        "status": status.name,
    }
    if check.runbook_url is not None:
        annotations[RUNBOOK_ANNOTATION] = check.runbook_url
    if flapping:
        annotations[FLAPPING] = "true"
    return Alert(
        labels=labels,
        annotations=annotations,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        starts_at=state.hard_since or t,
        ends_at=None if firing else t,
        source=CHECK_SOURCE,
    )


def _log(check: ResolvedCheck, t: Transition, state: CheckState) -> None:
    fields = {"item": check.item, "check": check.name, "kind": check.kind, "message": state.message}
    if t.kind is TransitionKind.PROBLEM:
        log.warning("check_problem", status=t.new.name, **fields)
    elif t.kind is TransitionKind.CHANGE:
        log.warning("check_changed", old=t.old.name, status=t.new.name, **fields)
    elif t.kind is TransitionKind.RECOVERY:
        outage = format_duration(t.duration or 0.0)
        log.info("check_recovered", old=t.old.name, outage=outage, **fields)
    else:
        log.warning(t.kind.value, percent=round(state.flap.percent, 1), **fields)
