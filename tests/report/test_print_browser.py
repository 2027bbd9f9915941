"""The HTML report printed by real headless Chromium on A4: every table fits the page."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from watchd.report.build import build_report
from watchd.report.config import ServiceConfig
from watchd.report.period import Period
from watchd.report.render import render_html

from .conftest import NOW, World

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# A4 less the 12 mm margins of the report's @page rule, in CSS pixels (96 per inch).
PAGE_WIDTH = round((210 - 2 * 12) / 25.4 * 96)
PROBE = """() => [...document.querySelectorAll('table')].map(t => ({
    id: t.id,
    scroll: t.scrollWidth,
    client: t.clientWidth,
    right: Math.max(...[...t.querySelectorAll('th, td')].map(c => c.getBoundingClientRect().right)),
    page: document.documentElement.clientWidth,
}))"""


async def _tables(page: Page, media: str) -> dict[str, dict[str, Any]]:
    await page.emulate_media(media=media)  # type: ignore[arg-type]
    return {t["id"]: t for t in await page.evaluate(PROBE)}


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
async def test_the_printed_report_keeps_every_column_of_every_table_on_a4(
    world: World, tmp_path: Path, locale: str
) -> None:
    """Laid out for print at A4's width, in English and in Chinese, no table is wider than the page (the Services table keeps all 14 columns, long Chinese service names wrap), while on screen the same table scrolls; Chromium's print-to-PDF gives A4 pages."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install -y chromium"
    long_names = [
        ServiceConfig(name="支付与结算服务 payment-and-settlement-gateway", checks=["web1/*"]),
        ServiceConfig(name="订单处理 order-processing-backend", checks=["db1/*", "web1/*"]),
    ]
    catalog = dataclasses.replace(world.catalog, services=(*world.catalog.services, *long_names))
    report = await build_report(world.store.engine, catalog, Period.month("2026-10"), now=NOW)
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(report, locale))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": PAGE_WIDTH, "height": 1123})
            await page.goto(page_file.as_uri())
            screen = await _tables(page, "screen")
            printed = await _tables(page, "print")
            pdf = await page.pdf(format="A4", prefer_css_page_size=True)
        finally:
            await browser.close()
    assert screen["services"]["scroll"] > screen["services"]["client"], "the control"
    assert {"services", "comparison", "outages", "checks"} <= set(printed)
    for table in printed.values():
        assert table["scroll"] <= table["client"], table
        assert table["right"] <= table["page"] + 0.5, table
    assert pdf.startswith(b"%PDF")
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert sizes and all((round(float(w)), round(float(h))) == (595, 842) for w, h in sizes), (
        sizes
    )  # A4 in points
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"report-a4-{locale}.pdf").write_bytes(pdf)
