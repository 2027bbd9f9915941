"""Correlation: grouping, dedup, joining, resolution, reopen window, severity, topology."""

from __future__ import annotations

from sqlalchemy import select

from tests.pipeline.conftest import Harness, alert
from tests.statements import recorded_statements
from watchd.incidents.ledger import Ledger
from watchd.incidents.lifecycle import close, resolve
from watchd.model import Alert, AlertStatus
from watchd.store.incident_tables import outbox
from watchd.store.tables import alerts as alerts_table


async def test_firing_alert_opens_an_incident_and_notifies_every_receiver(harness: Harness) -> None:
    """A new firing alert opens one incident and writes one "opened" intent per receiver."""
    await harness.send(alert("db1"))
    (incident,) = await harness.incidents()
    assert incident["state"] == "open"
    assert incident["key"] == "item=db1,check=tcp"
    assert incident["severity"] == "critical"
    assert await harness.notifications("log") == [(incident["id"], "opened")]
    assert await harness.notifications("pager") == [(incident["id"], "opened")]
    assert (await harness.timeline(incident["id"]))[:2] == ["opened", "alert_joined"]


async def test_a_checks_own_alert_and_a_rule_on_its_samples_are_one_incident(
    harness: Harness,
) -> None:
    """The check's HARD-state alert and a rule alert over its samples page once, as one incident."""
    await harness.send(alert("web1", "check_http", check="http"))
    await harness.send(alert("web1", "HttpDown", check="http", kind="http"))
    (incident,) = await harness.incidents()
    assert incident["key"] == "item=web1,check=http"
    assert len(await harness.notifications("pager")) == 1


async def test_alerts_without_any_group_by_label_group_by_alertname(harness: Harness) -> None:
    """External alerts with neither item nor check do not share one catch-all incident."""
    await harness.send(
        Alert(labels={"alertname": "Watchdog"}, status=AlertStatus.FIRING, starts_at=0)
    )
    await harness.send(
        Alert(labels={"alertname": "QueueBacklog"}, status=AlertStatus.FIRING, starts_at=0)
    )
    keys = sorted(i["key"] for i in await harness.incidents())
    assert keys == ["alertname=QueueBacklog", "alertname=Watchdog"]


async def test_repeats_are_deduplicated(harness: Harness) -> None:
    """Sending the same firing alert again changes nothing and notifies nothing more."""
    for _ in range(3):
        await harness.send(alert("db1"))
    assert len(await harness.incidents()) == 1
    assert len(await harness.notifications()) == 1


async def test_a_repeat_moves_the_stored_end_and_last_seen_time(harness: Harness) -> None:
    """A plain repeat (a new endsAt, nothing else) keeps one row with its new end and time."""
    await harness.send(alert("db1", ends_at=1_800_000_240.0), alert("web1", ends_at=1.0))
    await harness.clock.advance(60)
    await harness.send(alert("db1", ends_at=1_800_000_300.0), alert("web1", ends_at=2.0))
    rows = {r["labels"]["item"]: r for r in await harness.rows(select(alerts_table))}
    assert (rows["db1"]["ends_at"], rows["web1"]["ends_at"]) == (1_800_000_300.0, 2.0)
    assert rows["db1"]["updated_at"] == rows["db1"]["first_seen"] + 60
    assert len(await harness.notifications()) == 2


async def test_a_repeat_with_new_annotations_stores_them_without_a_new_page(
    harness: Harness,
) -> None:
    """Annotations that change on a repeat (a new summary value) are stored; no new page."""
    await harness.send(alert("db1"))
    changed = alert("db1")
    changed = Alert(
        labels=changed.labels,
        status=changed.status,
        starts_at=changed.starts_at,
        annotations={"summary": "disk 97% full"},
        source=changed.source,
    )
    await harness.send(changed)
    [row] = await harness.rows(select(alerts_table))
    assert row["annotations"] == {"summary": "disk 97% full"}
    assert len(await harness.notifications()) == 1


async def test_incident_resolves_when_all_alerts_resolved_and_notifies(harness: Harness) -> None:
    """Two alerts in one incident: it resolves (and says so) only when both have resolved."""
    await harness.send(alert("db1", instance="a"), alert("db1", instance="b"))
    await harness.send(alert("db1", instance="a", firing=False))
    (incident,) = await harness.incidents()
    assert incident["state"] == "open"
    await harness.send(alert("db1", instance="b", firing=False))
    (incident,) = await harness.incidents()
    assert incident["state"] == "resolved"
    assert incident["resolved_by"] == "watchd"
    assert [k for _, k in await harness.notifications()] == ["opened", "resolved"]


async def test_an_incident_resolved_by_hand_is_changed_once_then_notified_once(
    harness: Harness,
) -> None:
    """The resolution (state, who, silent, the "resolved" event's seq) is one change of the
    incident's row, the resolved notification a second: three before (state, seq, audible)."""
    await harness.send(alert("db1"))
    (incident,) = await harness.incidents()
    statements = recorded_statements(harness.store.engine)
    async with harness.store.engine.begin() as conn:
        await resolve(Ledger(conn, harness.clock.now(), harness.settings), incident["id"], "ops")
    assert len([s for s in statements if s.startswith("UPDATE incidents")]) == 2, statements
    (incident,) = await harness.incidents()
    assert (incident["state"], incident["resolved_by"], incident["audible"]) == (
        "resolved",
        "ops",
        False,
    )
    assert (await harness.timeline(incident["id"]))[-2:] == ["resolved", "notification"]
    assert [k for _, k in await harness.notifications()] == ["opened", "resolved"]


async def test_severity_is_the_highest_firing_alert(harness: Harness) -> None:
    """A critical alert joining a warning incident raises its severity, and back when it resolves."""
    await harness.send(alert("db1", severity="warning", instance="a"))
    await harness.send(alert("db1", severity="critical", instance="b"))
    assert (await harness.incidents())[0]["severity"] == "critical"
    await harness.send(alert("db1", severity="critical", instance="b", firing=False))
    assert (await harness.incidents())[0]["severity"] == "warning"


async def test_a_check_going_from_warning_to_critical_stays_one_open_incident(
    harness: Harness,
) -> None:
    """A check's WARNING -> CRITICAL (its warning alert resolved and its critical alert fired in
    one batch) raises the incident's severity with one "updated" page, no resolved/reopened."""
    await harness.send(alert("db1", severity="warning"))
    await harness.send(alert("db1", severity="warning", firing=False), alert("db1"))
    (incident,) = await harness.incidents()
    assert (incident["state"], incident["severity"]) == ("open", "critical")
    assert [k for _, k in await harness.notifications()] == ["opened", "updated"]
    assert "resolved" not in await harness.timeline(incident["id"])


async def test_refire_within_reopen_window_reopens_after_it_opens_new(harness: Harness) -> None:
    """Re-firing 10 minutes after resolution reopens; re-firing an hour later opens a new one."""
    await harness.send(alert("db1"))
    await harness.send(alert("db1", firing=False))
    await harness.clock.advance(600)
    await harness.send(alert("db1"))
    (incident,) = await harness.incidents()
    assert incident["state"] == "open"
    assert [k for _, k in await harness.notifications()] == ["opened", "resolved", "reopened"]
    await harness.send(alert("db1", firing=False))
    await harness.clock.advance(3600)
    await harness.send(alert("db1"))
    assert [i["state"] for i in await harness.incidents()] == ["resolved", "open"]


async def test_unreachable_child_joins_parent_incident_and_awaits_a_fresh_result(
    harness: Harness,
) -> None:
    """With its parent down, a child's alert is a muted symptom of the parent's incident; when
    the parent recovers, the child stays muted and its check is asked for a fresh result."""
    await harness.send(alert("router"))
    await harness.send(alert("web1", "check_http"))
    (parent,) = await harness.incidents()
    members = {m["item"]: m for m in await harness.members(parent["id"])}
    assert members["web1"]["role"] == "symptom"
    assert members["web1"]["muted"] == "unreachable:router"
    assert await harness.notifications() == [(parent["id"], "opened")]
    await harness.send(alert("router", firing=False))
    (parent_after,) = await harness.incidents()
    assert parent_after["state"] == "resolved"
    members = {m["item"]: m for m in await harness.members(parent["id"])}
    assert members["web1"]["status"] == "recheck"
    assert harness.rechecked == [{("web1", "http")}]
    assert await harness.notifications() == [(parent["id"], "opened"), (parent["id"], "resolved")]


async def test_a_symptom_awaiting_a_fresh_result_is_firing_in_notifications(
    harness: Harness,
) -> None:
    """Receivers (Alertmanager webhook shape) see such a symptom as "firing", never "recheck"."""
    await harness.send(alert("router"), alert("web1", "check_http"))
    await harness.send(alert("router", firing=False))
    (parent,) = await harness.incidents()
    async with harness.store.engine.begin() as conn:
        await close(Ledger(conn, harness.clock.now(), harness.settings), parent["id"], "ops")
    (row,) = await harness.rows(
        select(outbox.c.payload).where(outbox.c.receiver == "pager", outbox.c.kind == "closed")
    )
    statuses = {a["labels"]["item"]: a["status"] for a in row["payload"]["alerts"]}
    assert statuses == {"router": "resolved", "web1": "firing"}


async def test_a_child_whose_fresh_result_still_fails_pages_once(harness: Harness) -> None:
    """After the parent's recovery, the child's fresh failing result (its alert sent again)
    opens the child's own incident: one page, and the symptom leaves the parent's incident."""
    await harness.send(alert("router"), alert("web1", "check_http"))
    await harness.send(alert("router", firing=False))
    await harness.send(alert("web1", "check_http"))
    parent, child = await harness.incidents()
    assert child["item"] == "web1" and child["state"] == "open"
    assert [m["item"] for m in await harness.members(parent["id"])] == ["router"]
    assert (await harness.timeline(parent["id"]))[-1] == "alert_left"
    assert await harness.notifications("pager") == [
        (parent["id"], "opened"),
        (parent["id"], "resolved"),
        (child["id"], "opened"),
    ]
    await harness.send(alert("web1", "check_http"))
    assert len(await harness.notifications("pager")) == 3


async def test_a_child_that_comes_back_after_its_parent_is_never_paged(harness: Harness) -> None:
    """Router and five servers down; the router recovers, the servers' checks recover a second
    later: two pages (the router's opened and resolved), none for the servers."""
    servers = [f"srv{i}" for i in range(5)]
    harness.configure(
        items=[
            {"name": "router", "checks": [{"name": "ping", "kind": "ping"}]},
            *({"name": s, "parents": ["router"]} for s in servers),
        ]
    )
    await harness.send(alert("router", "check_ping"), *(alert(s) for s in servers))
    await harness.send(alert("router", "check_ping", firing=False))
    assert harness.rechecked == [{(s, "tcp") for s in servers}]
    await harness.clock.advance(1)
    await harness.send(*(alert(s, firing=False) for s in servers))
    await harness.pipeline.sweep()
    (parent,) = await harness.incidents()
    assert await harness.notifications("pager") == [
        (parent["id"], "opened"),
        (parent["id"], "resolved"),
    ]


async def test_a_child_without_a_fresh_result_pages_after_recheck_timeout(
    harness: Harness,
) -> None:
    """A child whose check never reports again stays muted for recheck_timeout, then pages."""
    await harness.send(alert("router"), alert("web1", "check_http"))
    await harness.send(alert("router", firing=False))
    await harness.clock.advance(59)
    await harness.pipeline.sweep()
    assert len(await harness.incidents()) == 1
    await harness.clock.advance(1)
    await harness.pipeline.sweep()
    parent, child = await harness.incidents()
    assert child["item"] == "web1"
    assert (await harness.notifications("pager"))[-1] == (child["id"], "opened")
    assert (await harness.timeline(parent["id"]))[-1] == "alert_left"


async def test_a_child_still_unreachable_after_a_fresh_result_stays_a_symptom(
    harness: Harness,
) -> None:
    """If the parent went down again before the child's fresh result, the child is a symptom of
    the parent's new incident, not paged."""
    await harness.send(alert("router"), alert("web1", "check_http"))
    await harness.send(alert("router", firing=False))
    await harness.clock.advance(3600)
    await harness.send(alert("router"))
    await harness.send(alert("web1", "check_http"))
    first, second = await harness.incidents()
    assert {(m["item"], m["role"]) for m in await harness.members(second["id"])} == {
        ("router", "member"),
        ("web1", "symptom"),
    }
    assert [i for i, _ in await harness.notifications("pager")] == [first["id"]] * 2 + [
        second["id"]
    ]


async def test_a_burst_of_new_alerts_for_one_incident_is_one_incident_and_one_page(
    harness: Harness,
) -> None:
    """100 new alerts of one group in one batch: one incident, 100 members joined in order,
    one "opened" notification whose payload carries all of them."""
    burst = [
        Alert(
            labels={
                "alertname": "InstanceDown",
                "instance": f"host{i}:9100",
                "severity": "critical",
            },
            status=AlertStatus.FIRING,
            starts_at=0,
        )
        for i in range(100)
    ]
    await harness.send(*burst)
    (incident,) = await harness.incidents()
    assert incident["key"] == "alertname=InstanceDown"
    assert len(await harness.members(incident["id"])) == 100
    timeline = await harness.timeline(incident["id"])
    assert timeline.count("alert_joined") == 100
    assert timeline[0] == "opened" and timeline[-1] == "notification"
    events = await harness.rows(
        "SELECT seq, detail FROM incident_events WHERE kind = 'alert_joined' ORDER BY seq"
    )
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 100))
    assert await harness.notifications("pager") == [(incident["id"], "opened")]
    (row,) = await harness.rows(select(outbox.c.payload).where(outbox.c.receiver == "pager"))
    assert len(row["payload"]["alerts"]) == 100


async def test_a_parent_and_its_child_in_one_batch_make_the_child_a_symptom(
    harness: Harness,
) -> None:
    """The parent's alert earlier in the same batch already makes the child UNREACHABLE."""
    await harness.send(alert("router"), alert("switch", "check_ping"))
    (parent,) = await harness.incidents()
    members = {m["item"]: m for m in await harness.members(parent["id"])}
    assert members["switch"]["role"] == "symptom"
    assert members["switch"]["muted"] == "unreachable:router"


async def test_a_resolution_between_new_alerts_of_one_batch_is_applied_in_order(
    harness: Harness,
) -> None:
    """firing a, then in one batch: b firing, a resolved, c firing — the incident stays open
    with b and c firing and a resolved."""
    await harness.send(alert("db1", instance="a"))
    await harness.send(
        alert("db1", instance="b"),
        alert("db1", instance="a", firing=False),
        alert("db1", instance="c"),
    )
    (incident,) = await harness.incidents()
    assert incident["state"] == "open"
    statuses = sorted(
        (m["fingerprint"], m["status"]) for m in await harness.members(incident["id"])
    )
    assert sorted(s for _, s in statuses) == ["firing", "firing", "resolved"]


async def test_an_unrelated_critical_alert_on_the_parent_does_not_hide_the_childs_outage(
    harness: Harness,
) -> None:
    """A failed config backup on the router (critical, not its host check) leaves the switch
    reachable: the switch's outage opens its own incident and pages."""
    await harness.send(alert("router", "ConfigBackupFailed", check="backup", source="rules"))
    await harness.send(alert("switch", "check_ping"))
    backup, switch = await harness.incidents()
    assert switch["item"] == "switch"
    assert [m["role"] for m in await harness.members(switch["id"])] == ["member"]
    assert await harness.notifications("pager") == [
        (backup["id"], "opened"),
        (switch["id"], "opened"),
    ]


async def test_only_the_host_checks_own_critical_alert_makes_an_item_down(
    harness: Harness,
) -> None:
    """The host check's labels posted from outside, or its warning, do not make the router down;
    its own critical alert does, and the switch joins that incident, not another of the router."""
    await harness.send(alert("router", source="alertmanager-api"))
    await harness.send(alert("router", severity="warning", instance="b"))
    await harness.send(alert("switch", "check_ping"))
    assert [i["item"] for i in await harness.incidents()] == ["router", "switch"]
    await harness.send(alert("switch", "check_ping", firing=False))
    await harness.send(alert("router", "ConfigBackupFailed", check="backup"))
    await harness.send(alert("router", instance="c"))
    await harness.send(alert("switch", "check_ping"))
    host = next(i for i in await harness.incidents() if i["key"] == "item=router,check=tcp")
    symptoms = [m for m in await harness.members(host["id"]) if m["role"] == "symptom"]
    assert [(m["item"], m["muted"]) for m in symptoms] == [("switch", "unreachable:router")]


async def test_a_configured_host_check_replaces_the_default(harness: Harness) -> None:
    """With host_check = "ping" the router's TCP check failing leaves the switch reachable, its
    ping failing makes the switch UNREACHABLE."""
    harness.configure(
        items=[
            {
                "name": "router",
                "host_check": "ping",
                "checks": [
                    {"name": "tcp", "kind": "tcp", "port": 22},
                    {"name": "ping", "kind": "ping"},
                ],
            },
            {"name": "switch", "parents": ["router"]},
        ]
    )
    await harness.send(alert("router"))
    await harness.send(alert("switch", "check_ping"))
    assert [i["item"] for i in await harness.incidents()] == ["router", "switch"]
    await harness.send(alert("router", "check_ping"))
    await harness.send(alert("switch", "ConfigBackupFailed", check="backup"))
    router_ping = (await harness.incidents())[2]
    assert {(m["item"], m["role"]) for m in await harness.members(router_ping["id"])} == {
        ("router", "member"),
        ("switch", "symptom"),
    }


async def test_an_item_without_a_host_check_is_never_down(harness: Harness) -> None:
    """db1 has no ping, TCP or HTTP check: its critical alerts never mute its children."""
    harness.configure(items=[{"name": "db1"}, {"name": "app", "parents": ["db1"]}])
    await harness.send(alert("db1"))
    await harness.send(alert("app", "check_http"))
    assert [i["item"] for i in await harness.incidents()] == ["db1", "app"]
    assert len(await harness.notifications("pager")) == 2
