"""Tests for bearer-token scopes, JSON errors and the request size limit."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import pytest
from aiohttp import web

from watchd.api import ApiError, public, require_scope
from watchd.logging import configure_logging

pytestmark = pytest.mark.integration
Serve = Callable[[web.Application], Awaitable[str]]
Headers = dict[str, dict[str, str]]


@require_scope("ingest")
async def ingest(request: web.Request) -> web.Response:
    """A test-only ingestion route: reads the whole body, as real ingestion handlers do."""
    body = await request.read()
    if not body:
        raise ApiError(400, "The request body is empty.")
    if request.content_type == "application/json":
        return web.json_response({"received": await request.json()})
    return web.json_response({"received": len(body)})


async def undeclared(request: web.Request) -> web.Response:
    return web.json_response({"secret": "data"})


@public
async def broken(request: web.Request) -> web.Response:
    raise RuntimeError("a bug in a handler")


@pytest.fixture
async def base(make_app: Callable[..., web.Application], serve: Serve) -> str:
    """The app with the test tokens, a 2 KiB body limit and the test-only routes added."""
    app = make_app(max_body_bytes=2048)
    app.router.add_post("/test/ingest", ingest)
    app.router.add_get("/test/undeclared", undeclared)
    app.router.add_get("/test/broken", broken)
    return await serve(app)


async def test_missing_token_gets_401_with_a_bearer_challenge(
    base: str, http: aiohttp.ClientSession
) -> None:
    """Without an Authorization header a protected route answers 401 and WWW-Authenticate."""
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Bearer" in (await resp.json())["error"]


@pytest.mark.parametrize(
    "header", ["Bearer not-a-configured-token", "Basic dXNlcjpwYXNz", "Bearer"]
)
async def test_wrong_or_malformed_token_gets_401(
    base: str, http: aiohttp.ClientSession, header: str
) -> None:
    """An unknown token, another scheme or an empty bearer value is refused with 401."""
    async with http.get(f"{base}/api/v1/items", headers={"Authorization": header}) as resp:
        assert resp.status == 401
        assert "WWW-Authenticate" in resp.headers
        assert isinstance((await resp.json())["error"], str)


async def test_token_without_the_scope_gets_403(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A valid token lacking the route's scope is refused with 403 naming the scope."""
    async with http.get(f"{base}/metrics", headers=auth["ingest"]) as resp:
        assert resp.status == 403
        assert "'read'" in (await resp.json())["error"]
    async with http.post(f"{base}/test/ingest", headers=auth["read"], data=b"x") as resp:
        assert resp.status == 403
        assert "'ingest'" in (await resp.json())["error"]


async def test_token_with_the_scope_is_served(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A token carrying the route's scope gets 200, whichever other scopes it has."""
    for name in ("read", "write"):
        async with http.get(f"{base}/metrics", headers=auth[name]) as resp:
            assert resp.status == 200
    async with http.post(f"{base}/test/ingest", headers=auth["ingest"], data=b"abc") as resp:
        assert resp.status == 200
        assert await resp.json() == {"received": 3}


async def test_a_route_without_a_declared_scope_needs_read(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Forgetting require_scope never makes a route public: it needs the read scope."""
    async with http.get(f"{base}/test/undeclared") as resp:
        assert resp.status == 401
    async with http.get(f"{base}/test/undeclared", headers=auth["ingest"]) as resp:
        assert resp.status == 403
    async with http.get(f"{base}/test/undeclared", headers=auth["read"]) as resp:
        assert resp.status == 200


async def test_no_tokens_configured_means_no_authentication(
    make_app: Callable[..., web.Application], serve: Serve, http: aiohttp.ClientSession
) -> None:
    """With an empty token mapping every route answers without a token."""
    base = await serve(make_app(tokens={}))
    for path in ("/metrics", "/api/v1/items"):
        async with http.get(f"{base}{path}") as resp:
            assert resp.status == 200


async def test_a_body_over_the_limit_gets_a_json_413(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A request body larger than max_body_bytes is refused with 413 and a JSON sentence."""
    async with http.post(f"{base}/test/ingest", headers=auth["ingest"], data=b"x" * 2048) as resp:
        assert resp.status == 200
    async with http.post(f"{base}/test/ingest", headers=auth["ingest"], data=b"x" * 4096) as resp:
        assert resp.status == 413
        assert "2048 bytes" in (await resp.json())["error"]


async def test_errors_are_json_sentences(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Handler errors, bad JSON, unknown paths and wrong methods all answer {"error": "..."}."""
    as_json = {**auth["ingest"], "Content-Type": "application/json"}
    not_json = (
        "The request body is not valid JSON: Expecting property name enclosed in double quotes."
    )
    cases = [
        ("POST", "/test/ingest", auth["ingest"], b"", 400, "The request body is empty."),
        ("POST", "/test/ingest", as_json, b"{nope", 400, not_json),
        ("GET", "/nowhere", auth["read"], b"", 404, "There is no endpoint at /nowhere."),
        (
            "DELETE",
            "/metrics",
            auth["read"],
            b"",
            405,
            "The method DELETE is not allowed on /metrics.",
        ),
    ]
    for method, path, headers, body, status, sentence in cases:
        async with http.request(method, f"{base}{path}", headers=headers, data=body) as resp:
            assert resp.status == status
            assert resp.content_type == "application/json"
            assert await resp.json() == {"error": sentence}
    async with http.post(f"{base}/test/ingest", headers=as_json, data=b'{"a": 1}') as resp:
        assert await resp.json() == {"received": {"a": 1}}


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "stream", None) is stream]:
        root.removeHandler(handler)


async def test_a_failing_handler_gives_500_and_logs_without_the_token(
    base: str, http: aiohttp.ClientSession, auth: Headers, log_stream: io.StringIO
) -> None:
    """An unexpected exception is a JSON 500 and one log line that never contains the token."""
    async with http.get(f"{base}/test/broken", headers=auth["write"]) as resp:
        assert resp.status == 500
        assert "error" in await resp.json()
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["api handler failed"]
    assert records[0]["path"] == "/test/broken"
    assert "RuntimeError: a bug in a handler" in records[0]["exception"]
    token = auth["write"]["Authorization"].split()[1]
    assert token not in log_stream.getvalue()
