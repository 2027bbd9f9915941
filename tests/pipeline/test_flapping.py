"""Flapping pages like Nagios: a check or rule that flaps pages once when flapping starts and once
when it stops, plus its true state at the stop if that differs from the last one notified; its
incident neither escalates nor breaches an SLA while held, nor for an outage that is over."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.pipeline.conftest import Harness, alert
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.flap import FlapPolicy
from watchd.metrics import Metrics
from watchd.model import FLAPPING, CheckResult, Sample, Status
from watchd.pipeline.timers import IncidentTimers
from watchd.results import ResultProcessor
from watchd.rules import RuleEngine, load_rules
from watchd.scheduler import RunInfo

OK, CRIT = Status.OK, Status.CRITICAL
ESCALATION = [{"name": "all", "steps": [{"after": "1m", "receivers": ["boss"]}]}]
ESCALATING: dict[str, Any] = {
    "receivers": [{"name": "log"}, {"name": "pager"}, {"name": "boss"}],
    "incidents": {"sla": {"critical": {"resolve": "2m"}}, "escalation": ESCALATION},
}


class Link:
    """A link check (max_attempts 1) whose results go through the real ResultProcessor (state
    machine, flap detection, alerts) into the pipeline, with the incident timers ticking as the
    fake clock passes."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        config = parse_config(
            {
                "items": [
                    {
                        "name": "db1",
                        "checks": [{"name": "link", "kind": "tcp", "port": 22, "max_attempts": 1}],
                    }
                ]
            },
            Path("test.toml"),
        )
        (self.check,) = config.checks()
        self.processor = ResultProcessor(
            clock=harness.clock, store=harness.store, metrics=Metrics(), sink=harness.pipeline
        )
        self.timers = IncidentTimers(harness.pipeline, clock=harness.clock)

    async def results(self, statuses: list[Status], every: float = 3.0) -> None:
        for status in statuses:
            run = RunInfo(started=self.harness.clock.now(), duration=0.01, lag=0.0, failed=False)
            await self.processor.handle(self.check, CheckResult(status, status.name), run)
            await self.harness.clock.advance(every)
            await self.timers.tick()


# Alternating every run, flapping is detected at the fifth change: these four page before it.
BEFORE_DETECTION = ["opened", "resolved", "reopened", "resolved"]


async def kinds(harness: Harness, receiver: str = "log") -> list[str]:
    return [kind for _, kind in await harness.notifications(receiver)]


async def test_a_link_flapping_for_minutes_then_down_pages_start_stop_and_the_outage(
    harness: Harness,
) -> None:
    """OK/CRITICAL every 3 s for 3 minutes, then CRITICAL: the first changes page until flapping
    is detected, then one "flapping started", nothing for 3 minutes, one "flapping stopped" and,
    as receivers were last told "resolved", the reopening."""
    link = Link(harness)
    await link.results([OK, CRIT] * 30)
    assert await kinds(harness) == [*BEFORE_DETECTION, "flapping_started"]
    await link.results([CRIT] * 40)
    assert await kinds(harness) == [
        *BEFORE_DETECTION,
        "flapping_started",
        "flapping_stopped",
        "reopened",
    ]
    (incident,) = await harness.incidents()
    assert incident["state"] == "open" and incident["audible"]
    timeline = await harness.timeline(incident["id"])
    assert (timeline.count("flapping_started"), timeline.count("flapping_stopped")) == (1, 1)


async def test_a_link_flapping_while_paged_that_comes_back_up_pages_its_recovery_at_the_stop(
    harness: Harness,
) -> None:
    """Flapping detected while receivers were told "firing", then stable OK: no escalation and
    no SLA breach while it flaps nor after, and the recovery is notified when flapping stops."""
    harness.configure(**ESCALATING)
    link = Link(harness)
    await link.results([CRIT, OK] * 30)
    assert await kinds(harness) == [*BEFORE_DETECTION, "reopened", "flapping_started"]
    await link.results([OK] * 40)
    assert (await kinds(harness))[-2:] == ["flapping_stopped", "resolved"]
    await link.results([OK] * 60)
    (incident,) = await harness.incidents()
    assert incident["state"] == "resolved"
    timeline = await harness.timeline(incident["id"])
    assert "escalated" not in timeline and "sla_breach" not in timeline


async def test_a_link_flapping_while_paged_that_stays_down_is_not_paged_again(
    harness: Harness,
) -> None:
    """Ending CRITICAL after receivers were last told "firing": "flapping stopped" and no new
    page; escalation resumes from the stop, not from before the flapping."""
    harness.configure(**{**ESCALATING, "incidents": {"escalation": ESCALATION}})
    link = Link(harness)
    await link.results([CRIT, OK] * 30)
    await link.results([CRIT] * 20)
    notified = await kinds(harness)
    assert notified[-2:] == ["flapping_started", "flapping_stopped"]
    assert notified.count("reopened") == 2
    (incident,) = await harness.incidents()
    assert incident["state"] == "open" and incident["audible"]
    assert "escalated" not in await harness.timeline(incident["id"])
    await link.results([CRIT] * 21)  # 63 s after the stop: the 1-minute step is due
    assert (await kinds(harness, "boss"))[-1] == "escalated"
    assert (await kinds(harness))[-2:] == ["flapping_started", "flapping_stopped"]


RULE = '  - {name: LinkErrors, metric: link_errors, crit: "> 80", labels: {check: link}}\n'


async def test_a_flapping_rule_whose_input_recovers_stops_escalating_at_once(
    harness: Harness, tmp_path: Path
) -> None:
    """A flapping rule never holds its stale critical alert: once its input is OK the incident
    resolves (no escalation, no resolve-SLA breach for an outage that is over), and the
    resolution is notified when flapping stops."""
    harness.configure(**ESCALATING)
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n" + RULE)
    engine = RuleEngine(load_rules([path]), clock=FakeClock(), flap=FlapPolicy(low=5, high=20))
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)

    async def samples(values: list[float]) -> None:
        for value in values:
            labels: dict[str, Any] = {"item": "db1"}
            now = harness.clock.now()
            await harness.send(*engine.observe([Sample("link_errors", value, labels, now)]))
            await harness.clock.advance(10)
            await timers.tick()

    await samples([90, 10] * 4 + [90, 10])
    (incident,) = await harness.incidents()
    assert incident["state"] == "resolved"
    await samples([10] * 30)  # 5 minutes: past the 1m escalation and the 2m resolve SLA
    timeline = await harness.timeline(incident["id"])
    assert "escalated" not in timeline and "sla_breach" not in timeline
    notified = await kinds(harness)
    assert notified[-2:] == ["flapping_stopped", "resolved"]
    assert notified.count("flapping_started") == 1
    assert notified.index("flapping_started") == len(notified) - 3


async def test_a_flapping_annotation_from_outside_holds_nothing(harness: Harness) -> None:
    """An outside sender that marks its alert flapping cannot hold its incident: it pages as
    usual (only watchd's own checks and rules, which always send the stop, are believed)."""
    marked = {"summary": "queue backlog", FLAPPING: "true"}
    for firing in (True, False):
        sent = alert("db1", "QueueBacklog", firing=firing, source="prometheus")
        await harness.send(replace(sent, annotations=marked))
    assert await kinds(harness) == ["opened", "resolved"]
