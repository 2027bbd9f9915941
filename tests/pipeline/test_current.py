"""The alerts that stand now, on SQLite and PostgreSQL: read a chunk at a time, each with what
mutes it (silences, inhibiting alerts, windows, flapping, topology), as amtool shows them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import aclosing

import pytest

from tests.pipeline.conftest import Harness, alert
from watchd.pipeline import current
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.current import CurrentAlert


def service(harness: Harness) -> IncidentService:
    return IncidentService(
        harness.store.engine, clock=harness.clock, settings=lambda: harness.settings
    )


async def read_all(
    harness: Harness, labels_match: Callable[[Mapping[str, str]], bool] = lambda _: True
) -> list[list[CurrentAlert]]:
    return [chunk async for chunk in service(harness).current_alerts(labels_match)]


async def test_firing_alerts_come_oldest_first_in_chunks_with_their_silences(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six firing alerts come in chunks of three, oldest first, without the resolved one; a
    silence on db2 names itself in db2's silenced_by; a label filter skips the others."""
    monkeypatch.setattr(current, "CHUNK", 3)
    silence = await service(harness).add_silence(
        matchers=['item="db2"'], ends_at=harness.clock.now() + 3600, created_by="ops"
    )
    for i in range(7):
        await harness.send(alert(f"db{i}"))
        harness.clock.step(1)
    await harness.send(alert("db0", firing=False))
    chunks = await read_all(harness)
    assert [len(c) for c in chunks] == [3, 3]  # db0 resolved is not read
    shown = [a for c in chunks for a in c]
    assert [a.labels["item"] for a in shown] == [f"db{i}" for i in range(1, 7)]
    by_item = {a.labels["item"]: a for a in shown}
    assert by_item["db2"].silenced_by == (silence["id"],) and by_item["db2"].suppressed
    assert not by_item["db3"].suppressed
    only = await read_all(harness, labels_match=lambda labels: labels["item"] == "db5")
    assert [a.labels["item"] for c in only for a in c] == ["db5"]


async def test_a_reader_that_stops_early_lets_go_of_its_connection(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the reader after its first chunk ends its query: the store still writes."""
    monkeypatch.setattr(current, "CHUNK", 2)
    for i in range(5):
        await harness.send(alert(f"db{i}"))
    chunks = service(harness).current_alerts()
    async with aclosing(chunks):
        async for chunk in chunks:
            assert len(chunk) == 2
            break
    await harness.send(alert("db9"))
    assert len([a for c in await read_all(harness) for a in c]) == 6


async def test_inhibited_and_symptom_alerts_say_why(harness: Harness) -> None:
    """An inhibited alert names the inhibiting alert's fingerprint; a symptom of an UNREACHABLE
    item is held by topology."""
    harness.configure(
        inhibit_rules=[
            {
                "source_matchers": ['alertname="HostDown"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["item"],
            }
        ]
    )
    await harness.send(alert("db1", "HostDown"), alert("db1", "check_disk", severity="warning"))
    await harness.send(alert("router"), alert("switch", "check_ping"), alert("web1", "check_http"))
    by_name = {
        (a.labels["item"], a.labels["alertname"]): a for c in await read_all(harness) for a in c
    }
    source = by_name[("db1", "HostDown")]
    assert by_name[("db1", "check_disk")].inhibited_by == (source.fingerprint,)
    assert by_name[("web1", "check_http")].held == current.TOPOLOGY
    # As GET /api/v2/alerts shows them: topology in inhibitedBy, beside inhibiting alerts.
    assert by_name[("web1", "check_http")].inhibited_entries == (current.TOPOLOGY,)
    assert by_name[("web1", "check_http")].silenced_entries == ()
    assert by_name[("db1", "check_disk")].inhibited_entries == (source.fingerprint,)


@pytest.mark.parametrize("held", ["maintenance:patching", "change:42", "flapping"])
def test_what_holds_an_alert_back_for_a_while_is_named_among_its_silences(held: str) -> None:
    """A maintenance window, a change or flapping shows in the alert's silence entries (after
    its silences' IDs), never with empty reasons, and not among what inhibits it."""
    muted = CurrentAlert(
        fingerprint="f",
        labels={},
        annotations={},
        starts_at=0.0,
        ends_at=None,
        updated_at=0.0,
        generator_url="",
        silenced_by=("s1",),
        inhibited_by=(),
        held=held,
    )
    assert muted.suppressed
    assert muted.silenced_entries == ("s1", held)
    assert muted.inhibited_entries == ()
