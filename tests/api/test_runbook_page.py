"""GET /runbooks/{name}: a Markdown runbook served as a page, safely, to signed-in browsers,
and the incident page's links to the runbooks its alerts name."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from .conftest import TOKENS
from .dashboard_world import RUNBOOK_URL, served_dashboard

pytestmark = pytest.mark.integration
READ = "read-token-5f1c"

RUNBOOK = """# Web down

1. Check the **load balancer**.
2. Restart: `systemctl restart nginx`

<script>alert("owned")</script>
[bad](javascript:alert(1)) [wiki](https://wiki.example/nginx)
"""


def _runbook(tmp_path: Path) -> dict[str, Path]:
    path = tmp_path / "runbooks" / "web.md"
    path.parent.mkdir()
    path.write_text(RUNBOOK)
    (tmp_path / "secret.md").write_text("not a runbook anyone named")
    return {"runbooks/web": path}


async def test_a_runbook_is_rendered_with_its_html_escaped_and_unsafe_links_dropped(
    tmp_path: Path,
) -> None:
    """An operator opening a runbook link sees its Markdown as a page; HTML and javascript: links in the file stay inert text."""
    async with (
        served_dashboard(tmp_path, {}, runbooks=_runbook(tmp_path)) as dash,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{dash.base}/runbooks/runbooks/web") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "script-src 'nonce-" in resp.headers["Content-Security-Policy"]
        assert "<h1>Web down</h1>" in page
        assert "<strong>load balancer</strong>" in page
        assert "<code>systemctl restart nginx</code>" in page
        assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
        assert 'href="javascript:' not in page
        assert '<a href="https://wiki.example/nginx">wiki</a>' in page
        # Only named runbooks are served: no other file is reachable by its path.
        for name in ("secret", "../secret", "runbooks/../secret", "runbooks/nope"):
            async with http.get(f"{dash.base}/runbooks/{name}") as resp:
                assert resp.status == 404, name


async def test_with_tokens_a_runbook_needs_the_dashboard_session(tmp_path: Path) -> None:
    """With tokens configured, a runbook page asks a stranger to sign in and shows after signing in with a read token."""
    jar = aiohttp.CookieJar(unsafe=True)  # aiohttp refuses IP hosts' cookies unless told
    async with (
        served_dashboard(tmp_path, TOKENS, runbooks=_runbook(tmp_path)) as dash,
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        async with http.get(f"{dash.base}/runbooks/runbooks/web") as resp:
            assert resp.status == 401
            assert "Web down" not in await resp.text()
        async with http.post(
            f"{dash.base}/login", data={"token": READ, "next": "/runbooks/runbooks/web"}
        ) as resp:
            assert resp.status == 200
            assert "<h1>Web down</h1>" in await resp.text()


async def test_the_incident_page_links_the_runbooks_its_alerts_name(tmp_path: Path) -> None:
    """The incident page lists the runbook_url of its alerts as links, so the operator finds the procedure."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        resp = await http.get(f"{dash.base}/incidents/{dash.incident_id}")
        page = await resp.text()
    assert f'<a href="{RUNBOOK_URL}">{RUNBOOK_URL}</a>' in page
