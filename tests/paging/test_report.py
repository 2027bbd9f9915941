"""A run that differs from its scenario is shown as a unified diff of one-line notifications
and incidents (watchd.paging.report)."""

from __future__ import annotations

from pathlib import Path

from watchd.paging.fakes import Sent
from watchd.paging.report import judge, outcome_json
from watchd.paging.runner import IncidentState, Outcome
from watchd.paging.scenario import load_scenario

SCENARIO = """\
config:
  receivers: [{name: oncall}, {name: boss}]
steps:
  - advance: 30m
expect:
  notifications:
    - 1m30s oncall incident 1 opened
    - 11m30s boss incident 1 escalated severity=critical
    - 15m oncall incident 1 acknowledged
  incidents:
    - incident 1 acknowledged critical acknowledged_by=alice
"""


def _sent(at: float, receiver: str, event: str, severity: str = "critical") -> Sent:
    return Sent(at, receiver, 1, 0, event, severity, "open")


def _outcome(*sent: Sent, by: str = "alice") -> Outcome:
    incident = IncidentState(1, "db1", "acknowledged", "critical", 1, by, None)
    return Outcome(tuple(sent), (incident,), (), 0.5)


def test_a_matching_run_passes_with_one_summary_line(tmp_path: Path) -> None:
    """Equal notifications (in any order within one instant) and incidents: PASS."""
    path = tmp_path / "ack.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    verdict = judge(
        scenario,
        _outcome(
            _sent(900, "oncall", "acknowledged"),
            _sent(90, "oncall", "opened"),
            _sent(690, "boss", "escalated"),
        ),
    )
    assert verdict.ok
    assert verdict.text() == (f"PASS {path}: ack (3 notifications, 1 incidents, 30m in 0.50 s)")


def test_a_differing_run_shows_expected_and_actual_lines_as_a_unified_diff(
    tmp_path: Path,
) -> None:
    """A missing escalation, an extra notification and a wrong person are each one line."""
    path = tmp_path / "ack.yaml"
    path.write_text(SCENARIO)
    verdict = judge(
        load_scenario(path),
        _outcome(
            _sent(90, "oncall", "opened"),
            _sent(900, "oncall", "acknowledged"),
            _sent(1200, "oncall", "repeated"),
            by="bob",
        ),
    )
    assert not verdict.ok
    assert verdict.text().splitlines()[1:] == [
        "  notifications differ:",
        "    --- expected",
        "    +++ actual",
        "    @@ -1,3 +1,3 @@",
        "     1m30s oncall incident 1 opened",
        "    -11m30s boss incident 1 escalated severity=critical",
        "     15m oncall incident 1 acknowledged",
        "    +20m oncall incident 1 repeated",
        "  incidents differ:",
        "    --- expected",
        "    +++ actual",
        "    @@ -1 +1 @@",
        "    -incident 1 acknowledged critical acknowledged_by=alice",
        "    +incident 1 acknowledged critical acknowledged_by=bob",
    ]


def test_json_gives_every_field_and_lines_ready_for_expect(tmp_path: Path) -> None:
    """--json carries all fields plus the one-line forms a new scenario can paste."""
    path = tmp_path / "ack.yaml"
    path.write_text(SCENARIO)
    data = outcome_json(load_scenario(path), _outcome(_sent(90, "oncall", "opened")))
    assert data["notifications"][0] == {
        "at": "1m30s",
        "seconds": 90,
        "receiver": "oncall",
        "incident": 1,
        "event": "opened",
        "to": None,
        "severity": "critical",
        "state": "open",
        "calls": None,
    }
    assert data["expect"] == {
        "notifications": ["1m30s oncall incident 1 opened"],
        "incidents": ["incident 1 acknowledged critical"],
    }


def test_calls_are_compared_when_the_expected_line_gives_them(tmp_path: Path) -> None:
    """A ticket receiver's calls show in the diff when a line asks for them, and only then."""
    path = tmp_path / "ticket.yaml"
    path.write_text(
        "config:\n  receivers: [{name: oncall}]\nsteps:\n  - advance: 30m\nexpect:\n"
        "  notifications:\n"
        "    - 1m oncall incident 1 opened\n"
        "    - 20m oncall incident 1 resolved calls=resolve+close\n"
    )
    sent = (
        Sent(60.0, "oncall", 1, 0, "opened", "critical", "open", calls="open"),
        Sent(1200.0, "oncall", 1, 1, "resolved", "critical", "resolved", calls="resolve"),
    )
    verdict = judge(load_scenario(path), _outcome(*sent))
    assert "  -20m oncall incident 1 resolved calls=resolve+close" in verdict.differences
    assert "  +20m oncall incident 1 resolved calls=resolve" in verdict.differences
    assert "   1m oncall incident 1 opened" in verdict.differences
