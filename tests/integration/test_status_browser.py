"""Status pages in real headless Chromium: desktop and phone widths, light and dark system
themes, nothing wider than the screen, styles allowed by the page's CSP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page

from tests.api.conftest import TOKENS
from tests.api.status_world import SECRETS, served_status
from tests.integration.chromium import chromium
from tests.integration.test_dashboard_browser import ARTIFACTS
from watchd.api.service_pages import DAYS as SERVICE_DAYS
from watchd.api.status import DAYS

pytestmark = pytest.mark.integration

SIZES = {"desktop": (1280, 800), "phone": (360, 740)}
# Elements reaching past the right edge of the screen (a horizontal scroll on a phone).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName + '.' + e.className);
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""
LOOK = """() => {
  const bar = document.querySelector('.bars li');
  const box = bar.getBoundingClientRect();
  return {
    background: getComputedStyle(document.body).backgroundColor,
    bar: getComputedStyle(bar).backgroundColor,
    barWidth: box.width,
    barHeight: box.height,
  };
}"""


def _luminance(rgb: str) -> float:
    """0 (black) .. 255 (white) of a CSS "rgb(r, g, b)" value."""
    r, g, b = (float(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# A browser set to English and one set to Chinese, and a word of each page's state.
LANGUAGES = {
    "en": ({"locale": "en-US"}, "Down"),
    "zh": ({"locale": "zh-CN", "flags": ["--lang=zh-CN"]}, "中断"),
}


async def watched_page(browser: BrowserContext) -> tuple[Page, list[str]]:
    """A new page and the console messages it will log (a CSP violation is one of them)."""
    page = await browser.new_page()
    page.set_default_timeout(15_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    return page, console


async def sizes_and_themes(page: Page) -> AsyncIterator[tuple[str, str]]:
    """Each width of SIZES in a light and a dark system theme, set on `page` before its turn."""
    for size, (width, height) in SIZES.items():
        for theme in ("light", "dark"):
            await page.set_viewport_size({"width": width, "height": height})
            await page.emulate_media(color_scheme=theme)
            yield size, theme


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_status_page_fits_desktop_and_phone_in_light_and_dark(
    tmp_path: Path, language: str
) -> None:
    """At 1280 and 360 pixels wide, in a light and a dark system theme, in English and in Chinese, the public page shows 90 visible bars per service with nothing overflowing sideways, follows the theme, and Chromium reports no CSP violation; screenshots go to test-artifacts/."""
    options, down = LANGUAGES[language]
    async with (
        served_status(tmp_path, TOKENS) as world,
        chromium(tmp_path, **options) as browser,
    ):
        world.set_status("mx-int-1", "CRITICAL")
        page, console = await watched_page(browser)
        async for size, theme in sizes_and_themes(page):
            await page.goto(f"{world.base}/status/public")
            text = await page.locator("body").inner_text()
            assert "E-mail" in text and down in text
            assert not [s for s in SECRETS if s.lower() in text.lower()]
            assert await page.locator(".service").count() == 3
            assert await page.locator(".bars li").count() == 3 * DAYS
            fit = await page.evaluate(OVERFLOW)
            assert fit["scroll"] <= fit["width"] and not fit["wide"], (size, theme, fit)
            look = await page.evaluate(LOOK)
            assert look["barWidth"] > 0.5 and look["barHeight"] >= 30, look
            dark = _luminance(look["background"]) < 60
            assert dark == (theme == "dark"), (theme, look)
            await page.screenshot(
                path=str(ARTIFACTS / f"status-{language}-{size}-{theme}.png"), full_page=True
            )
    assert not [m for m in console if "Content Security Policy" in m], console


CHART = """() => {
  const chart = document.querySelector('svg.chart').getBoundingClientRect();
  const line = getComputedStyle(document.querySelector('svg.chart .line')).stroke;
  return {
    background: getComputedStyle(document.body).backgroundColor,
    chartWidth: chart.width,
    chartHeight: chart.height,
    line,
  };
}"""


async def test_a_service_page_fits_desktop_and_phone_in_light_and_dark(tmp_path: Path) -> None:
    """The dashboard's page of a service shows its 30 daily bars and a latency chart per member check at 1280 and 360 pixels wide, in light and dark system themes, with nothing overflowing sideways and no CSP violation; screenshots go to test-artifacts/."""
    async with served_status(tmp_path, {}) as world, chromium(tmp_path) as browser:
        page, console = await watched_page(browser)
        async for size, theme in sizes_and_themes(page):
            await page.goto(f"{world.base}/services/shop")
            assert await page.locator(".bars li").count() == SERVICE_DAYS
            assert await page.locator("svg.chart").count() == 2  # web-7f3a/http, db-prod-2/pg
            fit = await page.evaluate(OVERFLOW)
            assert fit["scroll"] <= fit["width"] and not fit["wide"], (size, theme, fit)
            look = await page.evaluate(CHART)
            assert look["chartWidth"] > 200 and look["chartHeight"] >= 100, look
            dark = _luminance(look["background"]) < 60
            assert dark == (theme == "dark"), (theme, look)
            assert (_luminance(look["line"]) > 100) == dark, look  # the line stands out
            await page.screenshot(
                path=str(ARTIFACTS / f"service-{size}-{theme}.png"), full_page=True
            )
    assert not [m for m in console if "Content Security Policy" in m], console
