"""The http collector against real loopback servers: statuses, redirects, bodies, TLS, failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import trustme
from aiohttp import web

from collectors.http import HttpCollector, HttpConfig
from tests.peers import require_installed
from watchd.config import parse_config
from watchd.configbase import ConfigError
from watchd.model import CheckContext, CheckResult, Status
from watchd.secrets import SecretRef

pytestmark = pytest.mark.integration

Serve = Callable[..., Awaitable[str]]  # the `serve` fixture of conftest.py


PEERS: web.AppKey[list[int]] = web.AppKey("peers", list[int])


def _app() -> web.Application:
    """A small site with the answers the tests need; /echo records each client port."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="hello world, all systems go")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status page")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query["seconds"]))
        return web.Response(text="late")

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="x" * 100_000 + "TAIL")

    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        request.app[PEERS].append(peer[1] if peer else 0)
        reply = {
            "method": request.method,
            "body": body,
            "auth": request.headers.get("Authorization", ""),
            "agent": request.headers.get("User-Agent", ""),
        }
        return web.json_response(reply)

    async def login(request: web.Request) -> web.Response:
        found = web.HTTPFound("/private")
        found.set_cookie("session", "s1")
        raise found

    async def private(request: web.Request) -> web.Response:
        if request.cookies.get("session") != "s1":
            return web.Response(status=403, text="who are you?")
        return web.Response(text="members only")

    async def visit(request: web.Request) -> web.Response:
        seen = "seen" in request.cookies
        response = web.Response(text="welcome back" if seen else "first visit")
        response.set_cookie("seen", "1")
        return response

    app = web.Application()
    app[PEERS] = []
    app.router.add_get("/login", login)
    app.router.add_get("/private", private)
    app.router.add_get("/visit", visit)
    app.router.add_get("/ok", ok)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/slow", slow)
    app.router.add_get("/big", big)
    app.router.add_route("*", "/echo", echo)
    return app


async def _check(ctx: CheckContext, **settings: Any) -> CheckResult:
    collector = HttpCollector(HttpConfig(**settings))
    try:
        return await collector.collect(ctx)
    finally:
        await collector.aclose()


def _values(result: CheckResult) -> dict[str, float]:
    return {sample.metric: sample.value for sample in result.samples}


async def test_healthy_page_is_ok_with_samples(serve: Serve, ctx: CheckContext) -> None:
    """A 200 answer is OK and reports latency, status and size labelled with the URL."""
    url = f"{await serve(_app())}/ok"
    result = await _check(ctx, url=url)
    assert result.status is Status.OK, result.message
    assert result.message.startswith(f"GET {url}: 200 in ")
    values = _values(result)
    assert values["http_status_code"] == 200
    assert values["http_content_bytes"] == len("hello world, all systems go")
    assert 0 < values["http_response_seconds"] < 5
    assert "tls_cert_expiry_days" not in values
    assert all(sample.labels == {"url": url} for sample in result.samples)


async def test_unexpected_status_is_critical(serve: Serve, ctx: CheckContext) -> None:
    """A 503 where a 2xx is expected is CRITICAL, says what came and what was expected."""
    url = f"{await serve(_app())}/status/503"
    result = await _check(ctx, url=url)
    assert result.status is Status.CRITICAL
    assert result.message == f"GET {url}: got 503, expected 200-299"
    assert _values(result)["http_status_code"] == 503


async def test_expected_status_list_is_honoured(serve: Serve, ctx: CheckContext) -> None:
    """A status listed in expect_status is OK, even an error status."""
    base = await serve(_app())
    assert (await _check(ctx, url=f"{base}/status/404", expect_status=[404])).status is Status.OK
    result = await _check(ctx, url=f"{base}/status/200", expect_status=[201, 202, 204])
    assert result.message.endswith("got 200, expected 201-202, 204")


async def test_redirects_are_followed_or_checked(serve: Serve, ctx: CheckContext) -> None:
    """Redirects are followed by default; with follow_redirects off the 302 itself is graded."""
    base = await serve(_app())
    followed = await _check(ctx, url=f"{base}/redirect")
    assert followed.status is Status.OK
    assert _values(followed)["http_status_code"] == 200
    unfollowed = await _check(ctx, url=f"{base}/redirect", follow_redirects=False)
    assert unfollowed.status is Status.CRITICAL
    assert "got 302" in unfollowed.message
    expected = await _check(
        ctx, url=f"{base}/redirect", follow_redirects=False, expect_status=[302]
    )
    assert expected.status is Status.OK


async def test_cookies_are_kept_across_redirects(serve: Serve, ctx: CheckContext) -> None:
    """A cookie set by a redirecting answer is sent to where it leads, as a browser does."""
    url = f"{await serve(_app())}/login"
    result = await _check(ctx, url=url, body_regex="members only")
    assert result.status is Status.OK, result.message


@pytest.mark.parametrize("fresh", [True, False])
async def test_each_run_starts_without_cookies(
    serve: Serve, ctx: CheckContext, fresh: bool
) -> None:
    """A cookie from one run is not sent in the next: each run is a new visitor."""
    url = f"{await serve(_app())}/visit"
    collector = HttpCollector(HttpConfig(url=url, body_regex="first visit", fresh_connection=fresh))
    try:
        for _ in range(2):
            result = await collector.collect(ctx)
            assert result.status is Status.OK, result.message
    finally:
        await collector.aclose()


async def test_redirect_loop_is_critical(serve: Serve, ctx: CheckContext) -> None:
    """A redirect loop stops after max_redirects and is CRITICAL."""
    url = f"{await serve(_app())}/loop"
    result = await _check(ctx, url=url, max_redirects=3)
    assert result.status is Status.CRITICAL
    assert result.message == f"GET {url}: more than 3 redirects"


async def test_body_regex_must_match(serve: Serve, ctx: CheckContext) -> None:
    """body_regex must match the body; inverted, it must not."""
    url = f"{await serve(_app())}/ok"
    assert (await _check(ctx, url=url, body_regex=r"systems\s+go")).status is Status.OK
    missing = await _check(ctx, url=url, body_regex="maintenance")
    assert missing.status is Status.CRITICAL
    assert missing.message == f"GET {url}: body does not match /maintenance/"
    inverted = await _check(ctx, url=url, body_regex="hello", body_regex_invert=True)
    assert inverted.status is Status.CRITICAL
    assert inverted.message == f"GET {url}: body matches /hello/"


async def test_body_is_read_no_further_than_the_limit(serve: Serve, ctx: CheckContext) -> None:
    """Only max_body_bytes of a large body are read and searched."""
    url = f"{await serve(_app())}/big"
    result = await _check(ctx, url=url, max_body_bytes=1000, body_regex="TAIL")
    assert result.status is Status.CRITICAL
    assert _values(result)["http_content_bytes"] == 1000
    whole = await _check(ctx, url=url, body_regex="TAIL")
    assert whole.status is Status.OK
    assert _values(whole)["http_content_bytes"] == 100_004


async def test_slow_answer_gives_warning_then_critical(serve: Serve, ctx: CheckContext) -> None:
    """An answer slower than warn_latency is WARNING, slower than crit_latency CRITICAL."""
    url = f"{await serve(_app())}/slow?seconds=0.3"
    warned = await _check(ctx, url=url, warn_latency=0.1, crit_latency=2)
    assert warned.status is Status.WARNING
    assert "answer took" in warned.message
    assert _values(warned)["http_response_seconds"] >= 0.3
    critical = await _check(ctx, url=url, warn_latency=0.1, crit_latency=0.2)
    assert critical.status is Status.CRITICAL


async def test_no_answer_in_time_is_critical(serve: Serve) -> None:
    """A server that does not answer within the check's timeout gives CRITICAL, not a hang."""
    url = f"{await serve(_app())}/slow?seconds=3"
    ctx = CheckContext(item="web", check="probe", timeout=0.5)
    async with asyncio.timeout(2):
        result = await _check(ctx, url=url)
    assert result.status is Status.CRITICAL
    assert result.message == f"GET {url}: no answer within 0.45 s"


async def test_method_body_and_bearer_are_sent(
    serve: Serve, ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST sends the configured body, and a bearer secret goes out without reaching the message."""
    monkeypatch.setenv("WATCHD_TEST_TOKEN", "s3cret-token")
    url = f"{await serve(_app())}/echo"
    result = await _check(
        ctx,
        url=url,
        method="post",
        body="ping",
        bearer=SecretRef(env="WATCHD_TEST_TOKEN"),
        body_regex=r'"auth": "Bearer s3cret-token"',
    )
    assert result.status is Status.OK, result.message
    assert result.message.startswith(f"POST {url}: 200")
    assert "s3cret" not in result.message
    echoed = await _check(ctx, url=url, method="POST", body="ping", body_regex='"body": "ping"')
    assert echoed.status is Status.OK


async def test_basic_auth_from_a_file(serve: Serve, ctx: CheckContext, tmp_path: Path) -> None:
    """Basic auth reads its password from a secret file."""
    secret = tmp_path / "password"
    secret.write_text("pa55\n")
    url = f"{await serve(_app())}/echo"
    result = await _check(
        ctx,
        url=url,
        basic_auth={"username": "ops", "password": {"file": str(secret)}},
        body_regex='"auth": "Basic b3BzOnBhNTU="',  # base64 of ops:pa55
    )
    assert result.status is Status.OK, result.message


async def test_unreadable_secret_is_unknown(serve: Serve, ctx: CheckContext) -> None:
    """A secret that cannot be read makes the check UNKNOWN and names where it was looked for."""
    url = f"{await serve(_app())}/echo"
    result = await _check(ctx, url=url, bearer=SecretRef(env="WATCHD_TEST_NO_SUCH_VARIABLE"))
    assert result.status is Status.UNKNOWN
    assert "environment variable WATCHD_TEST_NO_SUCH_VARIABLE" in result.message


async def test_closed_port_is_refused(closed_port: int, ctx: CheckContext) -> None:
    """A port nobody listens on is CRITICAL with 'Connection refused'."""
    url = f"http://127.0.0.1:{closed_port}/"
    result = await _check(ctx, url=url)
    assert result.status is Status.CRITICAL
    assert result.message == (
        f"GET {url}: cannot connect to 127.0.0.1:{closed_port}: Connection refused"
    )


def test_dns_failure_is_critical() -> None:
    """A name that cannot be resolved is CRITICAL and the message names the lookup.

    Run inside a fresh network namespace (`unshare -n`): the lookup fails there for real
    and no query leaves this machine's loopback.
    """
    require_installed(shutil.which("unshare") is not None, "util-linux (unshare)")
    script = (
        "import asyncio, json\n"
        "from collectors.http import HttpCollector, HttpConfig\n"
        "from watchd.model import CheckContext\n"
        "c = HttpCollector(HttpConfig(url='http://nosuch.invalid/'))\n"
        "r = asyncio.run(c.collect(CheckContext(item='a', check='b', timeout=5)))\n"
        "print(json.dumps([r.status.name, r.message]))\n"
    )
    try:
        done = subprocess.run(
            ["unshare", "-n", sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the DNS failure was not reported within 30 s")
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"cannot make a network namespace here: {done.stderr.strip()}")
    status, message = json.loads(done.stdout)
    assert status == "CRITICAL"
    assert message.startswith("GET http://nosuch.invalid/: DNS lookup of nosuch.invalid failed: ")


async def test_kept_session_reuses_the_connection(serve: Serve, ctx: CheckContext) -> None:
    """fresh_connection=false reuses one connection across runs; the default opens a new one."""
    app = _app()
    url = f"{await serve(app)}/echo"
    for fresh, connections in ((False, 1), (True, 2)):
        app[PEERS].clear()
        collector = HttpCollector(HttpConfig(url=url, fresh_connection=fresh))
        try:
            for _ in range(2):
                assert (await collector.collect(ctx)).status is Status.OK
        finally:
            await collector.aclose()
        peers: list[int] = app[PEERS]
        assert len(peers) == 2
        assert len(set(peers)) == connections


def _connections_to(port: int) -> list[Any]:
    return [
        conn
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    ]


@pytest.mark.parametrize("fresh", [True, False])
async def test_cancelled_check_leaves_no_connection(
    serve: Serve, ctx: CheckContext, fresh: bool
) -> None:
    """When the scheduler cancels a check mid-request, its connection is closed, not leaked."""
    base = await serve(_app())
    port = int(base.rsplit(":", 1)[1])
    collector = HttpCollector(HttpConfig(url=f"{base}/slow?seconds=3", fresh_connection=fresh))
    try:
        task = asyncio.create_task(collector.collect(ctx))
        async with asyncio.timeout(2):
            while not _connections_to(port):  # noqa: ASYNC110 - polling the OS, no event to wait on
                await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _connections_to(port) == []
    finally:
        await collector.aclose()


def _tls_site(
    ca: trustme.CA, *, days: float | None = None, names: tuple[str, ...] = ()
) -> ssl.SSLContext:
    """A server TLS context whose certificate, issued by `ca`, ends in `days`."""
    not_after = None
    if days is not None:
        not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    cert = ca.issue_cert(*(names or ("127.0.0.1",)), not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


async def test_trusted_certificate_reports_days_left(
    serve: Serve, ctx: CheckContext, ca: trustme.CA, ca_file: Path
) -> None:
    """An https check trusting ca_file is OK and reports the certificate's days left."""
    url = f"{await serve(_app(), _tls_site(ca, days=90))}/ok"
    result = await _check(ctx, url=url, ca_file=ca_file)
    assert result.status is Status.OK, result.message
    assert 89.9 < _values(result)["tls_cert_expiry_days"] <= 90
    assert "certificate expires in 90.0 days" in result.message


async def test_certificate_close_to_expiry_warns_then_is_critical(
    serve: Serve, ctx: CheckContext, ca: trustme.CA, ca_file: Path
) -> None:
    """A certificate ending in 3 days is CRITICAL by default and WARNING with cert_crit_days=1."""
    url = f"{await serve(_app(), _tls_site(ca, days=3))}/ok"
    critical = await _check(ctx, url=url, ca_file=ca_file)
    assert critical.status is Status.CRITICAL
    assert critical.message == f"GET {url}: certificate of 127.0.0.1 expires in 3.0 days"
    assert 2.9 < _values(critical)["tls_cert_expiry_days"] <= 3
    warned = await _check(ctx, url=url, ca_file=ca_file, cert_crit_days=1)
    assert warned.status is Status.WARNING


async def test_kept_session_still_reports_the_certificate(
    serve: Serve, ctx: CheckContext, ca: trustme.CA, ca_file: Path
) -> None:
    """With a reused TLS connection, every run still reports the certificate's days left."""
    url = f"{await serve(_app(), _tls_site(ca, days=3))}/ok"
    collector = HttpCollector(HttpConfig(url=url, ca_file=ca_file, fresh_connection=False))
    try:
        for _ in range(2):
            result = await collector.collect(ctx)
            assert result.status is Status.CRITICAL
            assert "tls_cert_expiry_days" in _values(result)
    finally:
        await collector.aclose()


async def test_untrusted_certificate_fails_unless_verification_is_off(
    serve: Serve, ctx: CheckContext, ca: trustme.CA
) -> None:
    """A certificate from an unknown CA is CRITICAL; with verify_tls off it is OK and still read."""
    url = f"{await serve(_app(), _tls_site(ca, days=60))}/ok"
    refused = await _check(ctx, url=url)
    assert refused.status is Status.CRITICAL
    assert refused.message.startswith(f"GET {url}: TLS certificate verify failed: ")
    assert "local issuer" in refused.message
    accepted = await _check(ctx, url=url, verify_tls=False)
    assert accepted.status is Status.OK, accepted.message
    assert 59.9 < _values(accepted)["tls_cert_expiry_days"] <= 60


async def test_wrong_name_on_certificate_is_critical(
    serve: Serve, ctx: CheckContext, ca: trustme.CA, ca_file: Path
) -> None:
    """A trusted certificate for another name is CRITICAL with the mismatch named."""
    url = f"{await serve(_app(), _tls_site(ca, names=('other.test',)))}/ok"
    result = await _check(ctx, url=url, ca_file=ca_file)
    assert result.status is Status.CRITICAL
    assert "TLS certificate verify failed: IP address mismatch" in result.message


async def test_expired_certificate_is_critical_even_unverified(
    serve: Serve, ctx: CheckContext, ca: trustme.CA
) -> None:
    """With verify_tls off, an expired certificate is still CRITICAL, saying how long ago."""
    url = f"{await serve(_app(), _tls_site(ca, days=-2))}/ok"
    result = await _check(ctx, url=url, verify_tls=False)
    assert result.status is Status.CRITICAL
    assert result.message == f"GET {url}: certificate of 127.0.0.1 expired 2.0 days ago"


async def test_tls_to_a_plain_port_is_a_handshake_failure(serve: Serve, ctx: CheckContext) -> None:
    """https:// to a plain-HTTP port is CRITICAL with the TLS handshake failure named."""
    base = await serve(_app())
    url = base.replace("http://", "https://") + "/ok"
    result = await _check(ctx, url=url)
    assert result.status is Status.CRITICAL
    assert result.message.startswith(f"GET {url}: TLS handshake failed: ")


async def test_missing_ca_file_is_unknown(ctx: CheckContext, tmp_path: Path) -> None:
    """A ca_file that cannot be read makes the check UNKNOWN, naming the file."""
    missing = tmp_path / "nope.pem"
    result = await _check(ctx, url="https://127.0.0.1:9/", ca_file=missing)
    assert result.status is Status.UNKNOWN
    assert str(missing) in result.message


def _config(check: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"name": "web", "checks": [{"name": "home", "kind": "http", **check}]}]}


def test_config_accepts_an_http_check() -> None:
    """An item with an http check loads, with common and http options side by side."""
    raw = _config({"url": "https://shop.example/health", "interval": "30s", "crit_latency": 2})
    config = parse_config(raw, Path("/etc/watchd/config.toml"))
    (check,) = config.checks()
    assert check.kind == "http"
    assert check.interval == 30
    settings = check.settings
    assert isinstance(settings, HttpConfig)  # the check model extends the collector's config
    assert settings.crit_latency == 2
    assert settings.expect_status == list(range(200, 300))


def test_config_rejects_unknown_http_key_with_its_path() -> None:
    """A misspelled http option is rejected with the key path that names item and check."""
    raw = _config({"url": "https://shop.example/health", "verfy_tls": False})
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, Path("/etc/watchd/config.toml"))
    (problem,) = caught.value.problems
    assert str(problem).startswith('items[0]("web").checks[0]("home").verfy_tls: unknown key')


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"url": "ftp://files.example/"}, "http:// or https://"),
        ({"url": "https://ops:pw@shop.example/"}, "must not carry credentials"),
        (
            {"url": "https://shop.example/", "body_regex": "("},
            "the regular expression '(' is not valid: missing )",
        ),
        ({"url": "https://shop.example/", "warn_latency": 3, "crit_latency": 1}, "warn_latency"),
        ({"url": "https://shop.example/", "cert_warn_days": 3}, "cert_crit_days"),
        ({"url": "https://shop.example/", "method": "FETCH"}, "method"),
        ({"url": "https://shop.example/", "headers": {"X-A": "1\r\nX-B: 2"}}, "one line"),
    ],
)
def test_config_rejects_inconsistent_http_settings(settings: dict[str, Any], fragment: str) -> None:
    """Settings that cannot work are rejected when the config loads, not at check time."""
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(settings), Path("/etc/watchd/config.toml"))
    assert fragment in str(caught.value)
