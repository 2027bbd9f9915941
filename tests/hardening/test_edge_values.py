"""Issue 19, finding 1: a value the store cannot keep, or a time out of range, is refused alone."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from tests.api.ingest.test_ingest import EVENT as INGEST_EVENT
from tests.pipeline.conftest import Harness, alert
from watchd.incidents.payload import rfc3339

GOOD = {"labels": {"alertname": "Good", "instance": "web1:9100"}}
TOO_LATE = "9999-12-31T23:59:59-23:59"  # year 10000 in UTC

# A bad alert in the middle of three, and how the 400 names it.
BAD_ALERTS = [
    (
        {"labels": {"alertname": "Bad", "note": "a\u0000b"}},
        "alert 1: labels.note: must not contain the NUL character (\\u0000)",
    ),
    (
        {"labels": {"alertname": "Bad"}, "annotations": {"summary": "\u0000"}},
        "alert 1: annotations.summary: must not contain the NUL character (\\u0000)",
    ),
    (
        {"labels": {"alertname": "Bad"}, "generatorURL": "http://x/\u0000"},
        "alert 1: generatorURL: must not contain the NUL character (\\u0000)",
    ),
    (
        {"labels": {"alertname": "Bad", "note": "\ud800"}},
        "alert 1: labels.note: must be valid Unicode text (it holds a lone surrogate such as "
        "\\ud800)",
    ),
    (
        {"labels": {"alertname": "Bad"}, "startsAt": TOO_LATE},
        f"alert 1: startsAt: {TOO_LATE!r} is not in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z",
    ),
    (
        {"labels": {"alertname": "Bad"}, "endsAt": "1969-12-31T23:59:59Z"},
        "alert 1: endsAt: '1969-12-31T23:59:59Z' is not in "
        "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z",
    ),
]


def _body(items: list[Any]) -> bytes:
    # ensure_ascii keeps a lone surrogate as the escape "\ud800", as a sender's JSON has it.
    return json.dumps(items).encode()


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with http.post(url, data=body) as resp:
        return resp.status, await resp.text()


@pytest.mark.parametrize(("bad", "problem"), BAD_ALERTS)
async def test_a_bad_alert_is_refused_alone_with_a_400_naming_it(
    harness: Harness, ingest_api: str, http: aiohttp.ClientSession, bad: Any, problem: str
) -> None:
    """An alert with NUL, a lone surrogate or an impossible time gets a 400 naming its index
    and key; its two neighbours in the same request are stored."""
    first = {"labels": {"alertname": "First"}}
    status, text = await _post(http, f"{ingest_api}/api/v2/alerts", _body([first, bad, GOOD]))
    assert (status, json.loads(text)) == (
        400,
        {"error": f"{problem}; the other 2 of 3 were stored"},
    )
    assert sorted(a.name for a in await harness.store.alerts()) == ["First", "Good"]


EVENT = {k: v for k, v in INGEST_EVENT.items() if k != "time"}


@pytest.mark.parametrize(
    ("raw_time", "problem"),
    [
        (
            "1e12",
            "1000000000000.0 is not a time in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z "
            "as seconds since the epoch (seconds, not milliseconds)",
        ),
        (
            "-1",
            "-1 is not a time in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z "
            "as seconds since the epoch",
        ),
        ("NaN", "must be a finite number of seconds since the epoch"),
        ("-Infinity", "must be a finite number of seconds since the epoch"),
        (
            json.dumps(TOO_LATE),
            f"{TOO_LATE!r} is not in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z",
        ),
    ],
)
async def test_an_event_time_out_of_range_is_refused_alone(
    harness: Harness,
    ingest_api: str,
    http: aiohttp.ClientSession,
    raw_time: str,
    problem: str,
) -> None:
    """An event whose `time` is 1e12, negative, NaN, infinite or past year 9999 gets a 400
    naming it; the event beside it is stored."""
    good = json.dumps(EVENT)
    bad = json.dumps(dict(EVENT, check="disk"))[:-1] + f', "time": {raw_time}}}'
    body = f"[{bad}, {good}]".encode()
    status, text = await _post(http, f"{ingest_api}/api/v1/events", body)
    assert (status, json.loads(text)) == (
        400,
        {"error": f"event 0: time: {problem}; the other 1 of 2 were stored"},
    )
    assert [a.name for a in await harness.store.alerts()] == ["http"]


@pytest.mark.parametrize("starts_at", [1e12, -1e12, 253_402_387_139.0, math.inf, -math.inf])
async def test_notifications_are_built_for_any_stored_time(
    harness: Harness, starts_at: float
) -> None:
    """An alert stored with a time no datetime can hold (from before ingestion refused them)
    still opens its incident and queues its notifications, the time shown at its nearest end."""
    await harness.send(replace(alert("db1"), starts_at=starts_at))
    [(_, kind)] = await harness.notifications()
    assert kind == "opened"


def test_rfc3339_shows_every_float() -> None:
    """Every float becomes an RFC 3339 text: out of range at the nearest end, NaN as unset."""
    assert rfc3339(1e12) == rfc3339(math.inf) == "9999-12-31T23:59:59Z"
    assert rfc3339(-1e12) == rfc3339(-math.inf) == rfc3339(math.nan) == "0001-01-01T00:00:00Z"
    assert rfc3339(1_800_000_000.5) == "2027-01-15T08:00:00.500000Z"
