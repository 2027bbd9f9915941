"""The dashboard in Chinese in real headless Chromium: a browser set to zh-CN reads every word
of the page's chrome in Chinese, at desktop and phone width; a user whose locale is en reads
English in the same browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.conftest import TOKENS
from tests.api.dashboard_world import served_dashboard
from tests.integration.chromium import chromium
from tests.integration.test_dashboard_browser import ARTIFACTS
from watchd.people.passwords import Account, hash_password

pytestmark = pytest.mark.integration

CHINESE_BROWSER = {"flags": ["--lang=zh-CN"], "locale": "zh-CN"}
# The English words of the front page's chrome (header, filters, table heads, buttons,
# panels): none may be left for a Chinese reader. Data (item names, check status codes such
# as CRITICAL, messages) stays as it is.
ENGLISH_CHROME = (
    "Incidents", "History", "Items", "Silences", "Problems", "Changes", "Your name", "Save",
    "Open incidents", "Search", "State", "Severity", "Item", "Sort", "Show", "clear", "any",
    "Acknowledge", "Resolve", "Title", "Opened", "incident", "open", "critical",
    "Service availability this month", "Service", "Availability", "Objective", "Unmonitored",
    "Checks not OK", "Check", "Status", "Message", "Cluster", "Node", "Heartbeat", "Zones",
    "Leases", "ago", "live", "newest", "single node",
)  # fmt: skip
CHINESE_CHROME = ("事件", "历史", "对象", "静默", "问题", "变更", "未结束的事件", "确认", "解决")
PASSWORD = "correct horse battery"


def _english_left(text: str) -> list[str]:
    return [w for w in ENGLISH_CHROME if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
async def test_a_chinese_browser_reads_the_dashboard_with_no_english_chrome(
    tmp_path: Path, width: int, height: int
) -> None:
    """Chromium set to zh-CN gets <html lang="zh-CN"> and reads the front page's header, filters, incident list, buttons and panels in Chinese with none of their English words left (placeholders and the page title too), at desktop and phone width; screenshots go to test-artifacts/."""
    async with (
        served_dashboard(tmp_path, {}) as dash,
        chromium(
            tmp_path, viewport={"width": width, "height": height}, **CHINESE_BROWSER
        ) as browser,
    ):
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{dash.base}/")
        await page.locator(f'tr[data-incident="{dash.incident_id}"]').wait_for()
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        text = await page.inner_text("body")
        assert _english_left(text) == []
        assert all(w in text for w in CHINESE_CHROME), text
        assert await page.title() == "事件 · watchd"
        placeholders = await page.eval_on_selector_all(
            "[placeholder]", "els => els.map(e => e.placeholder)"
        )
        assert "标题、对象或标签" in placeholders and "随确认/解决一并记录" in placeholders
        await page.screenshot(path=str(ARTIFACTS / f"dashboard-zh-{width}.png"), full_page=True)
        await page.locator('button[data-action="ack"]').first.click()
        await page.wait_for_function(
            "() => document.querySelector('tr[data-incident] td:nth-child(2)')"
            "?.textContent.includes('已确认')"
        )


async def test_a_user_whose_locale_is_english_reads_english_in_a_chinese_browser(
    tmp_path: Path,
) -> None:
    """In Chromium set to zh-CN the sign-in form is Chinese; alice, whose locale is en, signs in and reads the dashboard in English."""
    alice = Account("alice", "Alice Li (alice)", hash_password(PASSWORD), "en")
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": alice}) as dash,
        chromium(tmp_path, **CHINESE_BROWSER) as browser,
    ):
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{dash.base}/")
        assert await page.locator("h1").inner_text() == "登录"
        form = page.locator("#password-sign-in")
        await form.locator('input[name="user"]').fill("alice")
        await form.locator('input[name="password"]').fill(PASSWORD)
        await form.locator('button[type="submit"]').click()
        await page.wait_for_url(f"{dash.base}/")
        assert await page.evaluate("document.documentElement.lang") == "en"
        text = await page.inner_text("body")
        assert "Open incidents" in text and "Acknowledge" in text
        assert not any(w in text for w in CHINESE_CHROME)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-en-user.png"), full_page=True)
