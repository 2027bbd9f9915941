"""The dashboard's page of one service: objective, rule, this month's availability, 30 daily
bars and each member check's mean latency per day as an SVG line, over a real store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from watchd.api.service_pages import DAYS, HEIGHT, PAD, WIDTH
from watchd.store import AvailabilitySample

from .conftest import TOKENS
from .status_world import DAY, RAW, served_status

pytestmark = pytest.mark.integration
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# Two more services: "api" (samples two days ago and yesterday, added by the test) and
# "billing", whose check never reported.
WITH_API: dict[str, Any] = {
    **RAW,
    "items": [
        *RAW["items"],
        {
            "name": "api-1",
            "address": "10.20.30.60",
            "checks": [{"name": "http", "kind": "tcp", "port": 8080}],
        },
        {
            "name": "bill-1",
            "address": "10.20.30.61",
            "checks": [{"name": "http", "kind": "tcp", "port": 8080}],
        },
    ],
    "services": [
        *RAW["services"],
        {"name": "api", "checks": ["api-1/*"], "objective": 99.9, "availability": "any"},
        {"name": "billing", "checks": ["bill-1/*"]},
    ],
}


def _bars(page: str) -> list[tuple[str, str]]:
    """(date, percent or "") of each daily bar, oldest first."""
    return re.findall(
        r'<li class="\w+" title="[^"]*" data-date="([\d-]+)" data-percent="([^"]*)"', page
    )


def _polylines(page: str) -> dict[str, list[tuple[float, float]]]:
    """Each member check's latency polyline points, by check."""
    out = {}
    for check, points in re.findall(
        r'<section class="latency" data-check="([^"]+)">.*?<polyline class="line" fill="none" points="([^"]*)"',
        page,
        re.S,
    ):
        out[check] = [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]
    return out


async def _get(
    tmp_path: Path,
    path: str,
    *,
    raw: dict[str, Any] = RAW,
    tokens: Mapping[str, frozenset[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Mapping[str, str], str]:
    """The status, headers and text of `path` on a fresh served world of `raw`."""
    async with (
        served_status(tmp_path, tokens or {}, raw=raw) as world,
        aiohttp.ClientSession() as http,
        http.get(f"{world.base}{path}", headers=headers) as resp,
    ):
        return resp.status, resp.headers, await resp.text()


async def test_a_service_page_shows_its_daily_availability_and_latency_per_day(
    tmp_path: Path,
) -> None:
    """A service's page shows its objective, rule and month's figure, 30 daily bars with the right percentages ("no data" before its first sample) and one latency point per day with samples, each at its day and mean latency."""
    async with served_status(tmp_path, {}, raw=WITH_API) as world, aiohttp.ClientSession() as http:
        today = world.clock.now() - world.clock.now() % DAY
        for t in range(int(today - 2 * DAY), int(today - 7200), 60):  # to 22:00 yesterday
            latency = 0.1 if t < today - DAY else 0.3
            world.store.record_sample(AvailabilitySample("api-1", "http", t, 0, latency))
        await world.store.flush()
        async with http.get(f"{world.base}/") as resp:
            assert '<a href="/services/mail">mail</a>' in await resp.text()
        async with http.get(f"{world.base}/services/mail") as resp:
            assert resp.status == 200
            page = await resp.text()
        assert 'id="objective">99.0%' in page and "<code>all</code>" in page
        bars = _bars(page)
        assert len(bars) == DAYS and bars[-1] == ("2027-01-15", "100.0")
        assert bars[-2] == ("2027-01-14", "75.0")  # down 06:00-12:00 UTC
        assert all(pct == "" for _, pct in bars[:-2])  # before watchd saw it
        assert page.count("no data") >= DAYS - 2
        lines = _polylines(page)
        assert list(lines) == ["mx-int-1/smtp"] and len(lines["mx-int-1/smtp"]) == 2
        assert "<title>2027-01-14: 10.0 ms</title>" in page and "2027-01-15: 10.0 ms" in page

        async with http.get(f"{world.base}/services/api") as resp:
            page = await resp.text()
        assert "<code>any</code>" in page and 'id="objective">99.9%' in page
        assert [pct for _, pct in _bars(page)[-3:]] == ["100.0", "100.0", ""]  # none today
        # Two days, 100 ms then 300 ms: on the days' axis, at heights in proportion above the
        # chart's zero line.
        (x1, y1), (x2, y2) = _polylines(page)["api-1/http"]
        step = (WIDTH - 2 * PAD) / (DAYS - 1)
        assert (x1, x2) == (round(PAD + (DAYS - 3) * step, 2), round(PAD + (DAYS - 2) * step, 2))
        zero = HEIGHT - PAD
        assert (zero - y1) / (zero - y2) == pytest.approx(1 / 3, abs=1e-3) and y2 > PAD
        assert (
            "100.0 ms" in page and "300.0 ms" in page and "<script" not in page.split("</main>")[0]
        )


async def test_a_service_without_samples_says_no_data(tmp_path: Path) -> None:
    """A service whose checks never reported shows "no data" for its month, its days and its latency, and draws no chart."""
    status, _, page = await _get(tmp_path, "/services/billing", raw=WITH_API)
    assert status == 200
    assert 'id="month" class="CRITICAL">no data' in page and 'id="days-no-data"' in page
    assert all(pct == "" for _, pct in _bars(page)) and len(_bars(page)) == DAYS
    assert "<svg" not in page and "bill-1/http" in page


async def test_an_unknown_service_is_a_404_page_and_pages_need_a_session(tmp_path: Path) -> None:
    """A name that is no configured service answers 404 with a page naming it; with tokens configured, a browser without a session gets the sign-in form, not the service."""
    status, headers, page = await _get(tmp_path, "/services/nope")
    assert status == 404 and "No service called “nope” is configured." in page
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    status, _, page = await _get(tmp_path / "t", "/services/shop", tokens=TOKENS)
    assert status == 401 and "Sign in" in page and "web-7f3a/http" not in page


async def test_a_chinese_browser_gets_the_service_page_in_chinese(tmp_path: Path) -> None:
    """With Accept-Language zh-CN the service page's headings, rule and "no data" are Chinese and days are written the Chinese way."""
    status, headers, page = await _get(tmp_path, "/services/mail", headers=ZH)
    assert status == 200 and headers["Content-Language"] == "zh-CN"
    for heading in (
        "服务 mail",
        "最近 30 天的每日可用率",
        "每日平均延迟",
        "可用率规则",
        "本月可用率",
        "无数据",
    ):
        assert heading in page, heading
    assert "2027年1月15日" in page
    for english in ("Mean latency per day", "Availability rule", "Service mail"):
        assert english not in page, english


async def test_the_service_pages_days_are_local_days_of_the_daemons_zone(tmp_path: Path) -> None:
    """With [daemon] timezone = Asia/Shanghai the bars are Shanghai days: mail's outage (06:00-12:00 UTC) falls on a day watchd saw 16 hours of, and the page names the zone."""
    raw = {**RAW, "daemon": {"timezone": "Asia/Shanghai"}}
    _, _, page = await _get(tmp_path, "/services/mail", raw=raw)
    assert _bars(page)[-2:] == [("2027-01-14", "62.5"), ("2027-01-15", "100.0")]
    assert "Days are local days (Asia/Shanghai)." in page
