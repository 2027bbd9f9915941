"""A post-incident review edited in real headless Chromium: started from the incident page,
impact and cause saved through the form, an action added and marked done; a save from a page
someone else's edit made stale is refused, and the page says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.api.conftest import TOKENS
from tests.api.dashboard_world import served_dashboard
from tests.integration.test_dashboard_browser import CHROMIUM, launch, sign_in_with_read_token
from watchd.incidents.reviews import Target

pytestmark = pytest.mark.integration


async def test_an_operator_writes_a_review_in_the_dashboard(tmp_path: Path) -> None:
    """From the incident page an operator starts the review (timeline filled in), saves impact and cause, adds an action with owner and due date and marks it done; the store has it all, by that person."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install -y chromium"
    async with served_dashboard(tmp_path, TOKENS) as dash, async_playwright() as pw:
        browser = await launch(pw, tmp_path / "profile")
        try:
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            await sign_in_with_read_token(page, f"{dash.base}/incidents/{dash.incident_id}")
            await page.fill("#token", "write-token-77aa")
            await page.fill("#user", "carol")
            await page.click("#save-token")
            await page.click("#review-link")
            await page.click("#start-review")
            await page.wait_for_url(f"{dash.base}/reviews/*")
            assert "opened" in await page.locator("#review-timeline").inner_text()

            await page.fill('textarea[name="impact"]', "checkout down for 3 minutes")
            await page.fill('textarea[name="cause"]', "a <b>full</b> disk")
            await page.click('#review-form button[type="submit"]')
            await page.wait_for_function(
                "() => document.querySelector('textarea[name=cause]').value.includes('disk')"
                " && document.readyState === 'complete'"
            )
            await page.fill('#action-form input[name="text"]', "alert at 80% disk")
            await page.select_option('#action-form select[name="kind"]', "preventive")
            await page.fill('#action-form input[name="owner"]', "bob")
            await page.fill('#action-form input[name="due"]', "2030-01-31")
            await page.click('#action-form button[type="submit"]')
            done = page.locator("button[data-action-id]")
            await done.wait_for()
            await done.click()
            await page.wait_for_function(
                "() => document.querySelector('#actions').textContent.includes('done')"
            )
            assert "carol" in await page.locator("#actions").inner_text()

            # alice saves from another dashboard meanwhile: carol's page is now stale.
            current = await dash.reviews.of(Target("incident", dash.incident_id))
            await dash.reviews.edit(
                current["id"],
                {"cause": "a full disk, no alert at 80%"},
                by="alice",
                expected=current["version"],
            )
            await page.fill('textarea[name="cause"]', "a network blip")
            await page.click('#review-form button[type="submit"]')
            await page.wait_for_function(
                "() => document.getElementById('msg').textContent.includes('reload it')"
            )
            assert "was changed by alice" in await page.locator("#msg").inner_text()
        finally:
            await browser.close()
        review = await dash.reviews.of(Target("incident", dash.incident_id))
    assert review["impact"] == "checkout down for 3 minutes"
    assert review["cause"] == "a full disk, no alert at 80%"  # alice's, not overwritten
    assert review["updated_by"] == "alice"
    (action,) = review["actions"]
    assert (action["kind"], action["owner"], action["done"]) == ("preventive", "bob", True)
    assert action["due"] == 1896048000.0  # 2030-01-31, midnight UTC
    assert action["done_by"] == "carol via token ops-dashboard"
