"""The live dashboard in real headless Chromium: rows arriving without a reload, silences made,
extended and expired from the page, problems closed and changes ended from theirs, a phone
layout with every button on screen, a dark theme."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.api.dashboard_world import Served, served_dashboard
from tests.integration.chromium import chromium
from tests.integration.test_daemon import free_port, shipped_config_for, start_daemon
from tests.integration.test_dashboard_browser import ARTIFACTS
from tests.pipeline.conftest import alert
from watchd.pipeline import AlertPipeline

pytestmark = pytest.mark.integration

# How wide the page is against the screen, and where each Acknowledge button sits.
FIT = """() => ({
  scroll: document.scrollingElement.scrollWidth,
  width: window.innerWidth,
  buttons: [...document.querySelectorAll('button[data-action="ack"]')].map(b => {
    const r = b.getBoundingClientRect();
    return {left: r.left, right: r.right, width: r.width};
  }),
})"""
COLOURS = """() => {
  const body = getComputedStyle(document.body);
  const row = document.querySelector('tr[data-incident]');
  const state = row.querySelector('.state-open, .state-acknowledged');
  return {
    text: body.color, background: body.backgroundColor,
    row: getComputedStyle(row).backgroundColor === 'rgba(0, 0, 0, 0)'
      ? getComputedStyle(row.closest('table')).backgroundColor : getComputedStyle(row).backgroundColor,
    state: getComputedStyle(state).color,
    link: getComputedStyle(row.querySelector('a')).color,
  };
}"""


async def _alert(dash: Served, **labels: str) -> None:
    """Fire one alert through the served Alertmanager-compatible ingestion route."""
    body = [{"labels": labels, "annotations": {"summary": f"{labels['alertname']} fired"}}]
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{dash.base}/api/v2/alerts", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()


def _contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two CSS rgb() colours."""

    def luminance(rgb: str) -> float:
        channels = [float(v) / 255 for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def test_a_new_alert_appears_on_the_open_page_without_a_reload(tmp_path: Path) -> None:
    """In the real daemon (`watchd run`, the shipped config), an alert posted while the dashboard is open shows up as a new row within one refresh without the page reloading, and its Acknowledge button works; once the daemon is gone the page says the list is not refreshing."""
    port = free_port()
    daemon = await asyncio.to_thread(
        start_daemon, tmp_path, shipped_config_for(tmp_path, port), port
    )
    try:
        async with chromium(tmp_path) as browser:
            page = await browser.new_page()
            page.set_default_timeout(25_000)
            await page.goto(daemon.url("/"))
            await page.locator("#incident-list").wait_for()
            await page.evaluate("() => { window.notReloaded = true; }")
            body = [{"labels": {"alertname": "DiskFull", "item": "db1", "severity": "warning"}}]
            async with (
                aiohttp.ClientSession() as http,
                http.post(daemon.url("/api/v2/alerts"), json=body) as resp,
            ):
                assert resp.status == 200, await resp.text()
            row = page.locator("tr[data-incident]", has_text="db1")
            await row.wait_for()  # the next 10-second refresh brings it
            assert await page.evaluate("() => window.notReloaded === true")
            await row.locator('button[data-action="ack"]').click()
            await page.locator("tr[data-incident]", has_text="acknowledged").wait_for()
            assert await page.locator("#stale").inner_text() == ""
            await asyncio.to_thread(daemon.discard)  # watchd gone: the page must not look live
            await page.locator("#stale", has_text="not refreshing").wait_for()
    finally:
        await asyncio.to_thread(daemon.discard)


async def test_a_silence_made_on_the_page_mutes_the_next_alert_and_can_be_extended_and_expired(
    tmp_path: Path,
) -> None:
    """On /silences an operator sees the API's reason for a bad silence in the form, creates one for db1 that mutes db1's next alert, extends it by an hour and expires it."""
    async with served_dashboard(tmp_path, {}) as dash, chromium(tmp_path) as browser:
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{dash.base}/silences")
        await page.fill("#user", "alice")
        await page.click("#save-token")
        form = page.locator("#silence-form")
        await form.locator('textarea[name="matchers"]').fill("no operator here")
        await form.locator("button[type=submit]").click()
        error = page.locator("#silence-error")
        await page.wait_for_function("() => document.getElementById('silence-error').textContent")
        assert "matchers" in (await error.inner_text()).lower()
        await form.locator('textarea[name="matchers"]').fill('item="db1"')
        await form.locator('input[name="duration"]').fill("2h")
        await form.locator('input[name="comment"]').fill("disk swap")
        await form.locator("button[type=submit]").click()
        row = page.locator("tr[data-silence]")
        await row.wait_for()
        assert "disk swap" in await row.inner_text() and "alice" in await row.inner_text()
        (silence,) = await dash.incidents.silences()
        assert silence["ends_at"] == pytest.approx(dash.clock.now() + 7200)

        await _alert(dash, alertname="DiskFull", item="db1", severity="warning")
        (muted,) = [i for i in await dash.incidents.list_incidents() if i["item"] == "db1"]
        alerts = (await dash.incidents.get_incident(int(muted["id"])))["alerts"]
        assert alerts[0]["muted"] and "silence" in alerts[0]["muted"]

        await row.locator("select").select_option("3600")
        await row.locator('button[data-silence-action="extend"]').click()
        await page.wait_for_function(
            "old => document.querySelector('tr[data-silence]')?.dataset.silence !== old",
            arg=silence["id"],
        )
        (extended,) = await dash.incidents.silences()
        assert extended["ends_at"] == pytest.approx(silence["ends_at"] + 3600)
        assert extended["matchers"] == silence["matchers"] and extended["id"] != silence["id"]

        await page.locator('button[data-silence-action="expire"]').click()
        await page.locator("text=No active silences.").wait_for()
        assert await dash.incidents.silences() == []


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 800), ("phone", 390, 844)])
async def test_every_acknowledge_button_is_on_screen_without_sideways_scrolling(
    tmp_path: Path, name: str, width: int, height: int
) -> None:
    """At desktop and 390-pixel phone width, the front page, the history, silences, problems and changes scroll only up and down, every Acknowledge button is inside the screen and no script breaks the CSP; screenshots go to test-artifacts/."""
    async with (
        served_dashboard(tmp_path, {}) as dash,
        chromium(tmp_path, viewport={"width": width, "height": height}) as browser,
    ):
        for n in range(3):
            await _alert(dash, alertname=f"Very{'Long' * 6}Alert{n}", item=f"host-{n}.example.org")
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        for path in ("/", "/history?state=open", "/silences", "/problems", "/changes"):
            await page.goto(f"{dash.base}{path}")
            fit = await page.evaluate(FIT)
            assert fit["scroll"] <= fit["width"], (path, fit)
            assert len(fit["buttons"]) == {"/": 4, "/history?state=open": 4}.get(path, 0)
            for box in fit["buttons"]:
                assert box["width"] > 0 and box["left"] >= 0 and box["right"] <= fit["width"]
        await page.goto(f"{dash.base}/")
        await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
    assert not [m for m in console if "Content Security Policy" in m], console


async def test_the_dashboard_follows_a_dark_system_theme_with_readable_text(tmp_path: Path) -> None:
    """With the system theme dark, the page turns dark and its text, links and incident states keep a contrast of at least 4.5:1 against their background (WCAG AA); in a light theme it stays light."""
    async with (
        served_dashboard(tmp_path, {}) as dash,
        chromium(tmp_path, color_scheme="dark", viewport={"width": 390, "height": 844}) as browser,
    ):
        page = await browser.new_page()
        await page.goto(f"{dash.base}/")
        dark = await page.evaluate(COLOURS)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-dark.png"), full_page=True)
        await page.emulate_media(color_scheme="light")
        light = await page.evaluate(COLOURS)
    assert _contrast(dark["background"], "rgb(0, 0, 0)") < 1.5  # dark, not the light page
    assert _contrast(light["background"], "rgb(255, 255, 255)") < 1.1
    for colours in (dark, light):
        assert _contrast(colours["text"], colours["background"]) >= 4.5, colours
        assert _contrast(colours["state"], colours["row"]) >= 4.5, colours
        assert _contrast(colours["link"], colours["row"]) >= 4.5, colours


async def test_a_problem_is_closed_and_a_change_ended_from_their_pages(tmp_path: Path) -> None:
    """/problems lists a recurring key's problem, its page lists its incidents and closes it with what was done; /changes lists a running change whose page ends it now."""
    async with served_dashboard(tmp_path, {}) as dash, chromium(tmp_path) as browser:
        driver = AlertPipeline(dash.store.engine, clock=dash.clock, settings=dash.settings)
        for _ in range(3):  # the key recurring three times in a week opens a problem
            await driver.submit((alert("db1"),))
            await driver.submit((alert("db1", firing=False),))
            await dash.clock.advance(7200)
        (problem,) = await dash.incidents.problems(state="open")
        now = dash.clock.now()
        change = await dash.incidents.add_change(
            item="web1",
            summary="kernel update",
            starts_at=now - 60,
            ends_at=now + 3600,
            created_by="ops",
        )
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{dash.base}/problems")
        await page.click(f'tr[data-problem="{problem["id"]}"] a >> nth=0')
        await page.wait_for_url(f"{dash.base}/problems/{problem['id']}")
        shown = {
            int(i)
            for i in await page.locator("tr[data-incident]").evaluate_all(
                "rows => rows.map(r => r.dataset.incident)"
            )
        }
        assert shown == set(problem["incidents"])
        await page.fill("#resolution", "replaced the disk")
        await page.click("text=Close problem")
        await page.wait_for_function(
            "() => document.getElementById('state')?.textContent === 'closed'"
        )
        assert "replaced the disk" in await page.locator("main").inner_text()
        closed = await dash.incidents.get_problem(problem["id"])
        assert (closed["state"], closed["resolution"]) == ("closed", "replaced the disk")

        await page.goto(f"{dash.base}/changes")
        row = page.locator(f'tr[data-change="{change["id"]}"]')
        assert "kernel update" in await row.inner_text()
        await row.locator("a >> nth=0").click()
        await page.click("text=End now")
        await page.locator(".actions .muted", has_text="ended").wait_for()
        ended = await dash.incidents.get_change(change["id"])
        assert ended is not None and ended["ends_at"] == dash.clock.now()
        for missing in ("/problems/999", "/changes/999"):
            assert (await page.goto(f"{dash.base}{missing}")).status == 404
