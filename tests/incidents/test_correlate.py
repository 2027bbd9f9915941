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
