"""Correlation: grouping, dedup, joining, resolution, reopen window, severity, topology."""

from __future__ import annotations

from tests.incidents.conftest import Harness, alert
from watchd.model import Alert, AlertStatus


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


async def test_severity_is_the_highest_firing_alert(harness: Harness) -> None:
    """A critical alert joining a warning incident raises its severity, and back when it resolves."""
    await harness.send(alert("db1", severity="warning", instance="a"))
    await harness.send(alert("db1", severity="critical", instance="b"))
    assert (await harness.incidents())[0]["severity"] == "critical"
    await harness.send(alert("db1", severity="critical", instance="b", firing=False))
    assert (await harness.incidents())[0]["severity"] == "warning"


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


async def test_unreachable_child_joins_parent_incident_and_is_released(harness: Harness) -> None:
    """With its parent down, a child's alert is a muted symptom of the parent's incident; when
    the parent recovers while the child is still down, the child gets its own notified incident."""
    await harness.send(alert("router"))
    await harness.send(alert("web1", "check_http"))
    (parent,) = await harness.incidents()
    members = {m["item"]: m for m in await harness.members(parent["id"])}
    assert members["web1"]["role"] == "symptom"
    assert members["web1"]["muted"] == "unreachable:router"
    assert await harness.notifications() == [(parent["id"], "opened")]
    await harness.send(alert("router", firing=False))
    parent_after, child = await harness.incidents()
    assert parent_after["state"] == "resolved"
    assert child["item"] == "web1" and child["state"] == "open"
    assert sorted(await harness.notifications()) == [
        (parent["id"], "opened"),
        (parent["id"], "resolved"),
        (child["id"], "opened"),
    ]
