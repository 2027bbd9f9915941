"""The dashboard in real headless Chromium (Debian's chromium driven by Playwright for Python)."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright

from tests.api.conftest import TOKENS
from tests.api.dashboard_world import served_dashboard
from watchd.people.passwords import Account, hash_password

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def sign_in_with_read_token(page: Page, url: str) -> None:
    """Open `url`, sign in through its form with the read token, and wait to be back on it."""
    await page.goto(url)
    await page.fill('input[name="token"]', "read-token-5f1c")
    await page.click('button[type="submit"]')
    await page.wait_for_url(url)


def launch(pw: Playwright, profile: Path) -> Awaitable[BrowserContext]:
    """Debian's chromium, headless, phone-sized, with a fresh profile directory of its own (a
    persistent context is how Playwright takes a --user-data-dir)."""
    return pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 412, "height": 915},  # a phone
        timeout=30_000,
    )


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ at the repository root (gitignored), for screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


async def test_an_operator_signs_in_sees_the_incident_and_acknowledges_it(
    tmp_path: Path, artifacts: Path
) -> None:
    """Sign in with a read token in the form, type the write token and a name once, click Acknowledge: the page shows it acknowledged by that name via the token, and Resolve with no name is recorded as the token's name."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install -y chromium"
    async with served_dashboard(tmp_path, TOKENS) as dash, async_playwright() as pw:
        browser = await launch(pw, tmp_path / "profile")
        try:
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            await sign_in_with_read_token(page, f"{dash.base}/")
            row = page.locator(f'tr[data-incident="{dash.incident_id}"]')
            await row.wait_for()
            assert "open" in await row.locator("td").nth(1).inner_text()
            await page.fill("#token", "write-token-77aa")
            await page.fill("#user", "alice")
            await page.click("#save-token")
            await row.locator('button[data-action="ack"]').click()
            await page.wait_for_load_state("load")
            state = page.locator(f'tr[data-incident="{dash.incident_id}"] td').nth(1)
            await page.wait_for_function(
                'id => document.querySelector(`tr[data-incident="${id}"] td:nth-child(2)`)'
                "?.textContent.includes('acknowledged')",
                arg=dash.incident_id,
            )
            assert (await state.inner_text()).strip() == "acknowledged"
            await page.screenshot(
                path=str(artifacts / "dashboard-acknowledged.png"), full_page=True
            )
            await page.goto(f"{dash.base}/incidents/{dash.incident_id}")
            timeline = await page.locator("#timeline").inner_text()
            assert "acknowledged" in timeline and "alice via token ops-dashboard" in timeline
            await page.fill("#user", "")
            await page.click("#save-token")
            await page.locator('button[data-action="resolve"]').click()
            await page.wait_for_function(
                "() => document.getElementById('state')?.textContent.includes('resolved')"
            )
        finally:
            await browser.close()
        found = await dash.incidents.get_incident(dash.incident_id)
        assert found["acknowledged_by"] == "alice via token ops-dashboard"
        assert found["state"] == "resolved" and found["resolved_by"] == "ops-dashboard"


async def test_a_user_signs_in_with_a_password_and_their_ack_names_them(
    tmp_path: Path, artifacts: Path
) -> None:
    """Sign in with user name and password, click Acknowledge on the incident's page with no token typed: the timeline names "Alice Li (alice)", and Resolve from the list too."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install -y chromium"
    alice = Account("alice", "Alice Li (alice)", hash_password("correct horse battery"))
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": alice}) as dash,
        async_playwright() as pw,
    ):
        browser = await launch(pw, tmp_path / "profile")
        try:
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            await page.goto(f"{dash.base}/incidents/{dash.incident_id}")
            form = page.locator("#password-sign-in")
            await form.locator('input[name="user"]').fill("alice")
            await form.locator('input[name="password"]').fill("correct horse battery")
            await form.locator('button[type="submit"]').click()
            await page.wait_for_url(f"{dash.base}/incidents/{dash.incident_id}")
            assert (await page.locator("#person").inner_text()) == "Alice Li (alice)"
            assert await page.locator("#token").count() == 0  # no token asked for
            await page.locator('button[data-action="ack"]').click()
            await page.wait_for_function(
                "() => document.getElementById('timeline')?.textContent.includes('Alice Li (alice)')"
            )
            await page.screenshot(
                path=str(artifacts / "dashboard-signed-in-ack.png"), full_page=True
            )
            await page.goto(f"{dash.base}/")
            await page.locator(
                f'tr[data-incident="{dash.incident_id}"] button[data-action="resolve"]'
            ).click()
            await page.wait_for_function(
                'id => !document.querySelector(`tr[data-incident="${id}"]`)',
                arg=dash.incident_id,
            )
        finally:
            await browser.close()
        found = await dash.incidents.get_incident(dash.incident_id)
        assert found["acknowledged_by"] == "Alice Li (alice)"
        assert found["resolved_by"] == "Alice Li (alice)"
