"""The web dashboard: pages, sign-in by cookie when tokens are configured, security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from watchd.incidents.ledger import Ledger
from watchd.incidents.model import Page
from watchd.store.engine import transact

from .conftest import TOKENS
from .dashboard_world import served_dashboard

pytestmark = pytest.mark.integration
READ, WRITE = "read-token-5f1c", "write-token-77aa"


async def test_pages_show_incidents_items_services_and_windows_without_auth(tmp_path: Path) -> None:
    """With auth off, / lists the open incident with its buttons, and the other pages render."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        async with http.get(f"{dash.base}/") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "HttpDown" in page or "web1" in page
            assert f'data-id="{dash.incident_id}" data-action="ack"' in page
            assert "shop" in page  # service availability this month
            assert "connection refused" in page  # checks not OK
            assert '<table id="cluster">' in page and "node-1" in page  # the cluster's panel
            assert "singleton" in page and "single node" in page
            assert "Write token" not in page  # no token field when auth is off
            assert 'id="user"' in page  # but the name an ack is recorded under
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'nonce-" in csp and "default-src 'none'" in csp
        async with http.get(f"{dash.base}/incidents/{dash.incident_id}") as resp:
            page = await resp.text()
            assert resp.status == 200 and "Timeline" in page and "opened" in page
        async with http.get(f"{dash.base}/items") as resp:
            assert "connection refused" in await resp.text()
        async with http.get(f"{dash.base}/silences") as resp:
            assert "backup" in await resp.text()  # the maintenance window in effect
        async with http.get(f"{dash.base}/incidents/999") as resp:
            assert resp.status == 404


async def test_the_page_of_something_not_there_is_a_404_naming_it(tmp_path: Path) -> None:
    """The page of an incident, problem, change or review that does not exist, or whose id is
    no number, answers 404 with the sentence that names it."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        for path, sentence in (
            ("/incidents/999", "There is no incident 999."),
            ("/incidents/999/review", "There is no incident 999."),
            ("/problems/999", "There is no problem 999."),
            ("/changes/999", "There is no change 999."),
            ("/reviews/999", "There is no review 999."),
            ("/changes/x", "There is no change 'x'."),
        ):
            async with http.get(dash.base + path) as resp:
                assert resp.status == 404, path
                assert (await resp.json())["error"] == sentence


async def test_the_incident_page_says_who_was_paged_through_which_contact(tmp_path: Path) -> None:
    """A page to people shows in the incident's timeline as "paged: alice via sms (sms-gateway)"."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:

        async def page(conn: Any) -> None:
            ledger = Ledger(conn, dash.clock.now(), dash.settings)
            incident = await ledger.load(dash.incident_id)
            pages = [
                Page("alice", "Alice Li", "sms", "sms-gateway", "+8613800000001"),
                Page("bob", "bob", "chat", "ops-chat", "@bob"),
            ]
            await ledger.notify(incident, "escalated", {"step": 1}, receivers=[], pages=pages)

        await transact(dash.store.engine, "page", page)
        async with http.get(f"{dash.base}/incidents/{dash.incident_id}") as resp:
            text = await resp.text()
        assert "paged: alice via sms (sms-gateway), bob via chat (ops-chat)" in text
        assert "+8613800000001" not in text  # the number stays in the config


async def test_with_tokens_a_page_asks_for_sign_in_and_the_form_sets_a_strict_cookie(
    tmp_path: Path,
) -> None:
    """Signing in once with a read token sets an HttpOnly SameSite=Strict cookie and returns to the page."""
    # unsafe=True: aiohttp's jar refuses cookies of IP hosts by default; browsers keep them.
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        served_dashboard(tmp_path, TOKENS) as dash,
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        async with http.get(f"{dash.base}/items") as resp:
            page = await resp.text()
            assert resp.status == 401 and "Sign in" in page
            assert 'name="next" value="/items"' in page
        async with http.post(
            f"{dash.base}/login", data={"token": READ, "next": "/items"}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/items"
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(f"{dash.base}/items") as resp:
            assert resp.status == 200  # the session cookie is sent now
        async with http.get(f"{dash.base}/api/v1/incidents") as resp:
            assert resp.status == 401  # the REST API takes bearer tokens only, never the cookie


async def test_sign_in_refuses_bad_tokens_and_foreign_redirects(tmp_path: Path) -> None:
    """A wrong or ingest-only token is refused; `next` may only be a path on this server."""
    async with served_dashboard(tmp_path, TOKENS) as dash, aiohttp.ClientSession() as http:
        for token in ("nope", "ingest-token-c0de"):
            async with http.post(f"{dash.base}/login", data={"token": token, "next": "/"}) as resp:
                assert resp.status == 401
        for foreign in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
            async with http.post(
                f"{dash.base}/login",
                data={"token": READ, "next": foreign},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/", foreign


async def test_the_buttons_endpoint_acknowledges_with_a_write_token(tmp_path: Path) -> None:
    """What the Acknowledge button sends (POST with the bearer write token and the name typed in the page) acknowledges the incident as that name via the token's name."""
    async with served_dashboard(tmp_path, TOKENS) as dash, aiohttp.ClientSession() as http:
        url = f"{dash.base}/api/v1/incidents/{dash.incident_id}/ack"
        async with http.post(
            url, json={"by": "alice"}, headers={"Authorization": f"Bearer {READ}"}
        ) as resp:
            assert resp.status == 403
        async with http.post(
            url, json={"by": "alice"}, headers={"Authorization": f"Bearer {WRITE}"}
        ) as resp:
            found = await resp.json()
    assert resp.status == 200 and found["state"] == "acknowledged"
    assert found["acknowledged_by"] == "alice via token ops-dashboard"


async def test_report_endpoints_answer_json_csv_and_html(tmp_path: Path) -> None:
    """/api/v1/reports/availability gives the report JSON (and CSV); /html a page with inline charts."""
    async with served_dashboard(tmp_path, TOKENS) as dash, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {READ}"}
        async with http.get(
            f"{dash.base}/api/v1/reports/availability?service=shop", headers=headers
        ) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["services"][0]["name"] == "shop"
        async with http.get(
            f"{dash.base}/api/v1/reports/availability?format=csv", headers=headers
        ) as resp:
            assert (await resp.text()).startswith("scope,name,item,check,availability_percent")
        async with http.get(
            f"{dash.base}/api/v1/reports/availability?service=nope", headers=headers
        ) as resp:
            assert resp.status == 404
        async with http.get(
            f"{dash.base}/api/v1/reports/availability?period=2026-13", headers=headers
        ) as resp:
            assert resp.status == 400 and "YYYY-MM" in (await resp.json())["error"]
        async with http.get(f"{dash.base}/api/v1/reports/html", headers=headers) as resp:
            assert resp.status == 200 and "data:image/png;base64," in await resp.text()
