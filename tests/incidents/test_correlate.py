"""Correlation: grouping, dedup, joining, resolution, reopen window, severity, topology."""

from __future__ import annotations

from tests.incidents.conftest import Harness, alert


async def test_firing_alert_opens_an_incident_and_notifies_every_receiver(harness: Harness) -> None:
    """A new firing alert opens one incident and writes one "opened" intent per receiver."""
    await harness.send(alert("db1"))
    (incident,) = await harness.incidents()
    assert incident["state"] == "open"
    assert incident["key"] == "item=db1,alertname=check_tcp"
    assert incident["severity"] == "critical"
    assert await harness.notifications("log") == [(incident["id"], "opened")]
    assert await harness.notifications("pager") == [(incident["id"], "opened")]
    assert (await harness.timeline(incident["id"]))[:2] == ["opened", "alert_joined"]


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
