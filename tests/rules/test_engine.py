"""The rule state machine with a fake clock: for, attempts, clear, recover_after, severity
changes, absent, forecast, flap detection, bad samples, persistence and reload."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from watchd.clock import FakeClock
from watchd.flap import FlapPolicy
from watchd.model import Alert, AlertStatus, Sample
from watchd.rules import RuleEngine, RuleSet, load_rules
from watchd.rules.conditions.aggregates import Window, window_value

T0 = 1_800_000_000.0
WEB = {"item": "web1", "check": "local"}


def ruleset(tmp_path: Path, body: str, name: str = "r.yaml") -> RuleSet:
    path = tmp_path / name
    path.write_text("rules:\n" + body)
    return load_rules([path])


def sample(metric: str, value: float, t: float, **labels: str) -> Sample:
    return Sample(metric, value, {**WEB, **labels}, T0 + t)


def brief(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return [(a.name, a.labels.get("severity", ""), a.status.value) for a in alerts]


DISK = """\
  - name: disk
    metric: disk_used_percent
    warn: "> 80"
    crit: "> 95"
    for: 2m
    labels: {team: ops}
    annotations:
      summary: "{{ item }} {{ labels.mount }} at {{ value }} ({{ condition }})"
"""


def test_for_fires_after_the_condition_held_and_starts_when_it_began(tmp_path: Path) -> None:
    """A `for: 2m` rule fires at the first sample 2m after the condition began, dated then."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    assert engine.observe([sample("disk_used_percent", 85, 0, mount="/")]) == []
    assert engine.observe([sample("disk_used_percent", 86, 60, mount="/")]) == []
    (alert,) = engine.observe([sample("disk_used_percent", 87, 120, mount="/")])
    assert alert.status is AlertStatus.FIRING and alert.starts_at == T0
    assert alert.labels == {
        **WEB,
        "mount": "/",
        "team": "ops",
        "alertname": "disk",
        "severity": "warning",
    }
    assert alert.annotations == {"summary": "web1 / at 87 (> 80)"}


def test_a_dip_resets_the_for_timer(tmp_path: Path) -> None:
    """One good sample in between restarts the `for` span."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    for t, v in ((0, 85), (60, 50), (120, 85), (180, 85)):
        assert engine.observe([sample("disk_used_percent", v, t, mount="/")]) == []
    (alert,) = engine.observe([sample("disk_used_percent", 85, 240, mount="/")])
    assert alert.starts_at == T0 + 120


async def test_for_fires_from_the_clock_without_new_samples(tmp_path: Path) -> None:
    """evaluate() fires a pending rule once its `for` has passed on the clock."""
    clock = FakeClock(T0)
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=clock)
    engine.observe([sample("disk_used_percent", 90, 0, mount="/")])
    await clock.advance(119)
    assert engine.evaluate() == []
    await clock.advance(1)
    assert brief(engine.evaluate()) == [("disk", "warning", "firing")]


def test_going_critical_resolves_the_warning_and_fires_the_critical(tmp_path: Path) -> None:
    """Severity is a label: warning -> critical is a resolved warning plus a firing critical."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    got = []
    for t, v in ((0, 85), (120, 85), (180, 97), (300, 97), (360, 50)):
        got.append(brief(engine.observe([sample("disk_used_percent", v, t, mount="/")])))
    assert got == [
        [],
        [("disk", "warning", "firing")],
        [],
        [("disk", "warning", "resolved"), ("disk", "critical", "firing")],
        [("disk", "critical", "resolved")],
    ]


def test_attempts_count_consecutive_samples(tmp_path: Path) -> None:
    """`attempts: 3` fires on the third bad sample in a row; a good one starts the count over."""
    rules = ruleset(
        tmp_path, '  - {name: down, metric: check_up, threshold: "== 0", attempts: 3}\n'
    )
    engine = RuleEngine(rules, clock=FakeClock(T0))
    fired = [
        bool(engine.observe([sample("check_up", v, t)])) for t, v in enumerate([0, 0, 1, 0, 0, 0])
    ]
    assert fired == [False, False, False, False, False, True]


def test_clear_holds_the_alert_until_the_value_passes_it(tmp_path: Path) -> None:
    """With `clear: "< 75"` an alert above 75 but below the threshold keeps firing."""
    rules = ruleset(
        tmp_path, '  - {name: mem, metric: memory_used_percent, warn: "> 80", clear: "< 75"}\n'
    )
    engine = RuleEngine(rules, clock=FakeClock(T0))
    seen = [
        brief(engine.observe([sample("memory_used_percent", v, t)]))
        for t, v in enumerate([85, 78, 76, 74])
    ]
    assert seen == [[("mem", "warning", "firing")], [], [], [("mem", "warning", "resolved")]]


async def test_recover_after_delays_the_resolution(tmp_path: Path) -> None:
    """`recover_after: 2m` resolves only after the condition has been false for two minutes."""
    clock = FakeClock(T0)
    rules = ruleset(
        tmp_path, '  - {name: down, metric: check_up, threshold: "== 0", recover_after: 2m}\n'
    )
    engine = RuleEngine(rules, clock=clock)
    assert brief(engine.observe([sample("check_up", 0, 0)])) == [("down", "warning", "firing")]
    assert engine.observe([sample("check_up", 1, 60)]) == []
    assert engine.observe([sample("check_up", 0, 90)]) == []  # back down: the recovery restarts
    assert engine.observe([sample("check_up", 1, 120)]) == []
    await clock.advance(200)
    assert engine.evaluate() == []
    await clock.advance(40)
    (alert,) = engine.evaluate()
    assert alert.status is AlertStatus.RESOLVED and alert.ends_at == T0 + 240


async def test_absent_fires_for_a_series_that_stops_and_resolves_when_it_returns(
    tmp_path: Path,
) -> None:
    """A series silent for the `absent` duration fires; its next sample resolves it."""
    clock = FakeClock(T0)
    rules = ruleset(
        tmp_path, "  - {name: nodata, metric: check_up, absent: 5m, severity: critical}\n"
    )
    engine = RuleEngine(rules, clock=clock)
    engine.observe([sample("check_up", 1, 0)])
    await clock.advance(299)
    assert engine.evaluate() == []
    await clock.advance(1)
    (alert,) = engine.evaluate()
    assert (alert.labels["severity"], alert.starts_at) == ("critical", T0 + 300)
    (back,) = engine.observe([sample("check_up", 1, 400)])
    assert back.status is AlertStatus.RESOLVED


async def test_absent_never_seen_metric_waits_for_items_to_be_old_enough(tmp_path: Path) -> None:
    """An item whose check never sent the metric fires only once the item is older than `absent`."""
    clock = FakeClock(T0)
    body = "  - {name: sshd_missing, metric: process_instances, match: {check: local, name: sshd}, absent: 10m}\n"
    engine = RuleEngine(ruleset(tmp_path, body), clock=clock)
    await clock.advance(300)
    engine.observe([sample("cpu_usage_percent", 5, 300)])  # web1/local exists from now on
    await clock.advance(540)
    assert engine.evaluate() == []  # 9 minutes old: too young
    await clock.advance(60)
    (alert,) = engine.evaluate()
    assert alert.labels == {
        **WEB,
        "name": "sshd",
        "alertname": "sshd_missing",
        "severity": "warning",
    }
    (resolved,) = engine.observe([sample("process_instances", 1, 960, name="sshd")])
    assert resolved.status is AlertStatus.RESOLVED and resolved.labels == alert.labels


async def test_forecast_fires_when_the_line_crosses_within_the_horizon(tmp_path: Path) -> None:
    """A disk growing 1%/h from 50% is predicted full in 38h at 12h; the annotation says so."""
    clock = FakeClock(T0)
    body = """\
  - name: disk_forecast
    metric: disk_used_percent
    forecast: {window: 6h, horizon: 2d}
    threshold: ">= 100"
    annotations: {summary: "full in {{ predicted_in | duration }} at {{ predicted_at }}"}
"""
    engine = RuleEngine(ruleset(tmp_path, body), clock=clock)
    alerts = []
    for hour in range(13):
        alerts += engine.observe([sample("disk_used_percent", 50 + hour, hour * 3600.0, mount="/")])
    (alert,) = alerts
    # The samples span half the window (the default min_span) at 3h: 53% growing 1%/h
    # reaches 100% at 50h.
    assert alert.starts_at == T0 + 3 * 3600
    assert alert.annotations["summary"] == f"full in 1d23h at {T0 + 50 * 3600}"


def test_a_forecast_waits_until_its_samples_span_half_the_window(tmp_path: Path) -> None:
    """Ten minutes of a disk filling fast predict nothing from a 6h window; three hours do."""
    body = '  - {name: f, metric: disk_used_percent, forecast: {window: 6h, horizon: 7d}, threshold: ">= 100"}\n'
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    for minute in range(10):
        assert engine.observe([sample("disk_used_percent", 20 + minute, minute * 60.0)]) == []
    fired = []
    for minute in range(10, 181):
        fired += engine.observe([sample("disk_used_percent", 20 + minute / 10, minute * 60.0)])
    assert [a.starts_at for a in fired] == [T0 + 180 * 60]


def test_forecast_of_a_flat_series_does_not_fire(tmp_path: Path) -> None:
    """A series that does not grow is never predicted to cross."""
    body = '  - {name: f, metric: disk_used_percent, forecast: {window: 6h, horizon: 7d}, threshold: ">= 100"}\n'
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    for hour in range(10):
        assert engine.observe([sample("disk_used_percent", 70, hour * 3600.0)]) == []


def test_flapping_marks_changes_and_sends_the_true_state_unmarked_when_it_stops(
    tmp_path: Path,
) -> None:
    """While a series flaps its changes go out at once, marked flapping; none is held back.

    Nagios weights: 5 transitions in 6 results is 20.07% (flapping starts); it stops at 3.75%.
    Hand computation: transition i of 20 weighs 0.75 + (i-1)*0.5/19. After 0,1,0,1,0,1 the five
    transitions weigh 0.75+0.776+0.803+0.829+0.855 = 4.013, × 100/20 = 20.07% >= 20. Then the
    level stays 1; after the 25th result the 21-result history holds one transition, at i = 1
    (0.75 × 5 = 3.75% <= 5): flapping stops and the firing alert is sent again unmarked.
    """
    rules = ruleset(tmp_path, '  - {name: mem, metric: memory_used_percent, warn: "> 80"}\n')
    engine = RuleEngine(rules, clock=FakeClock(T0), flap=FlapPolicy(low=5, high=20))
    levels = [0, 1, 0, 1, 0, 1] + [1] * 19
    got = {}
    for i, level in enumerate(levels, start=1):
        alerts = engine.observe([sample("memory_used_percent", 90 if level else 10, i)])
        if alerts:
            got[i] = [(a.flapping, a.status.value) for a in alerts]
    assert got == {
        2: [(False, "firing")],
        3: [(False, "resolved")],
        4: [(False, "firing")],
        5: [(False, "resolved")],
        6: [(True, "firing")],
        25: [(False, "firing")],
    }
    assert [a.flapping for a in engine.active_alerts()] == [False]


def test_a_flapping_rule_whose_input_recovers_resolves_at_once(tmp_path: Path) -> None:
    """A flapping rule never holds a stale firing alert: OK input resolves it (marked) at once,
    and when flapping stops the resolution is sent again unmarked, to be notified."""
    rules = ruleset(tmp_path, '  - {name: mem, metric: memory_used_percent, crit: "> 80"}\n')
    engine = RuleEngine(rules, clock=FakeClock(T0), flap=FlapPolicy(low=5, high=20))
    levels = [0, 2, 0, 2, 0, 2, 0] + [0] * 19
    got = {}
    for i, level in enumerate(levels, start=1):
        alerts = engine.observe([sample("memory_used_percent", 90 if level else 10, i)])
        if alerts:
            got[i] = [(a.flapping, a.labels["severity"], a.status.value) for a in alerts]
    assert got[6] == [(True, "critical", "firing")]
    assert got[7] == [(True, "critical", "resolved")]
    # The last transition (6 -> 7) leaves the 21-result history's newest slots at result 26.
    assert got[26] == [(False, "critical", "resolved")]
    assert set(got) == {2, 3, 4, 5, 6, 7, 26}
    assert engine.active_alerts() == []


def test_flapping_between_severities_unmarks_both_alerts_when_it_stops(tmp_path: Path) -> None:
    """A series flapping between warning and critical marks both alerts; when it stops each is
    sent again unmarked as it stands (critical firing, warning resolved), so neither stays held."""
    rules = ruleset(
        tmp_path, '  - {name: mem, metric: memory_used_percent, warn: "> 80", crit: "> 90"}\n'
    )
    engine = RuleEngine(rules, clock=FakeClock(T0), flap=FlapPolicy(low=5, high=20))
    values = [85, 95, 85, 95, 85, 95] + [95] * 19
    last: list[Alert] = []
    for i, value in enumerate(values, start=1):
        if i == 10:  # mid-flap, the marked alerts survive a restart
            saved = json.loads(json.dumps(engine.export_state()))
            engine = RuleEngine(rules, clock=FakeClock(T0), flap=FlapPolicy(low=5, high=20))
            engine.restore_state(saved)
        last = engine.observe([sample("memory_used_percent", value, i)]) or last
    assert sorted((a.labels["severity"], a.status.value, a.flapping) for a in last) == [
        ("critical", "firing", False),
        ("warning", "resolved", False),
    ]


def test_a_rule_can_turn_flap_detection_off(tmp_path: Path) -> None:
    """`flap: false` sends every change."""
    rules = ruleset(
        tmp_path, '  - {name: m, metric: memory_used_percent, warn: "> 80", flap: false}\n'
    )
    engine = RuleEngine(rules, clock=FakeClock(T0))
    changes = [
        len(engine.observe([sample("memory_used_percent", 90 * (i % 2), i)])) for i in range(12)
    ]
    assert changes == [0] + [1] * 11


def test_nan_inf_and_out_of_order_samples_are_counted_not_evaluated(tmp_path: Path) -> None:
    """NaN and infinities are ignored, an older sample is dropped, neither changes the state."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    engine.observe([sample("disk_used_percent", 50, 100)])
    bad = [
        sample("disk_used_percent", math.nan, 200),
        sample("disk_used_percent", math.inf, 200),
        sample("disk_used_percent", 99, 50),
        sample("disk_used_percent", 99, 100),
    ]
    assert engine.observe(bad) == []
    assert (engine.stats.nonfinite, engine.stats.out_of_order) == (2, 2)
    assert engine.export_state() == engine.export_state()


def test_a_clock_behind_the_samples_neither_fires_nor_crashes(tmp_path: Path) -> None:
    """When the clock is behind the sample times (a jump back), `for` spans are not negative."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    engine.observe([sample("disk_used_percent", 90, 3600)])  # an hour ahead of the clock
    assert engine.evaluate() == []
    assert engine.observe([sample("disk_used_percent", 90, 3600 + 30)]) == []


def test_a_template_that_fails_keeps_the_raw_text_and_says_why(tmp_path: Path) -> None:
    """An annotation that cannot render keeps its template and adds `template_error`."""
    body = '  - {name: m, metric: memory_used_percent, warn: "> 80", annotations: {summary: "{{ nope.x }} high"}}\n'
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    (alert,) = engine.observe([sample("memory_used_percent", 90, 0)])
    assert alert.status is AlertStatus.FIRING
    assert alert.annotations["summary"] == "{{ nope.x }} high"
    assert "nope" in alert.annotations["template_error"]


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    """A template cannot reach Python internals: the attempt is a template error."""
    body = '  - name: m\n    metric: memory_used_percent\n    warn: "> 80"\n    annotations:\n      summary: "{{ value.__class__.__mro__[1].__subclasses__() }}"\n'
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    (alert,) = engine.observe([sample("memory_used_percent", 90, 0)])
    assert "template_error" in alert.annotations


def test_counter_rate_tells_a_reboot_from_a_wrap(tmp_path: Path) -> None:
    """A 32-bit counter that drops after the device uptime went back counts as a reset."""
    body = '  - {name: r, metric: if_in_errors_total, over: {window: 10m, fn: delta, counter_bits: 32}, warn: "> 1000"}\n'
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    engine.observe([sample("sys_uptime_seconds", 5000, 0), sample("if_in_errors_total", 100, 0)])
    engine.observe([sample("sys_uptime_seconds", 20, 60), sample("if_in_errors_total", 30, 60)])
    (state,) = [s for k, s in engine.export_state().items() if k != "@engine"]
    assert state["value"] == 30  # reset: grew from 0 to 30, not 2**32 - 70
    engine.observe([sample("sys_uptime_seconds", 80, 120), sample("if_in_errors_total", 10, 120)])
    (state,) = [s for k, s in engine.export_state().items() if k != "@engine"]
    assert state["value"] == 30 + 2**32 - 20  # no reboot: a drop is a 32-bit wrap


def test_a_window_rate_kept_as_points_come_and_go_equals_the_rate_summed_afresh(
    tmp_path: Path,
) -> None:
    """The engine keeps a rate window's sum of increases as points enter and leave (O(1) per
    sample); over hundreds of samples with evictions, fractional steps and a restore it gives
    the rate summed from the window's points every time."""
    body = '  - {name: r, metric: octets_total, over: {window: 5m, fn: rate, counter_bits: 64}, warn: "> 1e12"}\n'
    rules = ruleset(tmp_path, body)
    engine = RuleEngine(rules, clock=FakeClock(T0))
    over = rules.rules[0].over
    assert over is not None
    counter = 0.0
    for i in range(400):
        counter += 1000.0 + (i % 7) * 0.37  # fractional steps: float rounding would show
        engine.observe([sample("octets_total", counter, i * 2.0)])
        if i == 250:  # a restart halfway: the kept sum starts again from the saved window
            saved = json.loads(json.dumps(engine.export_state()))
            engine = RuleEngine(rules, clock=FakeClock(T0))
            engine.restore_state(saved)
        (state,) = [v for k, v in engine.export_state().items() if k != "@engine"]
        points = Window.from_flat(state["window"])
        if points.size >= 2:
            assert state["value"] == pytest.approx(window_value(over, points), rel=1e-12)
    assert points.size == 150  # the 5-minute window of 2 s samples, evicting all along


def test_require_evaluates_only_while_the_joined_metric_meets_its_condition(tmp_path: Path) -> None:
    """oper down fires only for interfaces whose admin status (same ifIndex) is up."""
    body = '  - {name: ifdown, metric: if_oper_status, require: {metric: if_admin_status, join_on: [ifIndex], condition: "== 1"}, threshold: "== 2"}\n'
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    alerts = engine.observe(
        [
            sample("if_admin_status", 1, 0, ifIndex="1"),
            sample("if_admin_status", 2, 0, ifIndex="2"),
            sample("if_oper_status", 2, 0, ifIndex="1"),
            sample("if_oper_status", 2, 0, ifIndex="2"),
        ]
    )
    assert [a.labels["ifIndex"] for a in alerts] == ["1"]


async def test_state_survives_export_and_restore(tmp_path: Path) -> None:
    """Pending-since and firing state go through JSON and carry on in a new engine."""
    rules = ruleset(tmp_path, DISK)
    clock = FakeClock(T0)
    first = RuleEngine(rules, clock=clock)
    first.observe([sample("disk_used_percent", 90, 0, mount="/")])
    first.observe(
        [
            sample("disk_used_percent", 97, 60, mount="/"),
            sample("disk_used_percent", 90, 0, mount="/data"),
        ]
    )
    first.observe([sample("disk_used_percent", 97, 120, mount="/data")])
    saved = json.loads(json.dumps(first.export_state()))
    second = RuleEngine(rules, clock=clock)
    second.restore_state(saved)
    assert second.export_state() == first.export_state()
    (alert,) = second.observe([sample("disk_used_percent", 97, 180, mount="/")])
    assert (alert.labels["severity"], alert.starts_at) == ("critical", T0 + 60)
    (resolved,) = second.observe([sample("disk_used_percent", 10, 180, mount="/data")])
    assert resolved.status is AlertStatus.RESOLVED and resolved.starts_at == T0


def test_saving_writes_only_the_series_that_changed_and_adds_up_to_the_whole_state(
    tmp_path: Path,
) -> None:
    """Each save exports the series that are new or whose level, timers or alerts a sample or
    a timer moved since the last one; a series whose value alone moved waits for the next
    steady save. Saved over the earlier saves they are the whole state, and a failed save's
    series go in the next."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    stored: dict[str, object] = {}

    def save() -> set[str]:
        states, _ = engine.export_changes()
        stored.update(states)
        return {json.loads(k)[1][-1][1] for k in states if k != "@engine"}

    engine.observe(
        [
            sample("disk_used_percent", 90, 0, mount="/"),
            sample("disk_used_percent", 10, 0, mount="/data"),
        ]
    )
    assert save() == {"/", "/data"}
    engine.observe([sample("disk_used_percent", 97, 60, mount="/")])
    assert save() == {"/"}
    assert save() == set()
    engine.observe([sample("disk_used_percent", 11, 120, mount="/data")])
    assert save() == set()  # only its value moved
    engine.save_steady()
    _, failed = engine.export_changes()
    engine.not_saved(failed)  # the store refused the write
    assert save() == {"/data"}
    assert stored == json.loads(json.dumps(engine.export_state()))


def test_a_steady_save_saves_every_series_that_only_moved_once_after_those_due(
    tmp_path: Path,
) -> None:
    """A series whose window or prediction alone moved (by a sample, or by the clock for a
    forecast) waits for the steady save, which saves each such series once, after the series
    already due; one handed to another node goes with its moves, and is not saved after."""
    body = DISK + (
        "  - {name: rate, metric: octets_total, over: {window: 5m, fn: rate, counter_bits: 64},"
        ' warn: "> 1e12"}\n'
        "  - {name: f, metric: inode_used_percent, forecast: {window: 6h, horizon: 7d},"
        ' threshold: ">= 100"}\n'
    )
    engine = RuleEngine(ruleset(tmp_path, body), clock=FakeClock(T0))
    stored: dict[str, object] = {}

    def save(limit: int | None = None) -> list[str]:
        states, _ = engine.export_changes(limit)
        stored.update(states)
        return [json.loads(k)[0] for k in states if k != "@engine"]

    for t in (0, 60, 120):
        engine.observe(
            [
                sample("octets_total", 1e6 * t, t, ifIndex="1"),
                sample("disk_used_percent", 50, t, mount="/"),
                sample("inode_used_percent", 50, t, mount="/"),
            ]
        )
    assert sorted(save()) == ["disk", "f", "rate"]  # new
    engine.observe([sample("octets_total", 1e6 * 180, 180, ifIndex="1")])
    engine.evaluate()
    assert save() == []  # only moved
    engine.observe([sample("disk_used_percent", 85, 240, mount="/")])  # warning: due now
    engine.save_steady()
    assert save(1) == ["disk"]
    assert sorted(save()) == ["f", "rate"]
    engine.save_steady()
    assert save() == []
    assert stored == json.loads(json.dumps(engine.export_state()))
    engine.observe([sample("octets_total", 1e6 * 300, 300, ifIndex="1")])
    states, _ = engine.release([("web1", "local")])
    assert [json.loads(k)[0] for k in states] == ["rate"]
    engine.save_steady()
    assert save() == []


def test_restore_drops_state_of_changed_rules_and_skips_garbage(tmp_path: Path) -> None:
    """Saved state of a rule whose definition changed, or malformed entries, is not loaded."""
    engine = RuleEngine(ruleset(tmp_path, DISK), clock=FakeClock(T0))
    engine.observe([sample("disk_used_percent", 90, 0, mount="/")])
    saved = engine.export_state()
    changed = RuleEngine(ruleset(tmp_path, DISK.replace("2m", "3m")), clock=FakeClock(T0))
    changed.restore_state({**saved, "not json": {}, '["disk", 1]': {"digest": "x"}})
    assert [k for k in changed.export_state() if k != "@engine"] == []


def test_replace_rules_keeps_unchanged_state_and_resolves_what_changed(tmp_path: Path) -> None:
    """On reload, unchanged rules keep pending/firing state; a changed rule's alerts resolve."""
    other = '  - {name: mem, metric: memory_used_percent, warn: "> 80"}\n'
    engine = RuleEngine(ruleset(tmp_path, DISK + other), clock=FakeClock(T0))
    engine.observe([sample("disk_used_percent", 90, 0, mount="/")])
    assert brief(engine.observe([sample("memory_used_percent", 90, 0)])) == [
        ("mem", "warning", "firing")
    ]
    changed = other.replace("80", "85")
    resolved = engine.replace_rules(ruleset(tmp_path, DISK + changed, "s.yaml"))
    assert brief(resolved) == [("mem", "warning", "resolved")]
    (alert,) = engine.observe([sample("disk_used_percent", 90, 120, mount="/")])
    assert alert.starts_at == T0  # disk kept its pending-since across the reload
    assert brief(engine.observe([sample("memory_used_percent", 90, 60)])) == [
        ("mem", "warning", "firing")
    ]


def test_rules_are_indexed_by_metric(tmp_path: Path) -> None:
    """A sample is checked only against the rules of its own metric."""
    body = "".join(f'  - {{name: r{i}, metric: load{i}, warn: "> 1"}}\n' for i in (1, 5, 15))
    engine = RuleEngine(ruleset(tmp_path, body + DISK), clock=FakeClock(T0))
    engine.observe([sample("disk_used_percent", 10, 0)] * 1)
    assert engine.stats.evaluations == 1
    assert engine.known_metrics() == {"load1", "load5", "load15", "disk_used_percent"}


def test_a_window_saved_as_lists_by_an_older_version_is_restored(tmp_path: Path) -> None:
    """Windows were saved as [t, value, increase] lists before they were saved flat: a state
    saved that way comes back with the same points."""
    body = '  - {name: r, metric: octets_total, over: {window: 5m, fn: rate}, warn: "> 1e12"}\n'
    rules = ruleset(tmp_path, body)
    engine = RuleEngine(rules, clock=FakeClock(T0))
    for i in range(3):
        engine.observe([sample("octets_total", 100.0 * i, 10.0 * i)])
    saved = engine.export_state()
    (key,) = [k for k in saved if k != "@engine"]
    flat = saved[key]["window"]
    old = {
        **saved,
        key: {**saved[key], "window": [flat[i : i + 3] for i in range(0, len(flat), 3)]},
    }
    restored = RuleEngine(rules, clock=FakeClock(T0))
    restored.restore_state(old)
    assert restored.export_state()[key]["window"] == flat
