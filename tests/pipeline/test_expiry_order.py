"""Mass expiry resolves the alerts of one incident together (issues 19, 13)."""

from __future__ import annotations

from tests.pipeline.conftest import Harness, alert
from watchd.pipeline.expire import by_incident


async def test_stale_alerts_are_taken_incident_by_incident_in_their_order(
    harness: Harness,
) -> None:
    harness.configure(incidents={"group_by": ["item"]})
    sent = [alert(f"host{i % 3}", port=str(i), source="alertmanager") for i in range(30)]
    await harness.send(*sent)
    lone = alert("nowhere", source="alertmanager").fingerprint  # in no incident
    fingerprints = [lone] + [a.fingerprint for a in sent]
    async with harness.store.engine.connect() as conn:
        ordered = await by_incident(conn, fingerprints)
    items = [a.labels["item"] for a in sorted(sent, key=lambda a: ordered.index(a.fingerprint))]
    assert items == ["host0"] * 10 + ["host1"] * 10 + ["host2"] * 10
    # Within an incident the order found (oldest end first) is kept; the rest come last.
    host0 = [fp for fp in ordered if fp in {a.fingerprint for a in sent[::3]}]
    assert host0 == [a.fingerprint for a in sent[::3]]
    assert ordered[-1] == lone
