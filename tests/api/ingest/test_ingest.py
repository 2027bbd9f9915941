"""POST /api/v2/alerts and /api/v1/events against a real server, sink and SQLite store."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.api.ingest.conftest import INGEST_TOKEN, READ_TOKEN, TOKENS
from tests.storing_sink import StoringSink
from watchd.api import create_app, start_api
from watchd.api.ingest import add_routes
from watchd.clock import FakeClock
from watchd.metrics import Metrics
from watchd.model import AlertStatus, fingerprint
from watchd.store import Store

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the FakeClock's start

# Exactly what Prometheus' notifier posts (alertsToOpenAPIAlerts + strfmt.DateTime, which
# formats with milliseconds and the evaluating server's zone offset).
PROMETHEUS_BATCH: list[dict[str, Any]] = [
    {
        "annotations": {"summary": "web1:9100 is down", "runbook_url": "http://wiki/InstanceDown"},
        "endsAt": "2027-01-15T08:04:00.000Z",
        "startsAt": "2027-01-15T07:58:30.123Z",
        "generatorURL": "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "labels": {"alertname": "InstanceDown", "instance": "web1:9100", "job": "node"},
    },
    {
        "annotations": {"summary": "disk almost full"},
        "endsAt": "2027-01-15T09:59:00.500+02:00",  # 07:59:00.5Z: in the past, so resolved
        "startsAt": "2027-01-15T09:30:00.000+02:00",
        "generatorURL": "http://prom:9090/graph?g0.expr=disk",
        "labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "warning"},
    },
]


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, str]:
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.text()


async def test_prometheus_batch_is_stored_with_status_from_ends_at(
    api: str, http: aiohttp.ClientSession, store: Store
) -> None:
    """A Prometheus batch gets 200 with an empty body; future endsAt is firing, past is resolved."""
    status, body = await post(http, f"{api}/api/v2/alerts", PROMETHEUS_BATCH)
    assert (status, body) == (200, "")
    stored = {a.name: a for a in await store.alerts()}
    down, disk = stored["InstanceDown"], stored["DiskFull"]
    assert down.status is AlertStatus.FIRING
    assert down.starts_at == pytest.approx(NOW - 89.877)
    assert down.ends_at == NOW + 240
    assert down.source == "alertmanager-api"
    assert down.generator_url == "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    assert down.annotations["runbook_url"] == "http://wiki/InstanceDown"
    assert disk.status is AlertStatus.RESOLVED
    assert disk.ends_at == NOW - 59.5
    assert disk.fingerprint == fingerprint(PROMETHEUS_BATCH[1]["labels"])


async def test_unset_times_mean_now_and_resolve_timeout(
    api: str, http: aiohttp.ClientSession, store: Store
) -> None:
    """Go's zero time (or no time at all) starts now and stays firing for resolve_timeout."""
    body = [
        {
            "labels": {"alertname": "A"},
            "startsAt": "0001-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00.000Z",
        },
        {"labels": {"alertname": "B"}},
        # A zero endsAt after a real startsAt is "unset", not "ends before it starts".
        {
            "labels": {"alertname": "C"},
            "startsAt": "2027-01-15T07:59:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
        },
    ]
    assert (await post(http, f"{api}/api/v2/alerts", body))[0] == 200
    stored = {alert.name: alert for alert in await store.alerts()}
    assert sorted(stored) == ["A", "B", "C"]
    for alert in stored.values():
        assert alert.status is AlertStatus.FIRING
        assert alert.ends_at == NOW + 300
    assert stored["A"].starts_at == stored["B"].starts_at == NOW
    assert stored["C"].starts_at == NOW - 60


async def test_a_repeat_updates_the_same_alert(
    api: str, http: aiohttp.ClientSession, store: Store, clock: FakeClock
) -> None:
    """Sending the same label set again updates one stored alert instead of adding another."""
    await post(http, f"{api}/api/v2/alerts", PROMETHEUS_BATCH[:1])
    resolved = dict(PROMETHEUS_BATCH[0], endsAt="2027-01-15T08:00:30Z")
    await clock.advance(60)
    await post(http, f"{api}/api/v2/alerts", [resolved])
    [alert] = await store.alerts()
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == NOW + 30


def _valid(name: str) -> dict[str, Any]:
    return {"labels": {"alertname": name}}


_VALID = [_valid(name) for name in ("a", "b", "c", "ok")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            [_valid("a"), _valid("b"), _valid("c"), {"labels": {}}],
            "alert 3: labels: must contain at least one label; the other 3 of 4 were stored",
        ),
        ([{"labels": {"x": ""}}], "alert 0: labels: must contain at least one label"),
        ([{"annotations": {}}], "alert 0: labels: is required"),
        ([{"labels": ["a"]}], "alert 0: labels: must be an object of string values"),
        ([{"labels": {"a": 1}}], "alert 0: labels.a: must be a string"),
        (
            [{"labels": {"bad-name": "x"}}],
            "alert 0: labels: label name 'bad-name' must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            [{"labels": {"a": "b"}, "annotations": {"2nd": "x"}}],
            "alert 0: annotations: annotation name '2nd' must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        ([{"labels": {"a": "b"}, "status": "firing"}], "alert 0: status: is not a known field"),
        (
            [{"labels": {"a": "b"}, "startsAt": "yesterday"}],
            "alert 0: startsAt: 'yesterday' is not an RFC 3339 time such as "
            "2024-05-01T12:00:00.000Z",
        ),
        (
            [{"labels": {"a": "b"}, "endsAt": "2027-01-15T08:00:00"}],
            "alert 0: endsAt: '2027-01-15T08:00:00' has no time zone "
            "(add Z or an offset such as +02:00)",
        ),
        (
            [{"labels": {"a": "b"}, "startsAt": 5}],
            "alert 0: startsAt: must be an RFC 3339 time such as 2024-05-01T12:00:00.000Z",
        ),
        (
            [
                {
                    "labels": {"a": "b"},
                    "startsAt": "2027-01-15T08:00:00Z",
                    "endsAt": "2027-01-15T07:00:00Z",
                }
            ],
            "alert 0: endsAt: must not be before startsAt",
        ),
        ([42], "alert 0: must be a JSON object"),
        ({"labels": {"a": "b"}}, "the body must be a JSON list of alerts, not an object"),
        (
            [{"labels": {}}, _valid("ok"), {"labels": {"a": "b"}, "x": 1}],
            "alert 0: labels: must contain at least one label; alert 2: x: is not a known field;"
            " the other 1 of 3 were stored",
        ),
    ],
)
async def test_bad_alerts_are_refused_alone_with_a_precise_400(
    api: str, http: aiohttp.ClientSession, store: Store, body: Any, message: str
) -> None:
    """A bad alert gets 400 naming its index and field; only its valid neighbours are stored."""
    async with http.post(f"{api}/api/v2/alerts", json=body) as resp:
        assert resp.status == 400
        assert await resp.json() == {"error": message}
    kept = [a["labels"]["alertname"] for a in body if a in _VALID] if isinstance(body, list) else []
    assert sorted(a.name for a in await store.alerts()) == kept


async def test_malformed_json_is_a_400(api: str, http: aiohttp.ClientSession) -> None:
    """A body that is not JSON gets 400 saying so and where the parser stopped."""
    async with http.post(f"{api}/api/v2/alerts", data=b'[{"labels": ') as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error.startswith("body is not valid JSON: Expecting value: line 1 column 13")


async def test_a_10_mb_body_is_a_413(api: str, http: aiohttp.ClientSession, store: Store) -> None:
    """A 10 MB body is refused with 413 as soon as the limit is passed, never parsed or stored."""
    host, port = api.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /api/v2/alerts HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {INGEST_TOKEN}\r\nContent-Length: {10_000_002}\r\n\r\n"
    )
    writer.write(head.encode() + b"[" + b" " * 2_000_000)
    # The server answers once the limit is passed, without waiting for the other 8 MB.
    status_line = await asyncio.wait_for(reader.readline(), 5)
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")
    assert b"larger than the limit of 1048576 bytes" in answer
    assert await store.alerts() == []


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer not-a-token-at-all", 401), (f"Bearer {READ_TOKEN}", 403)],
)
@pytest.mark.parametrize("path", ["/api/v2/alerts", "/api/v1/events"])
async def test_ingestion_needs_the_ingest_scope(
    api: str, store: Store, path: str, authorization: str | None, status: int
) -> None:
    """Without a token, with a wrong one, or with one lacking `ingest`, nothing is accepted."""
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as plain,
        plain.post(f"{api}{path}", json=[_valid("x")], headers=headers) as resp,
    ):
        assert resp.status == status
    assert await store.alerts() == []


EVENT: dict[str, Any] = {
    "source": "zabbix",
    "item": "web1",
    "check": "http",
    "severity": "critical",
    "status": "firing",
    "summary": "HTTP check failed",
    "description": "connection refused",
    "labels": {"site": "paris"},
    "time": "2027-01-15T07:59:00Z",
}


async def test_an_event_becomes_an_alert(
    api: str, http: aiohttp.ClientSession, store: Store
) -> None:
    """A generic event is stored with alertname/item/severity labels and summary annotations."""
    assert (await post(http, f"{api}/api/v1/events", EVENT)) == (200, "")
    [alert] = await store.alerts()
    assert dict(alert.labels) == {
        "alertname": "http",
        "item": "web1",
        "severity": "critical",
        "site": "paris",
    }
    assert dict(alert.annotations) == {
        "summary": "HTTP check failed",
        "description": "connection refused",
    }
    assert (alert.status, alert.starts_at, alert.ends_at) == (AlertStatus.FIRING, NOW - 60, None)
    assert alert.source == "zabbix"


async def test_a_list_of_events_resolves_what_fired(
    api: str, http: aiohttp.ClientSession, store: Store
) -> None:
    """A resolved event for the same item and check resolves the stored alert."""
    resolved = {k: v for k, v in EVENT.items() if k not in ("check", "time")}
    resolved |= {"alertname": "http", "status": "resolved"}
    assert (await post(http, f"{api}/api/v1/events", [EVENT, resolved]))[0] == 200
    [alert] = await store.alerts()
    assert (alert.status, alert.ends_at) == (AlertStatus.RESOLVED, NOW)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {k: v for k, v in EVENT.items() if k != "check"},
            "event: give exactly one of 'check' or 'alertname'",
        ),
        (
            [EVENT, dict(EVENT, status="open")],
            "event 1: status: must be one of 'firing' or 'resolved'; the other 1 of 2 were stored",
        ),
        (
            dict(EVENT, labels={"severity": "low"}),
            "event: labels: severity must not be given here: the event's own fields set them",
        ),
        (dict(EVENT, summary=""), "event: summary: must not be empty"),
        (
            dict(EVENT, source="check"),
            "event: source: 'check' is reserved for alerts made inside watchd",
        ),
        (dict(EVENT, host="web1"), "event: host: is not a known field"),
        ({k: v for k, v in EVENT.items() if k != "item"}, "event: item: is required"),
        ("web1 is down", "the body must be an event object or a list of them, not a string"),
    ],
)
async def test_bad_events_get_a_precise_400(
    api: str, http: aiohttp.ClientSession, store: Store, body: Any, message: str
) -> None:
    """A bad event gets 400 naming the event and field; only its valid neighbours are stored."""
    async with http.post(f"{api}/api/v1/events", json=body) as resp:
        assert resp.status == 400
        assert await resp.json() == {"error": message}
    assert len(await store.alerts()) == (len(body) - 1 if isinstance(body, list) else 0)


@pytest.fixture
async def impatient_store(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    """A store that waits only 200 ms for a lock held by another process before giving up."""
    monkeypatch.setattr("watchd.store.engine.BUSY_TIMEOUT_MS", 200)
    opened = await Store.open(f"sqlite:///{tmp_path}/locked.db", clock=clock)
    yield opened
    await opened.close()


async def test_a_locked_store_gets_503_and_the_retry_succeeds(
    impatient_store: Store, clock: FakeClock, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """While another writer holds the database, senders get 503 + Retry-After; then 200."""
    app = create_app(tokens=TOKENS, metrics=Metrics(), items=list, ready=lambda: True)
    add_routes(app, sink=StoringSink(impatient_store), clock=clock)
    runner = await start_api(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v2/alerts"
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        async with http.post(url, json=PROMETHEUS_BATCH) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert "could not be stored just now; retry later" in (await resp.json())["error"]
        other.execute("ROLLBACK")
        assert (await post(http, url, PROMETHEUS_BATCH))[0] == 200
        assert len(await impatient_store.alerts()) == 2
    finally:
        other.close()
        await runner.cleanup()


async def test_the_ingest_token_is_accepted(api: str) -> None:
    """A token with only the `ingest` scope may post alerts."""
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as plain,
        plain.post(f"{api}/api/v2/alerts", json=[_valid("x")], headers=headers) as resp,
    ):
        assert resp.status == 200


async def test_concurrent_requests_are_all_stored_before_their_200(
    api: str, http: aiohttp.ClientSession, store: Store
) -> None:
    """Requests committed together (group commit) each get 200 only once all are stored."""

    async def send(i: int) -> int:
        batch = [{"labels": {"alertname": "Burst", "n": f"{i}-{j}"}} for j in range(50)]
        return (await post(http, f"{api}/api/v2/alerts", batch))[0]

    statuses = await asyncio.gather(*(send(i) for i in range(16)))
    assert statuses == [200] * 16
    assert len(await store.alerts()) == 16 * 50


async def test_an_event_time_may_be_epoch_seconds(
    api: str, http: aiohttp.ClientSession, store: Store
) -> None:
    """An event's time may be given as seconds since the epoch as well as RFC 3339."""
    assert (await post(http, f"{api}/api/v1/events", dict(EVENT, time=NOW - 30)))[0] == 200
    [alert] = await store.alerts()
    assert alert.starts_at == NOW - 30
