"""Timers with a fake clock: escalation, SLA breaches, stale external alerts, problems, changes,
and the log receiver's delivery of the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.pipeline.conftest import Harness, alert
from tests.store.conftest import eventually
from watchd.incidents.problems import ProblemClosed, ProblemNotFound
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.timers import IncidentTimers
from watchd.report.metrics import incident_figures, load_incidents
from watchd.store.incident_tables import incident_events


def service(harness: Harness) -> IncidentService:
    return IncidentService(
        harness.store.engine, clock=harness.clock, settings=lambda: harness.settings
    )


async def test_escalation_steps_fire_in_order_until_acknowledged(harness: Harness) -> None:
    """Step 1 after 5m goes to its receivers, step 2 never comes once someone acknowledged."""
    harness.configure(
        receivers=[{"name": "log"}, {"name": "pager"}, {"name": "boss"}],
        incidents={
            "escalation": [
                {
                    "name": "db",
                    "matchers": ['item="db1"'],
                    "steps": [
                        {"after": "5m", "receivers": ["pager"]},
                        {"after": "30m", "receivers": ["boss"]},
                    ],
                }
            ]
        },
    )
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    await harness.send(alert("db1"))
    await harness.clock.advance(301)
    await timers.tick()
    (incident,) = await harness.incidents()
    assert (incident["id"], "escalated") in await harness.notifications("pager")
    await service(harness).acknowledge(incident["id"], "alice")
    await harness.clock.advance(3600)
    await timers.tick()
    assert (incident["id"], "escalated") not in await harness.notifications("boss")


def configure_policies(harness: Harness, warning_steps: list[dict[str, object]]) -> None:
    """A critical policy paging "pager" at once and "boss" after 10m, and a warning policy;
    the route tells only "log" of the incident's own events."""
    harness.configure(
        receivers=[{"name": n} for n in ("log", "pager", "boss", "chat", "team")],
        route={"receivers": ["log"]},
        incidents={
            "escalation": [
                {
                    "name": "critical",
                    "matchers": ['severity="critical"'],
                    "steps": [
                        {"after": 0, "receivers": ["pager"]},
                        {"after": "10m", "receivers": ["boss"]},
                    ],
                },
                {"name": "warning", "matchers": ['severity="warning"'], "steps": warning_steps},
            ]
        },
    )


async def test_warning_then_critical_escalates_by_the_critical_policy_from_the_rise(
    harness: Harness,
) -> None:
    """A check going WARNING -> CRITICAL 20m in pages the critical policy's steps counted from
    the rise (pager at once, boss 10m later), and the warning policy's steps stop."""
    configure_policies(harness, [{"after": "30m", "receivers": ["chat"]}])
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    await harness.send(alert("db1", severity="warning"))
    await harness.clock.advance(1200)
    await timers.tick()
    await harness.send(alert("db1", severity="warning", firing=False), alert("db1"))
    await timers.tick()
    (incident,) = await harness.incidents()
    assert await harness.notifications("pager") == [(incident["id"], "escalated")]
    await harness.clock.advance(599)
    await timers.tick()
    assert await harness.notifications("boss") == []
    await harness.clock.advance(1)
    await timers.tick()
    assert await harness.notifications("boss") == [(incident["id"], "escalated")]
    await harness.clock.advance(3600)
    await timers.tick()
    assert await harness.notifications("chat") == []
    changed = await harness.events(incident["id"], "escalation_policy_changed")
    assert changed == [
        {"policy": "critical", "previous": "warning", "severity": "critical"},
    ]


async def test_a_fall_to_warning_pages_nobody_again_and_stops_the_critical_steps(
    harness: Harness,
) -> None:
    """Critical falling to warning after 1m: the warning policy's immediate step is not sent,
    the critical policy's boss step never comes, the warning policy's later step counts from
    the fall."""
    configure_policies(
        harness,
        [{"after": 0, "receivers": ["chat"]}, {"after": "30m", "receivers": ["team"]}],
    )
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    await harness.send(alert("db1"))
    await timers.tick()
    await harness.clock.advance(60)
    await harness.send(alert("db1", firing=False), alert("db1", severity="warning"))
    await harness.clock.advance(1799)
    await timers.tick()
    (incident,) = await harness.incidents()
    assert await harness.notifications("pager") == [(incident["id"], "escalated")]
    assert await harness.notifications("boss") == []
    assert await harness.notifications("chat") == []
    assert await harness.notifications("team") == []
    await harness.clock.advance(1)
    await timers.tick()
    assert await harness.notifications("team") == [(incident["id"], "escalated")]
    assert await harness.events(incident["id"], "escalation_policy_changed") == [
        {"policy": "warning", "previous": "critical", "severity": "warning", "skipped_steps": 1}
    ]


async def test_sla_breach_is_a_timeline_event_and_a_notification(harness: Harness) -> None:
    """Not acknowledged within the critical SLA (10m): one sla_breach event and notification."""
    harness.configure(incidents={"sla": {"critical": {"ack": "10m", "resolve": "4h"}}})
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    await harness.send(alert("db1"))
    await harness.clock.advance(601)
    await timers.tick()
    await timers.tick()
    (incident,) = await harness.incidents()
    assert (await harness.timeline(incident["id"])).count("sla_breach") == 1
    assert [k for _, k in await harness.notifications()] == ["opened", "sla_breach"]


async def test_a_tick_reads_only_the_incidents_with_a_timer_due(harness: Harness) -> None:
    """With 30 incidents open and no SLA due, a timer tick sends as many statements as with
    one (after a storm, every tick loaded each open incident); once due, all 30 breach."""
    harness.configure(incidents={"sla": {"critical": {"ack": "10m"}}})
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def tick_statements() -> int:
        statements.clear()
        event.listen(harness.store.engine.sync_engine, "before_cursor_execute", seen)
        try:
            await timers.tick()
        finally:
            event.remove(harness.store.engine.sync_engine, "before_cursor_execute", seen)
        return len(statements)

    await harness.send(alert("db0"))
    await harness.clock.advance(60)
    one = await tick_statements()
    await harness.send(*[alert(f"db{n}") for n in range(1, 30)])
    await harness.clock.advance(60)
    assert await tick_statements() == one
    await harness.clock.advance(600)
    await timers.tick()
    breached = [kind for _, kind in await harness.notifications() if kind == "sla_breach"]
    assert len(breached) == 30


async def muted_for_an_hour(harness: Harness, sla: dict[str, object]) -> IncidentTimers:
    """db1 fails at t0 (paged), a change mutes it from t+10m to t+70m, seen by the timers at
    t+600 s and t+4201 s: 3601 s muted. The clock is left at t+4201 s."""
    harness.configure(incidents={"sla": {"critical": sla}})
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    start = harness.clock.now()
    await harness.send(alert("db1"))
    await service(harness).add_change(
        item="db1",
        summary="disk swap",
        starts_at=start + 600,
        ends_at=start + 4200,
        created_by="ops",
    )
    await harness.clock.advance(600)
    await timers.tick()
    await harness.clock.advance(3601)
    await timers.tick()
    return timers


async def breaches(harness: Harness) -> list[tuple[str, float]]:
    """(target, time) of every SLA breach in the timeline of the one incident."""
    (incident,) = await harness.incidents()
    rows = await harness.rows(
        select(incident_events.c.detail, incident_events.c.time)
        .where(
            incident_events.c.incident_id == incident["id"],
            incident_events.c.kind == "sla_breach",
        )
        .order_by(incident_events.c.seq)
    )
    return [(r["detail"]["target"], r["time"] - incident["opened_at"]) for r in rows]


async def test_sla_clocks_pause_while_a_change_mutes_the_incident(harness: Harness) -> None:
    """Acknowledge within 30m and resolve within 1h, with an hour muted by a change: the breaches
    come 30m and 1h of un-muted time after the opening, and MTTA/MTTR still count wall time."""
    timers = await muted_for_an_hour(harness, {"ack": "30m", "resolve": "1h"})
    assert await breaches(harness) == []
    await harness.clock.advance(1199)  # t+5400: 1799 s un-muted
    await timers.tick()
    assert await breaches(harness) == []
    await harness.clock.advance(1)
    await timers.tick()
    assert await breaches(harness) == [("acknowledge", 5401.0)]
    await harness.clock.advance(1799)
    await timers.tick()
    assert await breaches(harness) == [("acknowledge", 5401.0)]
    await harness.clock.advance(1)
    await timers.tick()
    assert await breaches(harness) == [("acknowledge", 5401.0), ("resolve", 7201.0)]
    (incident,) = await harness.incidents()
    assert await harness.events(incident["id"], "sla_breach") == [
        {"target": "acknowledge", "within": 1800.0, "severity": "critical", "paused": 3601.0},
        {"target": "resolve", "within": 3600.0, "severity": "critical", "paused": 3601.0},
    ]
    await service(harness).acknowledge(incident["id"], "alice")
    await harness.clock.advance(100)
    await harness.send(alert("db1", firing=False))
    async with harness.store.engine.connect() as conn:
        rows = await load_incidents(conn, 0.0, harness.clock.now() + 1)
    figures = incident_figures(rows)
    assert (figures["mtta_seconds"], figures["mttr_seconds"]) == (7201.0, 7301.0)


async def test_sla_clocks_run_through_mutes_when_told_to(harness: Harness) -> None:
    """With pause_while_muted = false the resolve SLA of 1h breaches at 1h, muted or not."""
    await muted_for_an_hour(harness, {"resolve": "1h", "pause_while_muted": False})
    assert await breaches(harness) == [("resolve", 4201.0)]


async def test_external_alert_not_refreshed_resolves_at_its_end_and_an_event_holds(
    harness: Harness,
) -> None:
    """A posted alert resolves at its end (endsAt, or resolve_timeout from its last post) unless
    sent again; an event without an end (a state change, as Nagios sends it) and a check's alert
    hold until resolved."""
    end = harness.clock.now() + 300  # what ingestion gives an Alertmanager alert without endsAt
    await harness.send(
        alert("db1", source="alertmanager", ends_at=end),
        alert("db1", "check_x"),
        alert("db2", "PortDown", source="nagios"),
    )
    timers = IncidentTimers(harness.pipeline, clock=harness.clock)
    await harness.clock.advance(200)
    await timers.tick()
    assert [i["state"] for i in await harness.incidents()] == ["open", "open", "open"]
    await harness.clock.advance(101)
    await timers.tick()
    assert [i["state"] for i in await harness.incidents()] == ["resolved", "open", "open"]
    await harness.clock.advance(86400)
    await timers.tick()
    assert [i["state"] for i in await harness.incidents()] == ["resolved", "open", "open"]


async def test_third_recurrence_in_a_week_opens_a_problem(harness: Harness) -> None:
    """The same key opening three times within 7d opens a problem linking all three."""
    for _ in range(3):
        await harness.send(alert("db1"))
        await harness.send(alert("db1", firing=False))
        await harness.clock.advance(7200)  # past the reopen window
    (problem,) = await service(harness).problems()
    incidents = await harness.incidents()
    assert problem["incidents"] == [i["id"] for i in incidents]
    assert (incidents[2]["id"], "problem_opened") in await harness.notifications()


async def test_a_closed_problem_records_who_and_why_and_recurrences_start_counting_afresh(
    harness: Harness,
) -> None:
    """Closing a problem records its closer and resolution; a later incident of the key opens
    no new problem until the threshold is reached again after the closing."""

    async def recur() -> None:
        await harness.send(alert("db1"))
        await harness.send(alert("db1", firing=False))
        await harness.clock.advance(7200)  # past the reopen window

    for _ in range(3):
        await recur()
    (problem,) = await service(harness).problems()
    closed = await service(harness).close_problem(problem["id"], "ana", "replaced the disk")
    assert (closed["state"], closed["closed_by"], closed["resolution"]) == (
        "closed",
        "ana",
        "replaced the disk",
    )
    assert closed["closed_at"] == harness.clock.now()
    with pytest.raises(ProblemClosed):
        await service(harness).close_problem(problem["id"], "ana", "")
    with pytest.raises(ProblemNotFound):
        await service(harness).close_problem(problem["id"] + 1, "ana", "")
    for _ in range(2):
        await recur()
    assert [p["state"] for p in await service(harness).problems()] == ["closed"]
    await recur()
    assert [p["state"] for p in await service(harness).problems()] == ["open", "closed"]


async def test_change_mutes_item_and_children_and_links_incidents(harness: Harness) -> None:
    """A running change on "switch" mutes web1's alert and its incident is linked to the change."""
    now = harness.clock.now()
    change = await service(harness).add_change(
        item="switch",
        summary="firmware",
        starts_at=now,
        ends_at=now + 1800,
        ticket="CHG-1",
        created_by="bob",
    )
    await harness.send(alert("web1", "check_http"))
    (incident,) = await harness.incidents()
    assert incident["change_id"] == change["id"]
    assert (await harness.members(incident["id"]))[0]["muted"] == f"change:{change['id']}"
    assert await harness.notifications() == []


async def test_timers_run_only_on_the_node_holding_the_singleton_lease(harness: Harness) -> None:
    """Escalations are sent by the lease holder only: a node without the lease sends none."""
    harness.configure(
        receivers=[{"name": "log"}, {"name": "pager"}],
        incidents={
            "escalation": [
                {
                    "name": "db",
                    "matchers": ['item="db1"'],
                    "steps": [{"after": "5m", "receivers": ["pager"]}],
                }
            ]
        },
    )
    holding = False
    timers = IncidentTimers(harness.pipeline, clock=harness.clock, active=lambda: holding)
    running = asyncio.create_task(timers.run())
    try:
        await harness.send(alert("db1"))
        await harness.clock.advance(400)
        await asyncio.sleep(0.3)  # real time: a tick's transactions would be over by now
        (incident,) = await harness.incidents()
        assert (incident["id"], "escalated") not in await harness.notifications("pager")
        holding = True
        await harness.clock.advance(harness.settings.incidents.timer_interval)

        async def escalated() -> bool:
            return (incident["id"], "escalated") in await harness.notifications("pager")

        await eventually(escalated)
    finally:
        running.cancel()
