"""Issue 19, finding 1: alerts committed together never fail together for one bad alert."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace

import aiohttp

from tests.pipeline.conftest import Harness, alert
from watchd.ingest.journal import IngestJournal
from watchd.ingest.payloads import parse_alertmanager
from watchd.model import Alert
from watchd.pipeline.buffer import BufferedSink
from watchd.store import StoreError

REQUESTS = 40
BAD = 17


def refused_by_store(harness: Harness) -> Alert:
    """An alert the edge would refuse but the store itself refuses here, for real: PostgreSQL
    cannot hold a NUL in text, SQLite's NOT NULL column turns NaN into a constraint error."""
    if harness.store.engine.dialect.name == "postgresql":
        return alert("db\u0000")
    return replace(alert("db1", name="check_nan"), starts_at=math.nan)


async def test_a_bad_alert_among_40_concurrent_requests_is_refused_alone(
    harness: Harness, ingest_api: str, http: aiohttp.ClientSession
) -> None:
    """Of 40 requests sent at once, the one with a NUL in a label gets 400 naming it and the
    other 39 get 200 and are stored (they used to get 503 on PostgreSQL)."""

    async def send(i: int) -> tuple[int, str]:
        labels = {"alertname": "Burst", "item": f"web{i}" + ("\u0000" if i == BAD else "")}
        async with http.post(f"{ingest_api}/api/v2/alerts", json=[{"labels": labels}]) as resp:
            return resp.status, await resp.text()

    answers = await asyncio.gather(*(send(i) for i in range(REQUESTS)))
    assert [status for status, _ in answers] == [400 if i == BAD else 200 for i in range(REQUESTS)]
    assert json.loads(answers[BAD][1]) == {
        "error": "alert 0: labels.item: must not contain the NUL character (\\u0000)"
    }
    stored = sorted(a.labels["item"] for a in await harness.store.alerts())
    assert stored == sorted(f"web{i}" for i in range(REQUESTS) if i != BAD)


async def test_a_group_commit_the_store_refuses_is_retried_request_by_request(
    harness: Harness,
) -> None:
    """When the store refuses one alert of a group commit, the other 39 requests committed with
    it are stored and answered as such; the culprit alone is refused, never a 503 outage."""
    committer = IngestJournal(None, harness.pipeline, clock=harness.clock)
    bad = refused_by_store(harness)

    async def submit(i: int) -> str:
        one = bad if i == BAD else alert(f"web{i}")
        try:
            refused = await committer.submit((one,))
        except StoreError as exc:
            return exc.reason
        return "refused" if refused else "stored"

    outcomes = await asyncio.gather(*(submit(i) for i in range(REQUESTS)))
    assert outcomes == ["refused" if i == BAD else "stored" for i in range(REQUESTS)]
    assert len(await harness.store.alerts()) == REQUESTS - 1


async def test_the_retry_buffer_drops_an_alert_the_store_refuses_instead_of_retrying_it(
    harness: Harness,
) -> None:
    """A check's alert the store refuses is logged, counted and dropped; the alerts submitted
    with it are stored and nothing waits behind it forever."""
    buffer = BufferedSink(harness.pipeline, clock=harness.clock)
    batch = (*(alert(f"web{i}") for i in range(9)), refused_by_store(harness))
    await buffer.submit(batch)
    assert buffer.pending == 0
    assert len(await harness.store.alerts()) == 9
    assert buffer.refused == 1


def test_an_alert_the_store_refuses_is_named_by_its_index_in_the_request() -> None:
    """The 400 names an alert the store refused by its index in the sender's list, after the
    alerts refused at the edge, and says how many of the request were stored."""
    body = json.dumps([{"labels": {}}, {"labels": {"a": "1"}}, {"labels": {"a": "2"}}]).encode()
    parsed = parse_alertmanager(body, now=1_800_000_000.0, resolve_timeout=300.0)
    assert parsed.without([(0, "invalid byte sequence")]).message() == (
        "alert 0: labels: must contain at least one label; "
        "alert 1: the store refused it: invalid byte sequence; the other 1 of 3 were stored"
    )
