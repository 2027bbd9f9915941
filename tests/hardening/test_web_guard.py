"""Issue 19, finding 3 and the web parts of 13: CSRF, the Host allow-list, tokens in URLs and
the session cookie, against a served API and dashboard over a real SQLite store."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import aiohttp
import pytest

from tests.api.conftest import TOKENS
from tests.api.dashboard_world import Served, served_dashboard

pytestmark = pytest.mark.integration
READ, WRITE, INGEST = "read-token-5f1c", "write-token-77aa", "ingest-token-c0de"
EVIL = "http://evil.example"
SILENCE = {"matchers": ['alertname=~".+"'], "duration": "30d", "comment": "muted by a web page"}
ALERT = [{"labels": {"alertname": "Injected", "severity": "critical"}}]
# What an HTML form with enctype="text/plain" sends: JSON a page can post without a preflight.
FORM_PLAIN = {"Content-Type": "text/plain"}
CROSS_SITE = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", **FORM_PLAIN}


def _jar() -> aiohttp.CookieJar:
    # unsafe=True: aiohttp's jar refuses cookies of IP hosts by default; browsers keep them.
    return aiohttp.CookieJar(unsafe=True)


async def _nothing_changed(dash: Served) -> None:
    assert await dash.incidents.silences() == []
    assert [
        a for a in await dash.incidents.alerts() if a["labels"]["alertname"] == "Injected"
    ] == []
    assert (await dash.incidents.get_incident(dash.incident_id))["state"] == "open"


@pytest.mark.parametrize(
    "browser",
    [
        CROSS_SITE,
        {"Origin": EVIL, **FORM_PLAIN},  # a browser without Sec-Fetch-* headers
        {"Origin": "null", **FORM_PLAIN},  # a sandboxed frame or a data: page
        {"Sec-Fetch-Site": "same-site", **FORM_PLAIN},  # another port or subdomain of this site
        {"Origin": "http://[::1", **FORM_PLAIN},  # malformed: refused, not a 500
    ],
)
async def test_a_page_on_another_origin_cannot_silence_inject_or_acknowledge(
    tmp_path: Path, browser: dict[str, str]
) -> None:
    """With the shipped config (no tokens), a cross-origin page's writes get 403 and change nothing."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        writes = [
            ("/api/v1/silences", SILENCE),
            ("/api/v2/alerts", ALERT),
            (f"/api/v1/incidents/{dash.incident_id}/ack", {"by": "mallory"}),
        ]
        for path, body in writes:
            async with http.post(dash.base + path, data=json.dumps(body), headers=browser) as resp:
                assert resp.status == 403, path
                assert "cross-origin" in (await resp.json())["error"]
        await _nothing_changed(dash)


async def test_the_dashboard_itself_and_non_browser_clients_still_write(tmp_path: Path) -> None:
    """Same-origin pages, and clients that send no Origin (curl, Prometheus, amtool), still write."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        async with http.post(f"{dash.base}/api/v2/alerts", json=ALERT) as resp:
            assert resp.status == 200  # no Origin: not a browser
        same = {"Origin": dash.base, "Sec-Fetch-Site": "same-origin"}
        async with http.post(f"{dash.base}/api/v1/silences", json=SILENCE, headers=same) as resp:
            assert resp.status == 201
        old_browser = {"Origin": dash.base}  # no Sec-Fetch-Site: the Origin is compared to Host
        url = f"{dash.base}/api/v1/incidents/{dash.incident_id}/ack"
        async with http.post(url, json={"by": "alice"}, headers=old_browser) as resp:
            assert resp.status == 200
        assert len(await dash.incidents.silences()) == 1


@pytest.mark.parametrize("path", ["/", "/api/v1/incidents", "/api/v1/silences", "/metrics"])
async def test_a_dns_rebinding_page_cannot_read(tmp_path: Path, path: str) -> None:
    """A request naming a host that is not this server (a rebound DNS name) gets 421 naming api.allowed_hosts."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        rebound = {"Host": "attacker.example:9797"}
        async with http.get(dash.base + path, headers=rebound) as resp:
            assert resp.status == 421
            error = (await resp.json())["error"]
            assert "attacker.example" in error and "api.allowed_hosts" in error
            assert "incident" not in (await resp.text()).lower().replace("api.allowed_hosts", "")
        for own in ("localhost:9797", "127.0.0.1", "[::1]:9797", "web.localhost"):
            async with http.get(dash.base + path, headers={"Host": own}) as resp:
                assert resp.status == 200, own


async def test_configured_hosts_bearer_clients_and_probes_pass_the_host_check(
    tmp_path: Path,
) -> None:
    """A name in allowed_hosts, a client with a valid bearer token and the health probes are answered under any Host."""
    async with (
        served_dashboard(tmp_path, TOKENS, allowed_hosts=["watchd.example.com"]) as dash,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(
            f"{dash.base}/api/v1/incidents",
            headers={"Host": "WATCHD.example.com.", "Authorization": f"Bearer {READ}"},
        ) as resp:
            assert resp.status == 200
        alias = {"Host": "watchd-alias.internal"}
        async with http.get(
            f"{dash.base}/api/v1/incidents", headers={**alias, "Authorization": f"Bearer {READ}"}
        ) as resp:
            assert resp.status == 200  # a rebinding page cannot know the token
        async with http.get(
            f"{dash.base}/api/v1/incidents",
            headers={**alias, "Authorization": "Bearer not-a-configured-token"},
        ) as resp:
            assert resp.status == 421
        for probe in ("/healthz", "/readyz"):
            async with http.get(dash.base + probe, headers=alias) as resp:
                assert resp.status == 200, probe


async def test_senders_write_under_any_host_name_but_a_rebound_page_does_not(
    tmp_path: Path,
) -> None:
    """Prometheus posting alerts to a DNS alias (no Origin) is never refused for the Host, while the same post from a rebound page is 421."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        alias = {"Host": "alertmanager.internal:9093"}
        async with http.post(f"{dash.base}/api/v2/alerts", json=ALERT, headers=alias) as resp:
            assert resp.status == 200
        for rebound in (
            {"Origin": "http://alertmanager.internal:9093"},
            {"Sec-Fetch-Site": "same-origin"},
        ):
            async with http.post(
                f"{dash.base}/api/v1/silences", json=SILENCE, headers={**alias, **rebound}
            ) as resp:
                assert resp.status == 421, rebound
        async with http.get(f"{dash.base}/api/v1/alerts", headers=alias) as resp:
            assert resp.status == 421  # reads by an unknown name still need allowed_hosts
        assert await dash.incidents.silences() == []
        assert [a["labels"]["alertname"] for a in await dash.incidents.alerts()].count(
            "Injected"
        ) == 1


async def test_unknown_paths_answer_404_even_with_tokens(tmp_path: Path) -> None:
    """An unknown path is 404 (not 401) when tokens are configured, with or without a token."""
    async with served_dashboard(tmp_path, TOKENS) as dash, aiohttp.ClientSession() as http:
        async with http.get(f"{dash.base}/no/such/page") as resp:
            assert resp.status == 404
            assert "/no/such/page" in (await resp.json())["error"]
        async with http.delete(f"{dash.base}/api/v1/incidents") as resp:
            assert resp.status == 405


async def test_a_token_in_the_address_is_not_taken_and_leaves_the_url(tmp_path: Path) -> None:
    """?token= sets no cookie and is redirected to the sign-in form, with the token gone from the URL."""
    async with (
        served_dashboard(tmp_path, TOKENS) as dash,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        async with http.get(f"{dash.base}/items?token={READ}&x=1", allow_redirects=False) as resp:
            assert resp.status == 303
            assert "Set-Cookie" not in resp.headers
            location = resp.headers["Location"]
            assert READ not in location and location.startswith("/login?")
        async with http.get(dash.base + location) as resp:
            page = await resp.text()
            assert resp.status == 200 and 'action="/login"' in page
            assert "not accepted in the address" in page and READ not in page
            assert 'value="/items?x=1"' in page  # where the form goes after signing in
        async with http.get(f"{dash.base}/items") as resp:
            assert resp.status == 401  # still not signed in


async def test_login_from_another_origin_is_refused(tmp_path: Path) -> None:
    """A cross-origin page cannot sign a browser in with the attacker's token (login CSRF)."""
    async with (
        served_dashboard(tmp_path, TOKENS) as dash,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        form = {"token": READ, "next": "/"}
        async with http.post(
            f"{dash.base}/login",
            data=form,
            headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers
        async with http.post(
            f"{dash.base}/login",
            data=form,
            headers={"Origin": dash.base, "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303 and "Set-Cookie" in resp.headers


async def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy_only(
    tmp_path: Path,
) -> None:
    """X-Forwarded-Proto: https from a proxy in trusted_proxies makes the cookie Secure; from anyone else it is ignored."""
    trusted = await _signed_in_cookie(tmp_path / "trusted", ["127.0.0.0/8"])
    assert "Secure" in trusted and "HttpOnly" in trusted and "SameSite=Strict" in trusted
    untrusted = await _signed_in_cookie(tmp_path / "untrusted", ["10.0.0.1"])
    assert "Secure" not in untrusted and "HttpOnly" in untrusted


async def _signed_in_cookie(tmp_path: Path, trusted_proxies: list[str]) -> str:
    """The Set-Cookie of a sign-in over 127.0.0.1 that says it came through a TLS proxy."""
    async with (
        served_dashboard(tmp_path, TOKENS, trusted_proxies=trusted_proxies) as dash,
        aiohttp.ClientSession() as http,
        http.post(
            f"{dash.base}/login",
            data={"token": READ, "next": "/"},
            headers={"X-Forwarded-Proto": "https"},
            allow_redirects=False,
        ) as resp,
    ):
        return resp.headers["Set-Cookie"]


def _session(token: str, expires: int) -> str:
    """A session cookie value as watchd signs it: expiry and an HMAC keyed by the token."""
    key = hashlib.sha256(token.encode()).digest()
    mac = hmac.new(key, f"watchd-session:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


async def test_the_session_cookie_carries_no_token_and_expires(tmp_path: Path) -> None:
    """The cookie holds a signed expiry, not the token: a stolen one cannot call the API, and an expired, forged or old raw-token cookie signs nobody in."""
    async with served_dashboard(tmp_path, TOKENS) as dash, aiohttp.ClientSession() as http:
        async with http.post(
            f"{dash.base}/login", data={"token": WRITE, "next": "/"}, allow_redirects=False
        ) as resp:
            value = resp.cookies["watchd_session"].value
        assert WRITE not in value
        assert "Max-Age=43200" in resp.headers["Set-Cookie"]
        now = int(await _server_now(dash))
        for cookie, status in [
            (value, 200),
            (_session(READ, now + 3600), 200),
            (_session(READ, now - 1), 401),  # expired
            (_session(READ, now + 30 * 86400), 401),  # further ahead than a session lasts
            (_session(INGEST, now + 3600), 401),  # a token without read
            (_session("not-a-configured-token", now + 3600), 401),
            (READ, 401),  # the raw token, as cookies held it before
        ]:
            async with http.get(
                f"{dash.base}/items", headers={"Cookie": f"watchd_session={cookie}"}
            ) as resp:
                assert resp.status == status, cookie
        async with http.post(
            f"{dash.base}/api/v1/incidents/{dash.incident_id}/ack",
            json={"by": "thief"},
            headers={"Authorization": f"Bearer {value}"},
        ) as resp:
            assert resp.status == 401


async def _server_now(dash: Served) -> float:
    """The served dashboard's clock (a fake one), read from an incident it stamped."""
    return float((await dash.incidents.get_incident(dash.incident_id))["opened_at"])
