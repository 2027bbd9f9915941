"""Issue 19, finding 3 in real headless Chromium: another site's page tries CSRF and DNS
rebinding against a watchd with no tokens (the shipped config), and gets nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, async_playwright

from tests.api.dashboard_world import ACK_KEY, served_dashboard
from tests.integration.test_dashboard_browser import CHROMIUM, FLAGS
from watchd.notify.acklinks import Recipient, make_token

pytestmark = pytest.mark.integration
REBOUND = "rebind.test"  # Chromium resolves it to 127.0.0.1, as a rebound DNS name would
SILENCE = {"matchers": ['alertname=~".+"'], "duration": "30d", "comment": ""}


def _attack_page(target: str, incident_id: int) -> str:
    """A page that posts a silence as a text/plain form (JSON in the field name, as attackers
    do), and an alert and an acknowledgement with no-cors fetches."""
    body = json.dumps(SILENCE)[:-2]  # ends in `"comment": "`; the form adds `=x"}`
    alert = json.dumps([{"labels": {"alertname": "Injected", "severity": "critical"}}])
    return f"""<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{target}/api/v1/silences">
<input type="hidden" name='{body}' value='x"}}'></form>
<script>
(async function () {{
  const plain = {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}}};
  await fetch("{target}/api/v2/alerts", {{...plain, body: {json.dumps(alert)}}}).catch(() => 0);
  await fetch("{target}/api/v1/incidents/{incident_id}/ack",
              {{...plain, body: '{{"by": "mallory"}}'}}).catch(() => 0);
  document.getElementById("f").submit();
}})();
</script></body></html>"""


@asynccontextmanager
async def _site(port: int, html: str) -> AsyncIterator[None]:
    """Another site's server on 127.0.0.1:`port` serving `html` at /."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _chromium(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    assert CHROMIUM, "Debian's chromium is needed: apt-get install -y chromium"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"],
            timeout=30_000,
        )
        try:
            yield browser
        finally:
            await browser.close()


async def test_a_page_on_another_site_cannot_silence_inject_or_acknowledge(
    tmp_path: Path,
) -> None:
    """A page at http://localhost:OTHER posting a form and fetches to watchd at 127.0.0.1 silences, injects and acknowledges nothing."""
    async with (
        served_dashboard(tmp_path, {}) as dash,
        _chromium(tmp_path) as browser,
    ):
        port = _free_port()
        async with _site(port, _attack_page(dash.base, dash.incident_id)):
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            await page.goto(f"http://localhost:{port}/")
            await page.wait_for_url(f"{dash.base}/api/v1/silences")  # the form was sent
            answer = await page.locator("body").inner_text()
        assert "cross-origin POST" in answer, answer
        assert await dash.incidents.silences() == []
        alerts = await dash.incidents.alerts()
        assert [a for a in alerts if a["labels"]["alertname"] == "Injected"] == []
        assert (await dash.incidents.get_incident(dash.incident_id))["state"] == "open"


async def test_a_rebound_page_cannot_read_incidents(tmp_path: Path) -> None:
    """A page loaded from rebind.test:PORT whose name then points at watchd on the same port reads a 421, not the incidents."""
    port = _free_port()
    async with _chromium(tmp_path) as browser:
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        async with _site(port, "<!doctype html><title>cat pictures</title>"):
            await page.goto(f"http://{REBOUND}:{port}/")
        # The attacker's server is gone; the same name and port now reach watchd.
        async with served_dashboard(tmp_path, {}, port=port) as dash:
            status, text = await page.evaluate(
                """async () => {
                  const response = await fetch("/api/v1/incidents", {cache: "no-store"});
                  return [response.status, await response.text()];
                }"""
            )
            own = await page.evaluate(
                "async (url) => (await fetch(url, {mode: 'no-cors'})).type", dash.base
            )
    assert status == 421, text
    assert "HttpDown" not in text and REBOUND in text
    assert own == "opaque"  # and watchd's own address cannot be read cross-origin


async def test_an_ack_link_page_still_acknowledges_in_the_browser(tmp_path: Path) -> None:
    """The ack link's own page, opened in Chromium and its button pressed, acknowledges: its same-origin form passes the cross-origin check."""
    async with served_dashboard(tmp_path, {}) as dash, _chromium(tmp_path) as browser:
        recipient = Recipient("mail-alice", "alice@example.com")
        token = make_token(ACK_KEY, dash.incident_id, dash.clock.now() + 3600, recipient)
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{dash.base}/ack/{token}")
        await page.click('button[type="submit"]')
        await page.wait_for_selector("text=is acknowledged")
        found = await dash.incidents.get_incident(dash.incident_id)
    assert found["state"] == "acknowledged"
    assert found["acknowledged_by"] == "alice@example.com via ack link to mail-alice"
