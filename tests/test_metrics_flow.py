"""watchd.metrics_flow: alerts counted by channel and outcome as they pass to the pipeline."""

from __future__ import annotations

import pytest

from tests.test_metrics import value
from watchd.metrics import Metrics
from watchd.metrics_flow import CountedSink
from watchd.model import Alert, AlertStatus
from watchd.pipeline.isolate import submit_isolating
from watchd.store.errors import StoreError


class Store:
    """A sink standing for the pipeline: it refuses alerts named "bad" (as a database refuses
    a value) or, while `down`, everything (an outage)."""

    def __init__(self) -> None:
        self.down = False
        self.stored: list[Alert] = []

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        if self.down:
            raise StoreError("store alerts", "connection refused")
        if any(a.name == "bad" for a in alerts):
            raise StoreError("store alerts", "value too long", outage=False)
        self.stored.extend(alerts)


def alert(name: str, source: str = "alertmanager-api") -> Alert:
    return Alert(
        labels={"alertname": name},
        status=AlertStatus.FIRING,
        starts_at=1_800_000_000.0,
        source=source,
    )


async def test_alerts_of_the_shared_buffer_are_counted_under_their_sources_channel() -> None:
    """Check, rule, trap and watchd's own alerts count as checks, rules, trap and watchd."""
    m = Metrics()
    sink = CountedSink(Store(), m.flow)
    await sink.submit(
        (alert("a", "check"), alert("b", "check"), alert("c", "rules"), alert("d", "snmptrap"))
    )
    await sink.submit((alert("e", "watchd"), alert("f", "report")))
    assert value(m, "watchd_alerts_ingested_total", source="checks", outcome="stored") == 2
    assert value(m, "watchd_alerts_ingested_total", source="rules", outcome="stored") == 1
    assert value(m, "watchd_alerts_ingested_total", source="trap", outcome="stored") == 1
    assert value(m, "watchd_alerts_ingested_total", source="watchd", outcome="stored") == 2


async def test_an_outage_counts_the_batch_as_error_and_still_raises() -> None:
    """While the store is down a batch counts as error, and the sender still sees the error."""
    m = Metrics()
    store = Store()
    sink = CountedSink(store, m.flow, "http")
    store.down = True
    with pytest.raises(StoreError):
        await sink.submit((alert("a"), alert("b")))
    assert value(m, "watchd_alerts_ingested_total", source="http", outcome="error") == 2
    assert value(m, "watchd_alerts_ingested_total", source="http", outcome="stored") is None


async def test_an_alert_failing_alone_counts_once_as_refused_and_the_rest_as_stored() -> None:
    """One bad alert among eight, isolated by halving, is one refused; seven are stored."""
    m = Metrics()
    sink = CountedSink(Store(), m.flow, "mqtt")
    batch = tuple(alert("bad" if i == 5 else f"a{i}") for i in range(8))
    refused = await submit_isolating(sink, batch)
    assert [r.position for r in refused] == [5]
    assert value(m, "watchd_alerts_ingested_total", source="mqtt", outcome="refused") == 1
    assert value(m, "watchd_alerts_ingested_total", source="mqtt", outcome="stored") == 7
