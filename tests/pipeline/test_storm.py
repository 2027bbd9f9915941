"""A storm: a batch of alerts on many new items opens its incidents set-wise (issue 13)."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import select

from tests.pipeline.conftest import Harness, alert
from tests.statements import recorded_statements
from watchd.incidents.ledger import Ledger
from watchd.logging import configure_logging
from watchd.notify.wakeup import watch_outbox
from watchd.store.tables import alerts as alerts_table


def count_statements(harness: Harness) -> list[str]:
    """The SQL statements the store runs from now on (the list grows)."""
    return recorded_statements(harness.store.engine)


async def test_a_storm_batch_opens_a_hundred_incidents_in_a_handful_of_statements(
    harness: Harness,
) -> None:
    # Before: ~15 statements per new incident (1,500 for this batch, ~5 ms of CPU each).
    statements = count_statements(harness)
    await harness.send(*(alert(f"host{i}") for i in range(100)))
    assert len(statements) <= 25, statements
    incidents = await harness.incidents()
    assert len(incidents) == 100
    assert len({i["id"] for i in incidents}) == 100
    first = incidents[0]["id"]
    assert await harness.timeline(first) == ["opened", "alert_joined", "notification"]
    assert len(await harness.notifications("log")) == 100


async def test_the_commit_of_a_storm_batch_wakes_the_dispatcher_once(harness: Harness) -> None:
    # Its outbox rows are written with the held incidents; without a wake-up the dispatcher
    # saw them only at its next poll (tests/scenarios: 'opened' seconds late).
    woken: list[None] = []
    stop = watch_outbox(harness.store.engine, lambda: woken.append(None))
    try:
        await harness.send(*(alert(f"host{i}") for i in range(100)))
    finally:
        stop()
    assert len(await harness.notifications("log")) == 100
    assert woken == [None]


async def test_incidents_opened_together_are_numbered_on_and_joined_later_as_any_other(
    harness: Harness,
) -> None:
    await harness.send(*(alert(f"host{i}") for i in range(50)))
    await harness.send(*(alert(f"host{i}") for i in range(50, 100)))
    # A second alert of an item opened in the batch before joins that incident.
    await harness.send(alert("host7", severity="warning", port="443"))
    incidents = await harness.incidents()
    assert [i["id"] for i in incidents] == sorted(i["id"] for i in incidents)
    assert len(incidents) == 100
    host7 = next(i for i in incidents if i["item"] == "host7")
    assert sorted(m["fingerprint"] for m in await harness.members(host7["id"])) == sorted(
        [alert("host7").fingerprint, alert("host7", severity="warning", port="443").fingerprint]
    )
    assert await harness.timeline(host7["id"]) == [
        "opened",
        "alert_joined",
        "notification",
        "alert_joined",
    ]


def logged(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_storm_batch_logs_one_summary_line_and_a_few_changes_one_line_each(
    harness: Harness,
) -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        await harness.send(*(alert(f"host{i}") for i in range(30)))
        storm = [line for line in logged(out) if line["event"] in ("alert", "alerts")]
        assert storm == [
            {
                **storm[0],
                "event": "alerts",
                "alerts": 30,
                "firing": 30,
                "resolved": 0,
                "alertnames": {"check_tcp": 30},
                "items": 30,
            }
        ]
        out.truncate(0)
        out.seek(0)
        await harness.send(alert("host1", firing=False), alert("host2", firing=False))
        few = [line for line in logged(out) if line["event"] in ("alert", "alerts")]
        assert [(line["event"], line["status"]) for line in few] == [
            ("alert", "resolved"),
            ("alert", "resolved"),
        ]
    finally:
        configure_logging()


async def test_at_debug_a_storm_batch_still_logs_every_alert(harness: Harness) -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    try:
        await harness.send(*(alert(f"host{i}") for i in range(30)))
        lines = logged(out)
        assert [line["event"] for line in lines].count("alert") == 30
        assert [line["event"] for line in lines].count("alerts") == 1
    finally:
        configure_logging()


async def test_a_hundred_alerts_resolving_at_once_cost_statements_per_incident_not_per_alert(
    harness: Harness,
) -> None:
    harness.configure(incidents={"group_by": ["item"]})
    await harness.send(*(alert(f"host{i % 2}", port=str(i)) for i in range(100)))
    statements = count_statements(harness)
    # Before: ~5 statements per resolved alert (its incidents, a lock, its row, an event).
    await harness.send(*(alert(f"host{i % 2}", port=str(i), firing=False) for i in range(100)))
    assert len(statements) <= 50, len(statements)
    for incident in await harness.incidents():
        assert incident["state"] == "resolved"
        timeline = await harness.timeline(incident["id"])
        assert timeline.count("alert_resolved") == 50
        assert timeline[-3:] == ["alert_resolved", "resolved", "notification"]
        members = await harness.members(incident["id"])
        assert {m["status"] for m in members} == {"resolved"}


async def test_hosts_behind_a_failed_switch_join_its_incident_in_a_handful_of_statements(
    harness: Harness,
) -> None:
    """A core switch fails behind 100 hosts: its ping fails, then every host's check. The hosts
    are UNREACHABLE: their alerts are symptoms of the switch's incident, written together."""
    hosts = [f"host{i}" for i in range(100)]
    harness.configure(
        items=[
            {"name": "switch", "checks": [{"name": "ping", "kind": "ping"}]},
            *({"name": h, "parents": ["switch"]} for h in hosts),
        ]
    )
    await harness.send(alert("switch", "check_ping"))
    statements = count_statements(harness)
    # Before: ~7 statements per host (what is down, the switch's incident, the member, an event).
    await harness.send(*(alert(h) for h in hosts))
    assert len(statements) <= 25, len(statements)
    (switch,) = await harness.incidents()
    symptoms = [m for m in await harness.members(switch["id"]) if m["role"] == "symptom"]
    assert sorted(m["item"] for m in symptoms) == sorted(hosts)
    assert {m["muted"] for m in symptoms} == {"unreachable:switch"}
    assert (await harness.timeline(switch["id"])).count("alert_joined") == 101
    assert len(await harness.notifications("pager")) == 1  # the switch's opening, nothing more


async def test_a_switch_failing_in_the_same_batch_as_its_hosts_still_takes_them_in(
    harness: Harness,
) -> None:
    hosts = [f"host{i}" for i in range(30)]
    harness.configure(
        items=[
            {"name": "switch", "checks": [{"name": "ping", "kind": "ping"}]},
            *({"name": h, "parents": ["switch"]} for h in hosts),
        ]
    )
    await harness.send(
        alert(hosts[0]), alert("switch", "check_ping"), *(alert(h) for h in hosts[1:])
    )
    incidents = await harness.incidents()
    # The host whose alert came before the switch's opened its own incident; the rest joined.
    assert sorted(i["item"] for i in incidents) == ["host0", "switch"]
    switch = next(i for i in incidents if i["item"] == "switch")
    symptoms = [m for m in await harness.members(switch["id"]) if m["role"] == "symptom"]
    assert len(symptoms) == 29


async def test_a_second_wave_joining_a_hundred_open_incidents_takes_a_handful_of_statements(
    harness: Harness,
) -> None:
    # The next evaluation of an outage: every host's second alert (same group key: item,
    # check) joins its open incident.
    # Before: seven statements per incident (each loaded three times), 1.4 ms of CPU a join.
    await harness.send(*(alert(f"host{i}") for i in range(100)))
    statements = count_statements(harness)
    await harness.send(*(alert(f"host{i}", "check_http", check="tcp") for i in range(100)))
    assert len(statements) <= 25, statements
    incidents = await harness.incidents()
    assert len(incidents) == 100
    for incident in incidents:
        assert len(await harness.members(incident["id"])) == 2
        timeline = await harness.timeline(incident["id"])
        assert timeline == ["opened", "alert_joined", "notification", "alert_joined"]
        assert incident["seq"] == len(timeline)
    assert len(await harness.notifications("log")) == 100  # joining the same outage: no page


async def test_a_second_wave_that_raises_the_severity_of_open_incidents_notifies_each_once(
    harness: Harness,
) -> None:
    await harness.send(*(alert(f"host{i}", severity="warning") for i in range(50)))
    await harness.send(*(alert(f"host{i}", "check_http", check="tcp") for i in range(50)))
    incidents = await harness.incidents()
    assert {i["severity"] for i in incidents} == {"critical"}
    for incident in incidents:
        timeline = await harness.timeline(incident["id"])
        assert timeline[3:] == ["alert_joined", "severity_changed", "notification"]
        assert incident["seq"] == len(timeline)
    notified = await harness.notifications("log")
    assert len(notified) == 100
    assert len(set(notified)) == 100


async def test_the_end_of_an_outage_resolves_a_hundred_incidents_in_a_handful_of_statements(
    harness: Harness,
) -> None:
    # Before: eight statements per incident resolved (12 with the alert's own), 2.6 ms of CPU.
    await harness.send(*(alert(f"host{i}") for i in range(100)))
    statements = count_statements(harness)
    await harness.send(*(alert(f"host{i}", firing=False) for i in range(100)))
    assert len(statements) <= 30, statements
    incidents = await harness.incidents()
    assert {i["state"] for i in incidents} == {"resolved"}
    for incident in incidents:
        timeline = await harness.timeline(incident["id"])
        assert timeline == [
            "opened",
            "alert_joined",
            "notification",
            "alert_resolved",
            "resolved",
            "notification",
        ]
        assert incident["seq"] == len(timeline)
    notified = await harness.notifications("log")
    assert sorted(notified) == sorted(
        [(i["id"], kind) for i in incidents for kind in ("opened", "resolved")]
    )


async def test_half_an_outage_ending_leaves_a_hundred_incidents_open_in_a_handful_of_statements(
    harness: Harness,
) -> None:
    await harness.send(*(alert(f"host{i}") for i in range(100)))
    await harness.send(*(alert(f"host{i}", "check_http", check="tcp") for i in range(100)))
    statements = count_statements(harness)
    await harness.send(*(alert(f"host{i}", firing=False) for i in range(100)))
    assert len(statements) <= 25, statements
    for incident in await harness.incidents():
        assert incident["state"] == "open"
        timeline = await harness.timeline(incident["id"])
        assert timeline[-1] == "alert_resolved"
        assert incident["seq"] == len(timeline)
    assert len(await harness.notifications("log")) == 100


async def test_repeats_with_the_ends_of_several_requests_are_refreshed_in_one_statement(
    harness: Harness,
) -> None:
    # A batch of eight requests repeats its alerts with eight ends (each request's "now plus
    # resolve_timeout"): before, an UPDATE per end.
    end = 1_800_000_300.0
    await harness.send(*(alert(f"host{i}", ends_at=end) for i in range(100)))
    statements = count_statements(harness)
    await harness.send(*(alert(f"host{i}", ends_at=end + 60 + i % 8) for i in range(100)))
    assert len([s for s in statements if s.startswith("UPDATE alerts")]) == 1, statements
    rows = await harness.rows(select(alerts_table.c.labels, alerts_table.c.ends_at))
    assert {r["labels"]["item"]: r["ends_at"] for r in rows} == {
        f"host{i}": end + 60 + i % 8 for i in range(100)
    }


async def test_a_batchs_held_back_changes_are_written_before_an_update_it_cannot_hold_back(
    harness: Harness,
) -> None:
    # A batch's ledger holds back its writes to stored incidents; an update of a JSON column
    # goes to the store at once, and must come back with what was held back (its seq).
    await harness.send(alert("db1"))
    (incident,) = await harness.incidents()
    async with harness.store.engine.begin() as conn:
        ledger = Ledger(conn, harness.clock.now(), harness.settings, batch={})
        loaded = await ledger.event(await ledger.load(incident["id"]), "commented", "ops")
        loaded = await ledger.update(loaded, group_labels={"item": "db1", "note": "moved"})
        await ledger.event(loaded, "commented", "ops")
        await ledger.write_held()
    (after,) = await harness.incidents()
    assert after["group_labels"] == {"item": "db1", "note": "moved"}
    assert after["seq"] == incident["seq"] + 2
    assert (await harness.timeline(incident["id"]))[-2:] == ["commented", "commented"]
