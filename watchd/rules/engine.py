"""The rule engine: samples in, alert state changes out.

    samples ──► index by metric ──► matchers ──► series state ──► level (thresholds, clear,
                                                                  window, forecast)
                                                      │
    evaluate() (clock) ──► for / absent / forecast ───┤
                                                      ▼
                        for / attempts / recover_after ──► Alert changes (flapping marker)

Semantics (rules/README.md has the user's view):
- A series is a metric with its full label set. Each (rule, series) has its own state.
- Level: critical if `crit` is met, else warning if `warn` is met, else ok; with `clear`, a
  series at warning or critical that no longer meets a threshold stays at the rule's lowest
  level until `clear` is met (hysteresis).
- A level fires once it has held for `for` (sample times, and the clock in `evaluate`) or for
  `attempts` consecutive samples. The alert's `starts_at` is when its level began to hold.
- Severity is a label, so warning and critical are two alerts: going up resolves the warning
  alert and fires the critical one; going down does the reverse (after `recover_after`).
- Flapping (Nagios, DESIGN.md §4) is computed on the level after every sample. Changes are
  always sent as they happen (a flapping rule never holds a stale state); while the series flaps
  its alerts carry the annotation flapping="true", so the incident layer records them without
  paging. When it stops, every alert sent with the marker is sent again without it, in its
  current status, and the incident layer notifies the true state if it differs.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watchd.clock import Clock
from watchd.flap import HISTORY, FlapPolicy, record
from watchd.matchers import Matcher
from watchd.model import Alert, AlertStatus, Sample, counter_increase
from watchd.rules.alerts import rule_alert
from watchd.rules.conditions.aggregates import window_value
from watchd.rules.model import Join, Rule, RuleSet
from watchd.rules.state import (
    NO_LEVELS,
    NOT_COUNTED,
    NOT_HELD,
    SeriesKey,
    SeriesState,
    series_key,
)

# The engine's own state (when each check was last seen, device boots, the checks each absent
# rule saw) is saved under ENGINE_KEY + "/" + the node's name: in a cluster every node saves
# its own, where one shared key kept only the last writer's. Restoring merges every node's
# (and "@engine" alone, as saved before); a node keeps what belongs to the checks it runs.
ENGINE_KEY = "@engine"
_DEFAULT_FLAP = FlapPolicy()
_PAIR_LABELS = ("item", "check")
_Latest = dict[tuple[str, ...], tuple[float, float]]  # a joined metric's values by join key


@dataclass(slots=True)
class EngineStats:
    """Counters for /metrics: samples evaluated against a rule, and samples set aside."""

    evaluations: int = 0
    nonfinite: int = 0
    out_of_order: int = 0


class _Runtime:
    """A rule with its series states."""

    __slots__ = ("accepts", "flap", "pair_matchers", "plain", "rule", "seen_pairs", "states")

    def __init__(self, rule: Rule, flap: FlapPolicy) -> None:
        self.rule = rule
        self.plain = rule.plain
        self.accepts = _compile_matchers(rule.matchers)
        self.flap = rule.flap if rule.flap is not None else flap
        self.states: dict[SeriesKey, SeriesState] = {}
        self.pair_matchers = tuple(m for m in rule.matchers if m.label in _PAIR_LABELS)
        # (item, check) pairs this absent rule has seen a real series for.
        self.seen_pairs: set[tuple[str, str]] = set()


def _compile_matchers(
    matchers: tuple[Matcher, ...],
) -> Callable[[Mapping[str, str]], bool] | None:
    """One callable for a rule's matchers; the single-equality case is the hot one."""
    if not matchers:
        return None
    if len(matchers) == 1:
        only = matchers[0]
        if only.op == "=":
            label, value = only.label, only.value
            return lambda labels: labels.get(label, "") == value
        return only.matches
    return lambda labels: all(m.matches(labels) for m in matchers)


class RuleEngine:
    """Evaluates a rule set over samples and reports alerts whose state changed.

    `observe` takes samples as they come; `evaluate` runs on a timer (RulesConfig.
    evaluation_interval) for what time alone changes: `for` timers, `absent`, forecasts.
    """

    def __init__(
        self, rules: RuleSet, *, clock: Clock, flap: FlapPolicy = _DEFAULT_FLAP, node: str = ""
    ) -> None:
        self._clock = clock
        self.engine_key = f"{ENGINE_KEY}/{node}" if node else ENGINE_KEY
        self._flap = flap
        self._started = clock.now()
        self.stats = EngineStats()
        self._pairs: dict[tuple[str, str], float] = {}
        self._boots: dict[tuple[str, str], tuple[float, float]] = {}
        # Latest values of metrics that rules join (divide_by, require), by metric and join
        # key: (time, value). A dict per metric, where a (metric, key) tuple per value took
        # 2.2 MB at 5,000 SNMP devices (40,000 values).
        self._latest: dict[str, _Latest] = {}
        # Series changed since their state was last exported for saving, unsaved longest
        # first, with their rule's runtime: keyed by the state itself (hashed by identity),
        # where an id and a (runtime, state) tuple per series took 88 bytes more each.
        self._unsaved: dict[SeriesState, _Runtime] = {}
        # Series whose value, window or flap history moved but nothing they decide on (level,
        # timers, counts, what fires) are flagged `touched` instead, and saved with the next
        # `save_steady`, not at every save. Windowed series move with every sample; saving them
        # all each time was a fifth of the daemon's CPU at 5,000 SNMP devices (bench/README.md,
        # issue 14).
        self._install(rules, {})

    # -- rules ------------------------------------------------------------------------------

    def _install(self, rules: RuleSet, keep: Mapping[str, _Runtime]) -> None:
        self.rules = rules
        self._runtimes: list[_Runtime] = []
        self._index: dict[str, list[_Runtime]] = {}
        for rule in rules.rules:
            old = keep.get(rule.name)
            runtime = _Runtime(rule, self._flap)
            if old is not None and old.rule.digest == rule.digest:
                runtime.states, runtime.seen_pairs = old.states, old.seen_pairs
            self._runtimes.append(runtime)
            self._index.setdefault(rule.metric, []).append(runtime)
        resets = {
            rule.over.reset_metric
            for rule in rules.rules
            if rule.over is not None and rule.over.fn in ("rate", "delta")
        }
        joins: dict[str, set[Join]] = {}
        for rule in rules.rules:
            for join in (rule.require, rule.over.divide_by if rule.over else None):
                if join is not None:
                    joins.setdefault(join.metric, set()).add(join)
        # What other samples read, by metric: whether it is an uptime that tells device boots
        # (`reset_metric`), the joins that read its latest value and where it is kept (kept
        # over a reload).
        self._read_first: dict[str, tuple[bool, tuple[Join, ...], _Latest]] = {
            metric: (metric in resets, tuple(joins.get(metric, ())), self._latest_of(metric))
            for metric in resets | set(joins)
        }
        self._track_pairs = any(
            rt.pair_matchers for rt in self._runtimes if rt.rule.absent is not None
        )

    def replace_rules(self, rules: RuleSet) -> list[Alert]:
        """Swap in reloaded rules (SIGHUP), keeping the state of rules whose definition is the same.

        Returns resolved alerts for everything a removed or changed rule had firing, so a
        reload never leaves an alert firing forever; submit them like any other change.
        """
        now = self._clock.now()
        new_digests = {rule.name: rule.digest for rule in rules.rules}
        resolved: list[Alert] = []
        for runtime in self._runtimes:
            if new_digests.get(runtime.rule.name) != runtime.rule.digest:
                for state in runtime.states.values():
                    resolved.extend(self._retire(runtime, state, now))
        self._install(rules, {rt.rule.name: rt for rt in self._runtimes})
        return resolved

    def known_metrics(self) -> set[str]:
        """The metric names some rule watches."""
        return set(self._index)

    # -- samples ----------------------------------------------------------------------------

    def observe(self, samples: Sequence[Sample], at: float | None = None) -> list[Alert]:
        """Evaluate samples against the rules of their metric; return alerts that changed.

        NaN and infinite values are ignored (`stats.nonfinite`); a sample not newer than the
        last one of its series is dropped for that series (`stats.out_of_order`). A sample
        without a time is taken at `at` (default: now).
        """
        alerts: list[Alert] = []
        now = self._clock.now() if at is None else at
        if self._read_first:
            self._note_read_first(samples, now)
        if self._track_pairs:
            for sample in samples:
                pair = (sample.labels.get("item", ""), sample.labels.get("check", ""))
                if pair not in self._pairs:
                    self._pairs[pair] = sample.time if sample.time is not None else now
        index = self._index
        keys: dict[int, SeriesKey] = {}
        isfinite = math.isfinite
        stats = self.stats
        evaluations = 0
        for sample in samples:
            runtimes = index.get(sample.metric)
            if runtimes is None:
                continue
            value = sample.value
            if not isfinite(value):
                stats.nonfinite += 1
                continue
            t = sample.time if sample.time is not None else now
            labels = sample.labels
            key: SeriesKey | None = None
            for runtime in runtimes:
                evaluations += 1
                accepts = runtime.accepts
                if accepts is not None and not accepts(labels):
                    continue
                rule = runtime.rule
                if key is None:
                    # Samples of one table row share their labels mapping: one key per row.
                    key = keys.get(id(labels))
                    if key is None:
                        key = keys[id(labels)] = series_key(labels)
                state = runtime.states.get(key)
                if state is None:
                    windowed = rule.over is not None or rule.forecast is not None
                    state = runtime.states[key] = SeriesState(labels, windowed=windowed)
                    self._unsaved[state] = runtime
                elif t <= state.last_time:
                    stats.out_of_order += 1
                    continue
                elif state.placeholder:
                    state.placeholder = False
                    self._unsaved[state] = runtime
                state.touched = True
                previous = state.last_time
                state.last_time = t
                if runtime.plain:
                    # The common case, kept short: a plain threshold on the sample's value.
                    state.value = value
                    level = self._level(rule, value, state.level)
                    if (
                        level == 0
                        and state.level == 0
                        and state.firing == 0
                        and state.emitted == 0
                        and state.flap_run >= HISTORY
                        and state.flap_last == 0
                    ):
                        continue  # steady ok: nothing to update but the time and value
                    self._step(runtime, state, level, t, alerts, observed=True)
                elif rule.absent is not None:
                    self._observe_absent(runtime, state, value, t, alerts)
                elif rule.forecast is not None:
                    self._observe_forecast(runtime, state, value, t, alerts)
                elif rule.over is not None:
                    self._observe_window(runtime, state, value, t, previous, alerts)
                else:
                    state.value = value
                    level = self._required_level(rule, state)
                    self._step(runtime, state, level, t, alerts, observed=True)
        stats.evaluations += evaluations
        return alerts

    def _note_read_first(self, samples: Sequence[Sample], now: float) -> None:
        """What the batch's other samples read, noted before them (in one pass): boot times
        from uptime samples (time - uptime), the latest values of the metrics rules join."""
        read_first = self._read_first
        for sample in samples:
            reads = read_first.get(sample.metric)
            if reads is None or not math.isfinite(sample.value):
                continue
            t = sample.time if sample.time is not None else now
            boots, joins, latest = reads
            if boots:
                device = (sample.metric, sample.labels.get("item", ""))
                booted = self._boots.get(device)
                if booted is None or t > booted[0]:
                    self._boots[device] = (t, t - sample.value)
            for join in joins:
                key = join.key(sample.labels)
                seen = latest.get(key)
                if seen is None or t >= seen[0]:
                    latest[key] = (t, sample.value)

    def _latest_of(self, metric: str) -> _Latest:
        latest = self._latest.get(metric)
        if latest is None:
            latest = self._latest[metric] = {}
        return latest

    def _joined(self, join: Join, labels: Mapping[str, str]) -> float | None:
        seen = self._latest[join.metric].get(join.key(labels))  # made by `_install`
        return None if seen is None else seen[1]

    @staticmethod
    def _level(rule: Rule, value: float, current: int) -> int:
        for level, threshold in rule.levels:
            if threshold.fn(value, threshold.value):
                return level
        if current and rule.clear is not None and not rule.clear.fn(value, rule.clear.value):
            return min(current, rule.lowest_level)
        return 0

    def _observe_window(
        self,
        runtime: _Runtime,
        state: SeriesState,
        value: float,
        t: float,
        previous: float,
        alerts: list[Alert],
    ) -> None:
        over = runtime.rule.over
        assert over is not None and state.window is not None
        increase = 0.0
        if over.fn in ("rate", "delta") and state.window:
            boot = self._boots.get((over.reset_metric, state.labels.get("item", "")))
            reset = boot is not None and boot[1] > previous
            increase = counter_increase(
                state.window.last_value, value, bits=over.counter_bits, reset=reset
            )
        window = state.window
        window.add(t, value, increase)
        state.increases += increase - window.evict(t, over.window)
        state.increases_exact_in -= 1
        if state.increases_exact_in <= 0:
            state.increases = math.fsum(window.increases())
            state.increases_exact_in = window.size
        aggregate = window_value(over, window, state.increases)
        if aggregate is not None and over.divide_by is not None:
            divisor = self._joined(over.divide_by, state.labels)
            if not divisor:
                aggregate = None
            else:
                aggregate /= divisor * over.divide_by.factor
        if aggregate is None:
            return  # too few points for the function, or no divisor yet: no evaluation
        state.value = aggregate
        self._step(
            runtime, state, self._required_level(runtime.rule, state), t, alerts, observed=True
        )

    def _required_level(self, rule: Rule, state: SeriesState) -> int:
        """The level of the state's value, ok while the rule's `require` is not met."""
        if rule.require is not None:
            joined = self._joined(rule.require, state.labels)
            assert rule.require.condition is not None
            if joined is None or not rule.require.condition.test(joined):
                return 0
        return self._level(rule, state.value, state.level)

    def _observe_forecast(
        self, runtime: _Runtime, state: SeriesState, value: float, t: float, alerts: list[Alert]
    ) -> None:
        forecast = runtime.rule.forecast
        assert forecast is not None and state.window is not None
        window = state.window
        window.add(t, value, 0.0)
        window.evict(t, forecast.window)
        state.value = value
        span = window.last_time - window.first_time
        if window.size >= forecast.min_samples and span >= forecast.min_span:
            state.refit()
        else:
            state.fit = None
        level = self._forecast_level(runtime.rule, state, t)
        self._step(runtime, state, level, t, alerts, observed=True)

    def _forecast_level(self, rule: Rule, state: SeriesState, now: float) -> int:
        forecast = rule.forecast
        assert forecast is not None
        for level, threshold in rule.levels:
            if threshold.test(state.value):
                state.predicted = now
                return level
            if state.fit is not None:
                when = state.fit.crossing(threshold, now)
                if when is not None and when - now <= forecast.horizon:
                    state.predicted = when
                    return level
        state.predicted = None
        return 0

    def _observe_absent(
        self, runtime: _Runtime, state: SeriesState, value: float, t: float, alerts: list[Alert]
    ) -> None:
        state.value = value
        if runtime.pair_matchers:
            pair = (state.labels.get("item", ""), state.labels.get("check", ""))
            if pair not in runtime.seen_pairs:
                runtime.seen_pairs.add(pair)
                placeholder = runtime.states.get(self._placeholder_key(runtime, pair))
                if placeholder is not None and placeholder is not state:
                    alerts.extend(self._retire(runtime, placeholder, t))
                    del runtime.states[self._placeholder_key(runtime, pair)]
        if state.level or state.firing:
            self._step(runtime, state, 0, t, alerts, observed=True)

    # -- time -------------------------------------------------------------------------------

    def evaluate(self) -> list[Alert]:
        """Re-check what time alone changes: `for` timers, `recover_after`, `absent`, forecasts."""
        now = self._clock.now()
        alerts: list[Alert] = []
        for runtime in self._runtimes:
            rule = runtime.rule
            if rule.absent is not None:
                self._evaluate_absent(runtime, now, alerts)
            elif rule.forecast is not None:
                for state in runtime.states.values():
                    state.touched = True  # the prediction moves with time
                    level = self._forecast_level(rule, state, now)
                    if level != state.level or state.level or state.firing:
                        self._step(runtime, state, level, now, alerts, observed=False)
            elif rule.for_ or rule.recover_after:
                for state in runtime.states.values():
                    if state.level or state.firing:
                        self._settle(runtime, state, now, alerts)
        return alerts

    def _placeholder_key(self, runtime: _Runtime, pair: tuple[str, str]) -> SeriesKey:
        return series_key(self._placeholder_labels(runtime, pair))

    @staticmethod
    def _placeholder_labels(runtime: _Runtime, pair: tuple[str, str]) -> dict[str, str]:
        # Like Prometheus' absent(): the equality matchers say what the missing series is.
        labels = {m.label: m.value for m in runtime.rule.matchers if m.op == "="}
        labels.update(item=pair[0], check=pair[1])
        return labels

    def _evaluate_absent(self, runtime: _Runtime, now: float, alerts: list[Alert]) -> None:
        rule = runtime.rule
        assert rule.absent is not None
        if runtime.pair_matchers:
            for pair, first_seen in self._pairs.items():
                if pair in runtime.seen_pairs:
                    continue
                pair_labels = dict(zip(_PAIR_LABELS, pair, strict=True))
                if not all(m.matches(pair_labels) for m in runtime.pair_matchers):
                    continue
                labels = self._placeholder_labels(runtime, pair)
                key = series_key(labels)
                if key not in runtime.states:
                    state = SeriesState(labels)
                    state.placeholder = True
                    state.last_time = first_seen
                    runtime.states[key] = state
                    self._unsaved[state] = runtime
        for state in runtime.states.values():
            # Series seen before a restart get a fresh `absent` span from the restart.
            quiet_since = max(state.last_time, self._started)
            if now - quiet_since >= rule.absent and not state.level:
                self._step(
                    runtime,
                    state,
                    rule.absent_severity,
                    quiet_since + rule.absent,
                    alerts,
                    observed=False,
                )
                self._settle(runtime, state, now, alerts)

    # -- the state machine ------------------------------------------------------------------

    def _step(
        self,
        runtime: _Runtime,
        state: SeriesState,
        level: int,
        now: float,
        alerts: list[Alert],
        *,
        observed: bool,
    ) -> None:
        """Record a level at `now`, then settle what fires."""
        if (
            level == 0
            and state.level == 0
            and state.firing == 0
            and state.emitted == 0
            and state.flap_run >= HISTORY
            and state.flap_last == 0
            and state.below_since is None
            and state.since is NOT_HELD
            and state.count is NOT_COUNTED
        ):
            # Steady ok (as the plain-threshold path in `observe` skips): nothing held, firing,
            # sent or timed, a full flap history of ok. Recording another ok changes nothing;
            # windowed series of SNMP interfaces come here with every sample.
            return
        if level or state.level:  # the level, or since when and how often it held, moves
            self._unsaved[state] = runtime
        if level == 0:
            state.since, state.count = NOT_HELD, NOT_COUNTED
        else:
            (_, warn_since, crit_since), (_, warn_count, crit_count) = state.since, state.count
            step = 1 if observed else 0
            state.since = (
                None,
                now if warn_since is None else warn_since,
                None if level < 2 else now if crit_since is None else crit_since,
            )
            state.count = (0, warn_count + step, 0 if level < 2 else crit_count + step)
        state.level = level
        if observed and runtime.flap.enabled:
            self._record_flap(runtime, state, level, now, alerts)
        self._settle(runtime, state, now, alerts)

    def _record_flap(
        self, runtime: _Runtime, state: SeriesState, level: int, now: float, alerts: list[Alert]
    ) -> None:
        if level == state.flap_last:
            state.flap_run += 1
            if state.flap_run > HISTORY:
                return  # a history of one repeated level stays the same: 0 % change
        else:
            state.flap_last, state.flap_run = level, 1
        state.flap, change = record(state.flap, level, runtime.flap)
        if change is not None:
            self._unsaved[state] = runtime
        if change is True and state.emitted:
            # The alert firing now carries the marker from here on, so its changes are held.
            alerts.append(self._rule_alert(runtime, state, state.emitted, AlertStatus.FIRING, now))
        elif change is False:
            alerts.extend(self._unmark(runtime, state, now))

    def _held(self, rule: Rule, state: SeriesState, level: int, now: float) -> bool:
        if rule.attempts:
            return state.count[level] >= rule.attempts
        since = state.since[level]
        # A clock that went back gives a negative span: not held yet, never an error.
        return since is not None and now - since >= rule.for_

    def _settle(
        self, runtime: _Runtime, state: SeriesState, now: float, alerts: list[Alert]
    ) -> None:
        rule = runtime.rule
        target = 0
        levels = rule.levels or ((rule.absent_severity, None),)
        for level, _ in levels:
            if state.level >= level and self._held(rule, state, level, now):
                target = level
                break
        below_since = state.below_since
        if target < state.firing and rule.recover_after:
            if state.below_since is None:
                state.below_since = now
            if now - state.below_since < rule.recover_after:
                target = state.firing
            else:
                state.below_since = None
        else:
            state.below_since = None
        if below_since != state.below_since or target != state.firing:
            self._unsaved[state] = runtime
        if target != state.firing:
            state.firing = target
            state.firing_since = state.since[target] if target else None
        self._send(runtime, state, now, alerts)

    def _send(self, runtime: _Runtime, state: SeriesState, now: float, alerts: list[Alert]) -> None:
        """Send what changed since the last alert sent for this series."""
        if state.emitted == state.firing:
            return
        self._unsaved[state] = runtime
        if state.emitted:
            alerts.append(
                self._rule_alert(runtime, state, state.emitted, AlertStatus.RESOLVED, now)
            )
        state.emitted, state.emitted_since = state.firing, state.firing_since
        if state.firing:
            alerts.append(self._rule_alert(runtime, state, state.firing, AlertStatus.FIRING, now))

    def _unmark(self, runtime: _Runtime, state: SeriesState, now: float) -> list[Alert]:
        """Flapping stopped: each alert sent with the marker again without it, as it is now."""
        marked, state.flap_marked = sorted(state.flap_marked), NO_LEVELS
        return [
            self._rule_alert(
                runtime,
                state,
                level,
                AlertStatus.FIRING if level == state.emitted else AlertStatus.RESOLVED,
                now,
                flapping=False,
            )
            for level in marked
        ]

    def _retire(self, runtime: _Runtime, state: SeriesState, now: float) -> list[Alert]:
        """Resolve whatever this series has sent (its rule or series goes away), unmarked."""
        levels, state.flap_marked = sorted({state.emitted, *state.flap_marked} - {0}), NO_LEVELS
        return [
            self._rule_alert(runtime, state, level, AlertStatus.RESOLVED, now, flapping=False)
            for level in levels
        ]

    def _rule_alert(
        self,
        runtime: _Runtime,
        state: SeriesState,
        level: int,
        status: AlertStatus,
        now: float,
        *,
        flapping: bool | None = None,
    ) -> Alert:
        """The alert of `level`, with the flapping marker while the series flaps (noted, so
        that flapping stopping sends it again without)."""
        marked = state.flap.flapping if flapping is None else flapping
        if marked:
            state.flap_marked = state.flap_marked | {level}
        return rule_alert(
            runtime.rule, state, level, status, now, started=self._started, flapping=marked
        )

    def active_alerts(self) -> list[Alert]:
        """Every alert currently firing as sent (with the flapping marker while it flaps)."""
        now = self._clock.now()
        return [
            self._rule_alert(runtime, state, state.emitted, AlertStatus.FIRING, now)
            for runtime in self._runtimes
            for state in runtime.states.values()
            if state.emitted
        ]

    # -- persistence ------------------------------------------------------------------------

    def export_state(self) -> dict[str, dict[str, Any]]:
        """JSON-able state per rule-series key, plus the engine's own under "@engine"."""
        out = {
            _saved_key(runtime, state): state.to_json(runtime.rule.digest)
            for runtime in self._runtimes
            for state in runtime.states.values()
        }
        out[self.engine_key] = self._engine_state()
        return out

    def export_changes(
        self, limit: int | None = None, *, engine: bool = True
    ) -> tuple[dict[str, dict[str, Any]], list[tuple[_Runtime, SeriesState]]]:
        """Like `export_state`, but only the series changed since they were last exported, at
        most `limit` of them (those unsaved longest first), with the engine's own state when
        `engine`; and those series, to hand to `not_saved` if writing them failed.

        Saved over the previous saves, the results are what `export_state` gives: a series no
        sample, timer or rule reached since has the state saved last time. With thousands of
        series (SNMP interfaces times rules) most are quiet between two saves."""
        unsaved = self._unsaved
        if limit is None or limit >= len(unsaved):
            changed = [(runtime, state) for state, runtime in unsaved.items()]
            self._unsaved = {}
        else:
            changed = [(unsaved.pop(s), s) for s in list(itertools.islice(unsaved, limit))]
        for _, state in changed:
            state.touched = False  # saved as it is now
        out = {
            _saved_key(runtime, state): state.to_json(runtime.rule.digest)
            for runtime, state in changed
        }
        if engine:
            out[self.engine_key] = self._engine_state()
        return out, changed

    def release(
        self, pairs: Collection[tuple[str, str]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """Stop evaluating every series fed by the checks `pairs` ((item, check)): another
        cluster node polls them now. Their series are dropped here, timers and `absent`
        included (a series whose check moved away is not missing); returns the states of those
        changed since their last save, to save for the new owner, with their checks'
        keys."""
        wanted = set(pairs)
        changed: list[tuple[_Runtime, SeriesState]] = []
        for runtime in self._runtimes:
            gone = [k for k, st in runtime.states.items() if _pair(st.labels) in wanted]
            for key in gone:
                state = runtime.states.pop(key)
                touched, state.touched = state.touched, False
                if self._unsaved.pop(state, None) is not None or touched:
                    changed.append((runtime, state))
            runtime.seen_pairs -= wanted
        for pair in wanted:
            self._pairs.pop(pair, None)
        states = {
            _saved_key(runtime, state): state.to_json(runtime.rule.digest)
            for runtime, state in changed
        }
        return states, self.check_keys(changed)

    @staticmethod
    def check_keys(changed: Sequence[tuple[_Runtime, SeriesState]]) -> dict[str, str]:
        """The check ("item/check") each of these series is fed by, by its store key."""
        keys = {}
        for runtime, state in changed:
            item, check = _pair(state.labels)
            if item and check:
                keys[_saved_key(runtime, state)] = f"{item}/{check}"
        return keys

    def save_steady(self) -> None:
        """Have the next `export_changes` include the series that only moved (their values,
        windows, flap histories or predictions) since they were last exported, after those
        already due. One pass over every series, every STEADY_SAVE: 10-40 ms at 80,000 series,
        no longer than merging the dict of moved series it replaces (which held 7.6 MB)."""
        unsaved = self._unsaved
        for runtime in self._runtimes:
            for state in runtime.states.values():
                if state.touched:
                    state.touched = False
                    unsaved.setdefault(state, runtime)

    def unsaved_count(self) -> int:
        """How many series changed since their state was last exported."""
        return len(self._unsaved)

    def not_saved(self, changed: Sequence[tuple[_Runtime, SeriesState]]) -> None:
        """Series from `export_changes` whose save failed: the next call exports them again."""
        for runtime, state in changed:
            self._unsaved.setdefault(state, runtime)

    def _engine_state(self) -> dict[str, Any]:
        return {
            "pairs": [[item, check, t] for (item, check), t in self._pairs.items()],
            "boots": [[m, item, t, b] for (m, item), (t, b) in self._boots.items()],
            "seen_pairs": {
                rt.rule.name: sorted(rt.seen_pairs) for rt in self._runtimes if rt.seen_pairs
            },
        }

    def restore_state(
        self,
        states: Mapping[str, Mapping[str, Any]],
        pairs: Collection[tuple[str, str]] | None = None,
    ) -> None:
        """Load state saved by `export_state`; entries of rules that changed or went are dropped.
        The engines' own states (every node's) give only what concerns the checks `pairs`
        ((item, check)) when given: the checks a cluster node takes over.

        A malformed entry is skipped, never fatal: losing one series' state beats not starting.
        """
        by_name = {rt.rule.name: rt for rt in self._runtimes}
        for key, data in states.items():
            try:
                if is_engine_key(key):
                    self._restore_engine(data, by_name, None if pairs is None else set(pairs))
                    continue
                name, _ = json.loads(key)
                runtime = by_name.get(name)
                if runtime is None or data.get("digest") != runtime.rule.digest:
                    continue
                state = SeriesState.from_json(data)
                runtime.states[series_key(state.labels)] = state
                if runtime.pair_matchers and not state.placeholder:
                    # A real series of this pair was seen (by this node or the one it took
                    # the check over from): no placeholder stands in for it.
                    runtime.seen_pairs.add(_pair(state.labels))
            except (KeyError, TypeError, ValueError):
                continue

    def _restore_engine(
        self,
        data: Mapping[str, Any],
        by_name: Mapping[str, _Runtime],
        wanted: set[tuple[str, str]] | None,
    ) -> None:
        for item, check, t in data.get("pairs", []):
            pair = (str(item), str(check))
            if wanted is None or pair in wanted:
                self._pairs.setdefault(pair, float(t))
        for metric, item, t, boot in data.get("boots", []):
            key = (str(metric), str(item))
            seen = self._boots.get(key)
            if seen is None or float(t) > seen[0]:  # the latest reading of any node
                self._boots[key] = (float(t), float(boot))
        for name, seen_pairs in data.get("seen_pairs", {}).items():
            runtime = by_name.get(name)
            if runtime is not None:
                restored = {(str(i), str(c)) for i, c in seen_pairs}
                runtime.seen_pairs |= restored if wanted is None else restored & wanted


def is_engine_key(key: str) -> bool:
    """Whether a saved rule state is an engine's own (any node's) rather than a series'."""
    return key == ENGINE_KEY or key.startswith(ENGINE_KEY + "/")


def _pair(labels: Mapping[str, str]) -> tuple[str, str]:
    """The (item, check) whose samples fed a series."""
    return (labels.get("item", ""), labels.get("check", ""))


def _saved_key(runtime: _Runtime, state: SeriesState) -> str:
    """The store key of a series' state: its rule and labels as JSON. Made at each save, not
    kept: kept, the keys took 11 MB at 5,000 SNMP devices (80,000 series), and since series
    that only moved are saved every STEADY_SAVE, making them is a few µs a series each time."""
    return json.dumps([runtime.rule.name, sorted(state.labels.items())], ensure_ascii=False)
