"""A storm: a batch of alerts on many new items opens its incidents set-wise (issue 13)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from tests.pipeline.conftest import Harness, alert


def count_statements(harness: Harness) -> list[str]:
    """The SQL statements the store runs from now on (the list grows)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(harness.store.engine.sync_engine, "before_cursor_execute", before)
    return seen


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
