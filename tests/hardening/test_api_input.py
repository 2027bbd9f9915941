"""Issue 19, findings 8 and 9: malformed input to the API gets a 4xx naming what is wrong, never
a 500, and the API answers strict JSON only."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.hardening.served import Served, served_api

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_api(f"sqlite:///{tmp_path}/watchd.db") as served:
        yield served


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A fresh connection per request: a request with a broken body may end its connection.
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    """(status, parsed body); the body must be strict JSON (no NaN or Infinity)."""
    async with http.request(method, url, **kwargs) as resp:
        text = await resp.text()
    assert resp.content_type == "application/json", text
    return resp.status, json.loads(text, parse_constant=_refuse)


def _refuse(name: str) -> Any:
    raise AssertionError(f"the API answered non-JSON {name}")


SILENCE = '{{"matchers": ["item=\\"web1\\""], "ends_at": {end}}}'
CHANGE = '{{"item": "web1", "summary": "patch", "starts_at": 1800000000, "ends_at": {end}}}'


@pytest.mark.parametrize("end", ["1e300", "1e13", "-5", '"9999-12-31T23:59:59-23:59"'])
@pytest.mark.parametrize(("path", "template"), [("silences", SILENCE), ("changes", CHANGE)])
async def test_an_end_past_year_9999_is_refused_naming_the_field(
    api: Served, http: aiohttp.ClientSession, path: str, template: str, end: str
) -> None:
    """A silence or change ending at 1e300, 1e13 or past year 9999 gets 400 naming `ends_at`,
    and nothing is stored."""
    url = f"{api.base}/api/v1/{path}"
    status, body = await call(http, "POST", url, data=template.format(end=end), headers=JSON)
    assert status == 400
    assert "ends_at" in body["error"] and "9999-12-31" in body["error"]
    status, listed = await call(http, "GET", url)
    assert status == 200 and listed[path] == []


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
@pytest.mark.parametrize(("path", "template"), [("silences", SILENCE), ("changes", CHANGE)])
async def test_infinity_and_nan_are_not_json(
    api: Served, http: aiohttp.ClientSession, path: str, template: str, constant: str
) -> None:
    """`Infinity` or `NaN` in a body is refused as not JSON (400), never stored or a 500."""
    url = f"{api.base}/api/v1/{path}"
    status, body = await call(http, "POST", url, data=template.format(end=constant), headers=JSON)
    assert status == 400
    assert f"{constant} is not a JSON number" in body["error"]


async def test_a_silence_duration_too_long_to_end_is_refused(
    api: Served, http: aiohttp.ClientSession
) -> None:
    """A silence `duration` of 10^400 seconds (infinite as a float) gets 400 naming `duration`."""
    body = {"matchers": ['item="web1"'], "duration": "9" * 400 + "s"}
    status, answer = await call(http, "POST", f"{api.base}/api/v1/silences", json=body)
    assert status == 400 and "'duration'" in answer["error"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/incidents/²", 400),
        ("/api/v1/incidents/12345678901234567890123456", 404),
        ("/api/v1/incidents/9223372036854775808", 404),
        ("/incidents/²", 404),
        ("/incidents/12345678901234567890123456", 404),
    ],
)
async def test_ids_that_are_no_stored_number_get_400_or_404(
    api: Served, http: aiohttp.ClientSession, path: str, status: int
) -> None:
    """An id like "²" (a digit to Python, not a number) or one of 26 digits (more than any
    stored id) gets 400 or 404 naming it, not a 500."""
    got, body = await call(http, "GET", api.base + path)
    assert got == status, body
    assert "incident" in body["error"]


async def test_actions_on_an_overlong_id_get_404(api: Served, http: aiohttp.ClientSession) -> None:
    """Acknowledging incident 10^25, closing problem 10^25 or ending change 10^25 is a 404."""
    huge = "1" + "0" * 25
    for method, path in (
        ("POST", f"/api/v1/incidents/{huge}/ack"),
        ("POST", f"/api/v1/problems/{huge}/close"),
        ("DELETE", f"/api/v1/changes/{huge}"),
    ):
        status, body = await call(http, method, api.base + path, json={})
        assert status == 404, (path, body)


async def test_a_query_number_like_superscript_two_is_a_400(
    api: Served, http: aiohttp.ClientSession
) -> None:
    """`?incident=²` or a 26-digit `limit` on the delivery log gets 400 naming the parameter."""
    for query in ("incident=%C2%B2", "limit=" + "9" * 26):
        status, body = await call(http, "GET", f"{api.base}/api/v1/deliveries?{query}")
        assert status == 400, body
        assert query.split("=")[0] in body["error"]


async def test_a_zero_padded_id_names_the_same_incident_in_a_path_and_a_query(
    api: Served, http: aiohttp.ClientSession
) -> None:
    """An id written with leading zeros, 24 characters long, reads as the same number in a
    path and in a query (the path took it as "no such incident", the query refused it)."""
    padded = str(api.incident_id).rjust(24, "0")
    status, body = await call(http, "GET", f"{api.base}/api/v1/incidents/{padded}")
    assert status == 200, body
    assert body["id"] == api.incident_id
    status, body = await call(http, "GET", f"{api.base}/api/v1/deliveries?incident={padded}")
    assert status == 200, body


async def test_deep_nesting_is_a_400(api: Served, http: aiohttp.ClientSession) -> None:
    """A body nested 100,000 arrays deep (RecursionError in the parser) gets 400 saying so."""
    deep = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}"
    url = f"{api.base}/api/v1/incidents/{api.incident_id}/comment"
    status, body = await call(http, "POST", url, data=deep, headers=JSON)
    assert status == 400 and "nested" in body["error"]


async def test_a_5000_digit_integer_is_a_400(api: Served, http: aiohttp.ClientSession) -> None:
    """A 5,000-digit integer (over Python's int-string limit) gets 400 naming its size, on the
    silence and change routes and on alert and event ingestion."""
    huge = "9" * 5000
    for path, data in (
        ("/api/v1/changes", '{"ends_at": ' + huge + "}"),
        ("/api/v1/silences", '{"ends_at": ' + huge + "}"),
        ("/api/v2/alerts", '[{"labels": {"alertname": "A"}, "startsAt": ' + huge + "}]"),
        ("/api/v1/events", '{"item": "web1", "time": ' + huge + "}"),
    ):
        status, body = await call(http, "POST", api.base + path, data=data, headers=JSON)
        assert status == 400 and "5000 digits" in body["error"], (path, body)


@pytest.mark.parametrize(
    ("encoding", "data", "status"),
    [("gzip", b"this is not gzip", 400), ("deflate", b"nor deflate", 400), ("xz", b"{}", 415)],
)
async def test_a_bad_content_encoding_is_a_4xx(
    api: Served, http: aiohttp.ClientSession, encoding: str, data: bytes, status: int
) -> None:
    """A body that does not decode as its Content-Encoding says gets 400; an encoding the
    server does not decode gets 415; both name the encoding."""
    url = f"{api.base}/api/v1/incidents/{api.incident_id}/comment"
    headers = {**JSON, "Content-Encoding": encoding}
    got, body = await call(http, "POST", url, data=data, headers=headers)
    assert got == status and encoding in body["error"]


async def test_a_gzip_body_still_works(api: Served, http: aiohttp.ClientSession) -> None:
    """A well-formed gzip body is read as before."""
    url = f"{api.base}/api/v1/incidents/{api.incident_id}/comment"
    data = gzip.compress(b'{"text": "zipped", "by": "ana"}')
    headers = {**JSON, "Content-Encoding": "gzip"}
    status, _ = await call(http, "POST", url, data=data, headers=headers)
    assert status == 200


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("multipart/form-data; boundary=xx", b"--xx\r\nbroken"),
        ("multipart/form-data", b"--xx\r\nContent-Disposition: form-data\r\n\r\n"),
        ("multipart/form-data; boundary=xx", b"--xx\r\nContent-Disposition: x\r\n\r\nv\r\n--xx--"),
    ],
)
async def test_malformed_multipart_on_login_is_a_400(
    api: Served, http: aiohttp.ClientSession, content_type: str, data: bytes
) -> None:
    """A malformed multipart form posted to /login (no token needed) gets 400, not 500."""
    status, body = await call(
        http, "POST", f"{api.base}/login", data=data, headers={"Content-Type": content_type}
    )
    assert status == 400 and "form" in body["error"]


@pytest.mark.parametrize("period", ["9999-12", "0000-01", "1969-12"])
async def test_a_report_month_out_of_range_is_a_400(
    api: Served, http: aiohttp.ClientSession, period: str
) -> None:
    """`period=9999-12` (its end is past year 9999) gets 400 naming the period."""
    url = f"{api.base}/api/v1/reports/availability?period={period}"
    status, body = await call(http, "GET", url)
    assert status == 400 and period in body["error"]


@pytest.mark.parametrize(
    ("text", "what"), [("fixed \\ud800", "lone surrogate"), ("fixed \\u0000", "NUL character")]
)
async def test_text_no_store_can_hold_gets_a_clear_400_on_both_stores(
    fresh_db_url: str, http: aiohttp.ClientSession, text: str, what: str
) -> None:
    """`"\\ud800"` or `"\\u0000"` in an ack comment, a change summary or a silence comment gets
    400 naming the field and what is wrong (on PostgreSQL a NUL was a 500), storing nothing."""
    async with served_api(fresh_db_url) as api:
        url = f"{api.base}/api/v1/incidents/{api.incident_id}/ack"
        data = '{"by": "ana", "comment": "TEXT"}'.replace("TEXT", text)
        status, body = await call(http, "POST", url, data=data, headers=JSON)
        assert status == 400
        assert "'comment'" in body["error"] and what in body["error"]
        status, shown = await call(http, "GET", f"{api.base}/api/v1/incidents/{api.incident_id}")
        assert shown["state"] == "open"
        change = CHANGE.format(end="1.9e9").replace('"patch"', f'"{text}"')
        silence = SILENCE.format(end="1.9e9").replace("}", f', "comment": "{text}"}}')
        for path, data, field in (("changes", change, "summary"), ("silences", silence, "comment")):
            url = f"{api.base}/api/v1/{path}"
            status, body = await call(http, "POST", url, data=data, headers=JSON)
            assert status == 400 and f"'{field}'" in body["error"] and what in body["error"]
            status, listed = await call(http, "GET", url)
            assert listed[path] == []


async def test_a_body_that_is_not_utf8_is_a_400(api: Served, http: aiohttp.ClientSession) -> None:
    """A body with bytes that are not UTF-8 gets 400 saying so."""
    url = f"{api.base}/api/v1/incidents/{api.incident_id}/comment"
    status, body = await call(http, "POST", url, data=b'{"text": "\xff"}', headers=JSON)
    assert status == 400 and "UTF-8" in body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/silences/%00",
        "/api/v1/incidents?state=%00",
        "/api/v1/incidents?item=web1%00",
        "/api/v1/deliveries?receiver=%00",
        "/api/v1/alerts?status=%00",
        "/api/v1/problems?state=%00",
    ],
)
async def test_a_nul_in_a_path_or_query_is_a_400_on_both_stores(
    fresh_db_url: str, http: aiohttp.ClientSession, path: str
) -> None:
    """A NUL in an id or a filter gets 400 naming it on both stores: on PostgreSQL it failed
    the query, a 500 (or a 503 "retry later" that no retry would fix)."""
    async with served_api(fresh_db_url) as api:
        method = "DELETE" if "silences" in path else "GET"
        status, body = await call(http, method, api.base + path)
        assert status == 400 and "NUL" in body["error"], body
