"""Tests for watchd.failures: one line when a source starts failing, one when it recovers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from watchd.failures import FailureLog
from watchd.logging import configure_logging, get_logger

log = get_logger("watchd.test")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers = list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)


class Ticks:
    """A clock read by the helper, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def poll(path: Path, failures: FailureLog, clock: Ticks, times: int) -> None:
    """Read `path` `times` times, a second apart, the way a retrying loop does."""
    for _ in range(times):
        try:
            path.read_text()
        except OSError as exc:
            failures.failed(error=exc.strerror)
        else:
            failures.recovered(source=path.name)
        clock.now += 1.0


def test_a_failing_source_logs_once_then_stays_quiet_then_logs_its_recovery(
    tmp_path: Path,
) -> None:
    """Three failed reads log one error, two good reads after them one info line with the outage."""
    clock = Ticks()
    failures = FailureLog(
        log,
        failing="source_failing",
        recovered="source_recovered",
        outage_field="outage_seconds",
        clock=clock,
    )
    source = tmp_path / "source.txt"
    with capture_logs() as logs:
        poll(source, failures, clock, 3)
        assert logs == [
            {"event": "source_failing", "log_level": "error", "error": "No such file or directory"}
        ]
        source.write_text("ok")
        poll(source, failures, clock, 2)
    assert logs[1:] == [
        {
            "event": "source_recovered",
            "log_level": "info",
            "source": "source.txt",
            "outage_seconds": 3.0,
        }
    ]


def test_successes_without_a_failure_log_nothing_and_a_new_streak_logs_again() -> None:
    """Recovery is logged only after a failure, and each new streak is logged once more."""
    failures = FailureLog(log, failing="down", recovered="up")
    with capture_logs() as logs:
        failures.recovered()
        for _ in range(2):
            failures.failed()
            failures.failed()
            failures.recovered()
            failures.recovered()
    assert [e["event"] for e in logs] == ["down", "up", "down", "up"]
    assert all("outage_seconds" not in e for e in logs)


def test_each_key_has_its_own_streak() -> None:
    """Keyed sources (jobs, receivers) start and end their streaks independently."""
    failures = FailureLog(log, failing="job_failed", recovered="job_recovered")
    with capture_logs() as logs:
        failures.failed("a", job="a")
        failures.failed("b", job="b")
        failures.failed("a", job="a")
        failures.recovered("a", job="a")
        failures.failed("b", job="b")
        failures.recovered("c", job="c")
    assert [(e["event"], e["job"]) for e in logs] == [
        ("job_failed", "a"),
        ("job_failed", "b"),
        ("job_recovered", "a"),
    ]


def test_the_lines_carry_the_callers_logger_name_and_the_chosen_level() -> None:
    """The helper logs through the caller's logger, at the level the caller picked."""
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    failures = FailureLog(
        get_logger("watchd.store"),
        failing="sample writes failing",
        recovered="sample writes recovered",
        level=logging.WARNING,
        outage_field="outage_seconds",
        ndigits=3,
        clock=iter([10.0, 12.3456]).__next__,
    )
    failures.failed(reason="disk full")
    failures.recovered(dropped_total=0)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["logger"], d["level"], d["event"]) for d in lines] == [
        ("watchd.store", "warning", "sample writes failing"),
        ("watchd.store", "info", "sample writes recovered"),
    ]
    assert lines[1]["outage_seconds"] == 2.346
