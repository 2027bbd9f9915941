"""The check state machine: SOFT/HARD, recovery attempts, level changes, flapping, persistence."""

from __future__ import annotations

from collections.abc import Iterable

from watchd.checks import (
    AlertChange,
    CheckPolicy,
    CheckState,
    StateType,
    TransitionKind,
    advance,
    alert_changes,
)
from watchd.flap import FlapPolicy
from watchd.model import CheckResult, Status

OK, WARN, CRIT = Status.OK, Status.WARNING, Status.CRITICAL


def run(
    statuses: Iterable[Status], policy: CheckPolicy = CheckPolicy(), start: CheckState | None = None
) -> tuple[CheckState, list[tuple[float, TransitionKind, Status]]]:
    state = start or CheckState()
    seen = []
    for t, status in enumerate(statuses):
        state, transitions = advance(state, CheckResult(status, f"r{t}"), float(t * 10), policy)
        seen += [(tr.time, tr.kind, tr.new) for tr in transitions]
    return state, seen


def test_failures_stay_soft_until_max_attempts_then_become_hard() -> None:
    """Two failures of three allowed are SOFT and raise nothing; the third is a HARD problem."""
    state, seen = run([OK, CRIT, CRIT], CheckPolicy(max_attempts=3))
    assert state.state_type is StateType.SOFT
    assert state.hard_status is OK
    assert state.retrying
    assert seen == []
    state, seen = run([OK, CRIT, CRIT, CRIT], CheckPolicy(max_attempts=3))
    assert state.state_type is StateType.HARD
    assert state.hard_status is CRIT
    assert not state.retrying
    assert seen == [(30.0, TransitionKind.PROBLEM, CRIT)]


def test_one_ok_between_failures_resets_the_attempt_count() -> None:
    """A passing result in the middle of SOFT failures starts the count again."""
    state, seen = run([CRIT, CRIT, OK, CRIT, CRIT], CheckPolicy(max_attempts=3))
    assert state.hard_status is OK
    assert state.attempt == 2
    assert seen == []


def test_max_attempts_one_makes_the_first_failure_hard() -> None:
    """With max_attempts 1 there is no SOFT phase."""
    _, seen = run([CRIT], CheckPolicy(max_attempts=1))
    assert seen == [(0.0, TransitionKind.PROBLEM, CRIT)]


def test_recovery_needs_recover_attempts_consecutive_oks_and_reports_outage_length() -> None:
    """A HARD problem recovers after recover_attempts OKs in a row; the transition says how long it lasted."""
    policy = CheckPolicy(max_attempts=1, recover_attempts=2)
    state, _seen = run([CRIT, CRIT, OK], policy)
    assert state.hard_status is CRIT
    assert state.retrying  # a pending recovery is re-checked at the retry interval
    state, transitions = advance(state, CheckResult(OK, "fine"), 30.0, policy)
    assert state.hard_status is OK
    assert [(t.kind, t.duration) for t in transitions] == [(TransitionKind.RECOVERY, 30.0)]


def test_failure_during_recovery_keeps_the_problem_and_resets_the_ok_streak() -> None:
    """OK, CRITICAL, OK is not a recovery when two OKs in a row are required."""
    policy = CheckPolicy(max_attempts=1, recover_attempts=2)
    state, seen = run([CRIT, OK, CRIT, OK], policy)
    assert state.hard_status is CRIT
    assert [k for _, k, _ in seen] == [TransitionKind.PROBLEM]


def test_a_hard_problem_changing_level_is_a_change_that_keeps_the_outage_start() -> None:
    """WARNING then CRITICAL changes HARD level at once, and the outage is measured from the first failure."""
    policy = CheckPolicy(max_attempts=1)
    state, seen = run([WARN, CRIT, OK], policy)
    assert [(k, s) for _, k, s in seen] == [
        (TransitionKind.PROBLEM, WARN),
        (TransitionKind.CHANGE, CRIT),
        (TransitionKind.RECOVERY, OK),
    ]
    state, transitions = advance(CheckState(), CheckResult(WARN, ""), 0.0, policy)
    state, _ = advance(state, CheckResult(CRIT, ""), 10.0, policy)
    state, transitions = advance(state, CheckResult(OK, ""), 25.0, policy)
    assert transitions[0].duration == 25.0


def test_alternating_results_start_flapping_once_and_stop_when_stable() -> None:
    """A check flipping every run starts flapping (one event) and stops after it settles."""
    policy = CheckPolicy(max_attempts=1, flap=FlapPolicy(low=5, high=20))
    state, seen = run([OK, CRIT] * 6 + [OK] * 25, policy)
    kinds = [k for _, k, _ in seen]
    assert kinds.count(TransitionKind.FLAPPING_START) == 1
    assert kinds.count(TransitionKind.FLAPPING_STOP) == 1
    assert kinds.index(TransitionKind.FLAPPING_START) < kinds.index(TransitionKind.FLAPPING_STOP)
    assert not state.flap.flapping


def alerts_of(
    statuses: Iterable[Status], policy: CheckPolicy
) -> tuple[CheckState, dict[int, list[AlertChange]]]:
    """Run results through `advance` and `alert_changes`; the alerts sent, by result index."""
    state, sent = CheckState(), {}
    for t, status in enumerate(statuses):
        state, transitions = advance(state, CheckResult(status, f"r{t}"), float(t * 3), policy)
        state, changes = alert_changes(state, transitions)
        if changes:
            sent[t] = changes
    return state, sent


FLAPPY = CheckPolicy(max_attempts=1, flap=FlapPolicy(low=5, high=20))


def test_a_flapping_check_marks_its_alerts_and_sends_the_true_state_unmarked_at_the_stop() -> None:
    """Alternating results send every HARD change; from flapping on they carry the marker; when
    flapping stops the critical alert is sent once more, firing and unmarked."""
    state, sent = alerts_of([OK, CRIT] * 10 + [CRIT] * 25, FLAPPY)
    marks = [(c.status, c.firing, c.flapping) for t in sorted(sent) for c in sent[t]]
    assert marks[:4] == [(CRIT, True, False), (CRIT, False, False)] * 2
    start = next(i for i, m in enumerate(marks) if m[2])
    assert all(m[2] for m in marks[start:-1])
    assert marks[-1] == (CRIT, True, False)
    assert state.flap_marked == () and not state.flap.flapping


def test_a_flapping_check_that_ends_ok_sends_its_resolution_unmarked_at_the_stop() -> None:
    """A recovery is never swallowed: ending OK, the critical alert is sent resolved, unmarked."""
    state, sent = alerts_of([OK, CRIT] * 10 + [OK] * 25, FLAPPY)
    last = sent[max(sent)]
    assert last == [AlertChange(CRIT, False, False)]
    assert state.flap_marked == ()


def test_flapping_between_warning_and_critical_unmarks_both_alerts() -> None:
    """Both severities' alerts are marked while flapping; at the stop each is sent unmarked as
    it stands: critical firing, warning resolved."""
    _, sent = alerts_of([WARN, CRIT] * 10 + [CRIT] * 25, FLAPPY)
    assert sorted((c.status, c.firing, c.flapping) for c in sent[max(sent)]) == [
        (WARN, False, False),
        (CRIT, True, False),
    ]
    mid, _ = alerts_of([WARN, CRIT] * 10, FLAPPY)
    assert sorted(mid.flap_marked) == [WARN, CRIT]
    assert CheckState.from_json(mid.to_json()) == mid


def test_soft_flapping_without_a_hard_problem_sends_nothing() -> None:
    """A check flapping below max_attempts never had an alert: flapping alone sends none."""
    state, sent = alerts_of([OK, CRIT] * 10 + [OK] * 25, CheckPolicy(max_attempts=3))
    assert sent == {}
    assert state.flap_marked == ()


def test_state_survives_a_json_round_trip() -> None:
    """What is persisted restores the same state, flap history included."""
    state, _ = run([OK, CRIT, CRIT, WARN, OK, CRIT], CheckPolicy(max_attempts=2))
    assert CheckState.from_json(state.to_json()) == state
