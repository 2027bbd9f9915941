"""Issue 19: a property-based fuzzer (hypothesis) over every write endpoint of the API.

Each example sends one request to one of the write routes (alert and event ingestion, incident
actions, silences of both APIs, changes, problems, ack links, login) of a served API over a real store,
with bodies, ids and form fields drawn from valid shapes mutated by hostile values (NUL, lone
surrogates, huge or non-finite numbers, impossible times, wrong types, deep junk). It checks:

* no answer is a 5xx;
* nothing is half-stored: a refused request (4xx) changes no table, and an ingestion request
  stores exactly the alerts its answer does not name (each alert carries a unique marker).

The default run is short (WATCHD_FUZZ_EXAMPLES, 150 examples per store); set it higher for a
longer search, e.g. WATCHD_FUZZ_EXAMPLES=5000.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.hardening.served import Served, served_api
from watchd.notify.acklinks import Recipient, make_token

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("WATCHD_FUZZ_EXAMPLES", "150"))
TABLES = (
    "alerts",
    "incidents",
    "incident_alerts",
    "incident_events",
    "outbox",
    "silences",
    "changes",
    "problems",
)
ACK_KEY = b"k" * 32  # the key tests.hardening.served gives the ack routes
T = TypeVar("T")


@dataclass
class World:
    """The served API, run on its own event loop in a thread so hypothesis can drive it."""

    served: Served
    loop: asyncio.AbstractEventLoop
    http: aiohttp.ClientSession

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def counts(self) -> dict[str, int]:
        async with self.served.engine.connect() as conn:
            return {
                table: int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
                for table in TABLES
            }

    async def markers(self) -> set[str]:
        """The fuzz markers of the stored alerts."""
        async with self.served.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT labels FROM alerts"))).scalars().all()
        labels = [json.loads(row) if isinstance(row, str) else row for row in rows]
        return {found["fuzz"] for found in labels if "fuzz" in found}

    async def send(
        self, method: str, path: str, body: bytes | None, content_type: str
    ) -> tuple[int, str]:
        headers = {"Content-Type": content_type} if body is not None else {}
        url = self.served.base + path
        async with self.http.request(method, url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()


@pytest.fixture
def world(fresh_db_url: str) -> Iterator[World]:
    """The API of tests.hardening.served over SQLite or PostgreSQL, on a loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzzed-api", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    served_cm = served_api(fresh_db_url)
    served = run(served_cm.__aenter__())

    async def session() -> aiohttp.ClientSession:
        # A fresh connection per request: a request with a broken body may end its connection.
        connector = aiohttp.TCPConnector(force_close=True)
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))

    http = run(session())
    try:
        yield World(served, loop, http)
    finally:
        run(http.close())
        run(served_cm.__aexit__(None, None, None))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- what the fuzzer sends ---------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "²",
    "9" * 26,
    "-1",
    "NaN",
    "Infinity",
    "web1",
    '"',
    "\\",
    "<script>",
    "é" * 300,
    "\u202e",
]
TIMES = [
    "2027-01-15T08:00:00Z",
    "2027-01-15T08:10:00+02:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-23:59",
    "1969-12-31T23:59:59Z",
    "2027-01-15T08:00:00",
    "yesterday",
    1_800_000_000,
    1_800_000_600.5,
    1e12,
    1e300,
    -1,
    0,
    10**30,
]

texts = st.one_of(
    st.text("abcxyz019 _-.:/", min_size=1, max_size=8),  # plain values, so most alerts are stored
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=12),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=6),
)
label_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True)
names = st.one_of(label_name, label_name, texts)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**45), max_value=10**45),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
times = st.one_of(st.sampled_from(TIMES), st.floats(allow_nan=True))


@st.composite
def fields(
    draw: Callable[[st.SearchStrategy[Any]], Any],
    required: dict[str, Any],
    optional: dict[str, Any],
) -> Any:
    """An object of the endpoint's shape, its values drawn hostile (NUL, surrogates, extreme
    times), then at most two fields replaced by junk, dropped, or added unknown."""
    found = {key: draw(strategy) for key, strategy in required.items()}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            found[key] = draw(strategy)
    keys = sorted({*required, *optional, "unknown_field"})
    for key in draw(st.lists(st.sampled_from(keys), max_size=2, unique=True)):
        if draw(st.booleans()):
            found[key] = draw(junk)
        else:
            found.pop(key, None)
    return found


label_sets = st.dictionaries(names, texts, max_size=3)
alerts = fields(
    {"labels": label_sets},
    {
        "annotations": st.dictionaries(names, texts, max_size=2),
        "startsAt": times,
        "endsAt": times,
        "generatorURL": texts,
    },
)
events = fields(
    {
        "source": st.one_of(st.just("zabbix"), texts),
        "item": st.one_of(st.just("web1"), texts),
        "check": st.one_of(st.just("http"), texts),
        "severity": st.one_of(st.just("critical"), texts),
        "status": st.sampled_from(["firing", "resolved"]),
        "summary": st.one_of(st.just("down"), texts),
        "labels": label_sets,
    },
    {"time": times, "description": texts, "alertname": texts},
)
matchers = st.one_of(
    st.sampled_from(['item="web1"', 'alertname=~"Http.*"', "item!=db1", "(a+)+b=~x"]), texts
)
silences = fields(
    {"matchers": st.lists(matchers, max_size=3)},
    {
        "starts_at": times,
        "ends_at": times,
        "duration": st.one_of(st.sampled_from(["1h", "0s", "-5m", "99999999d"]), texts),
        "created_by": texts,
        "comment": texts,
    },
)
changes = fields(
    {
        "item": st.one_of(st.just("web1"), texts),
        "summary": st.one_of(st.just("patch"), texts),
        "starts_at": times,
        "ends_at": times,
    },
    {"ticket": texts, "created_by": texts},
)
ids = st.one_of(st.sampled_from(["1", "2", "0", "-1", "²", "1" * 26, "1e3", "x"]), texts)
am_times = st.one_of(
    st.just("2027-01-15T09:00:00Z"),  # an hour after the served clock's start: valid
    times,
    st.sampled_from(
        [
            "2027-01-15T08:00:00Z",
            "2027-01-15T08:00:00",
            "9999-12-31T23:59:59-23:00",
            "0001-01-01T00:00:00+01:00",
            "2027-02-30T00:00:00Z",
        ]
    ),
    texts,
)
am_silences = fields(
    {
        "matchers": st.lists(
            fields(
                {"name": names, "value": texts, "isRegex": st.booleans()},
                {"isEqual": st.booleans()},
            ),
            min_size=1,  # none is a plain 400; the fields' mutations still send none
            max_size=3,
        ),
        "startsAt": am_times,
        "endsAt": am_times,
        "createdBy": texts,
        "comment": texts,
    },
    {"id": st.one_of(ids, st.just("00000000-0000-0000-0000-000000000000"))},
)
actions = st.one_of(
    fields({}, {"by": texts, "comment": texts}), fields({"text": texts}, {"by": texts})
)


def _quote(value: str) -> str:
    return urllib.parse.quote(value.encode("utf-8", "surrogatepass"), safe="")


def _json(value: Any) -> bytes:
    # Python's encoder writes NaN and Infinity as JavaScript does: hostile input on purpose.
    return json.dumps(value).encode()


def _form(values: dict[str, str]) -> bytes:
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in values.items()).encode()


_seq = itertools.count()


def _mark(items: list[Any]) -> dict[int, str]:
    """Give each alert or event with a label object a unique `fuzz` label; by index."""
    marked = {}
    for i, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("labels"), dict):
            item["labels"]["fuzz"] = marked[i] = f"m{next(_seq)}"
    return marked


# --- the property ------------------------------------------------------------------------------

NAMED = re.compile(r"(?:^|; )(?:alert|event)(?: (\d+))?: ")


def _check_ingested(
    status: int, answer: str, items: list[Any], marked: dict[int, str], stored: set[str]
) -> None:
    """Exactly the alerts the answer does not name are stored."""
    if status == 200:
        refused: set[int] = set()
    else:
        message = json.loads(answer)["error"]
        if "more problems" in message:
            return  # names only the first ten: nothing exact to check
        refused = {int(m.group(1) or 0) for m in NAMED.finditer(message)}
        if not NAMED.match(message):
            refused = set(range(len(items)))  # the body itself was refused
    for i, marker in marked.items():
        assert (marker in stored) == (i not in refused), (i, answer)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_write_endpoint_answers_5xx_or_stores_half_a_request(
    world: World, data: st.DataObject
) -> None:
    """Whatever a client sends to a write endpoint, it gets a 2xx or a 4xx, never a 5xx; a
    refused request changes nothing, and ingestion stores exactly the alerts it did not refuse."""
    incident = str(world.served.incident_id)
    route = data.draw(
        st.sampled_from(
            [
                "alerts",
                "alerts",
                "events",
                "events",
                "action",
                "silence",
                "expire",
                "am_silence",
                "am_expire",
                "change",
                "end",
                "problem",
                "ack",
                "login",
            ]
        )
    )
    items: list[Any] = []
    marked: dict[int, str] = {}
    content = "application/json"
    if route in ("alerts", "events"):
        shape = alerts if route == "alerts" else events
        body_value = data.draw(st.one_of(st.lists(shape, min_size=1, max_size=4), shape, junk))
        items = body_value if isinstance(body_value, list) else [body_value]
        marked = _mark(items) if isinstance(body_value, list) or route == "events" else {}
        path = "/api/v2/alerts" if route == "alerts" else "/api/v1/events"
        method, body = "POST", _json(body_value)
    elif route == "action":
        name = data.draw(st.sampled_from(["ack", "unack", "resolve", "close", "comment"]))
        target = data.draw(st.one_of(st.just(incident), ids))
        method, path = "POST", f"/api/v1/incidents/{_quote(target)}/{name}"
        body = _json(data.draw(actions))
    elif route in ("silence", "change"):
        method, path = "POST", f"/api/v1/{route}s"
        body = _json(data.draw(silences if route == "silence" else changes))
    elif route in ("expire", "end"):
        kind = "silences" if route == "expire" else "changes"
        method, path, body = "DELETE", f"/api/v1/{kind}/{_quote(data.draw(ids))}", None
    elif route == "am_silence":
        method, path, body = "POST", "/api/v2/silences", _json(data.draw(am_silences))
    elif route == "am_expire":
        method, path, body = "DELETE", f"/api/v2/silence/{_quote(data.draw(ids))}", None
    elif route == "problem":
        method, path = "POST", f"/api/v1/problems/{_quote(data.draw(ids))}/close"
        body = _json(data.draw(actions))
    elif route == "ack":
        genuine = make_token(ACK_KEY, int(incident), 1e10, Recipient("pager", "alice"))
        token = data.draw(st.one_of(st.just(genuine), texts, st.just(genuine[:-3] + "AAA")))
        method, path = "POST", f"/ack/{_quote(token)}"
        body, content = _form({"name": data.draw(texts)}), "application/x-www-form-urlencoded"
    else:
        form = data.draw(st.dictionaries(st.sampled_from(["token", "next"]), texts))
        method, path = "POST", "/login"
        body, content = _form(form), "application/x-www-form-urlencoded"

    before = world.run(world.counts())
    status, answer = world.run(world.send(method, path, body, content))
    event(f"{route} {status // 100}xx")  # the statistics (--hypothesis-show-statistics)
    assert status < 500, (method, path, body, answer)
    if route in ("alerts", "events"):
        if status in (200, 400):
            _check_ingested(status, answer, items, marked, world.run(world.markers()))
    elif status >= 400:
        assert world.run(world.counts()) == before, (method, path, body, answer)
