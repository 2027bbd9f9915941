"""The dashboard and status pages in the reader's language: a signed-in user's locale, else
the browser's Accept-Language, else `[daemon] locale`; answers vary on Accept-Language."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from watchd.people.passwords import Account, hash_password

from .conftest import TOKENS
from .dashboard_world import RAW, served_dashboard
from .status_world import served_status

pytestmark = pytest.mark.integration
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
PASSWORD = "correct horse battery"
# Text of the front page's chrome in each language (headings, buttons, table heads).
ENGLISH = ("Open incidents", "Acknowledge", "Resolve", "Service availability this month", "Sort")
CHINESE = ("未结束的事件", "确认", "解决", "本月服务可用率", "排序")


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[str, Any]:
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200, url
        return await resp.text(), resp.headers


def _speaks(page: str, words: tuple[str, ...], not_words: tuple[str, ...]) -> None:
    assert all(w in page for w in words), [w for w in words if w not in page]
    assert not any(w in page for w in not_words), [w for w in not_words if w in page]


async def test_a_chinese_browser_gets_the_dashboard_in_chinese(tmp_path: Path) -> None:
    """A browser asking for zh-CN gets the front page and its refreshed list in Chinese (lang="zh-CN", states and counts too), an English one in English, and both answers say they vary on Accept-Language."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        page, headers = await _get(http, f"{dash.base}/", ZH)
        assert '<html lang="zh-CN">' in page and headers["Content-Language"] == "zh-CN"
        assert "Accept-Language" in headers["Vary"]
        _speaks(page, CHINESE, ENGLISH)
        assert ">待处理</td>" in page and "1 个事件" in page and ">严重</td>" in page
        fragment, headers = await _get(http, f"{dash.base}/fragments/incidents?view=open", ZH)
        assert "待处理" in fragment and "Accept-Language" in headers["Vary"]
        page, headers = await _get(http, f"{dash.base}/", EN)
        assert '<html lang="en">' in page and headers["Content-Language"] == "en"
        _speaks(page, ENGLISH, CHINESE)
        assert "1 incident<" in page and ">open</td>" in page


async def test_every_dashboard_page_renders_in_chinese(tmp_path: Path) -> None:
    """Each dashboard page answers in Chinese for a Chinese browser, a bad filter is named in Chinese, and times are written the Chinese way."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        pages = {
            "/history": "事件历史",
            "/items": "对象与检查",
            "/silences": "生效中的静默",
            "/problems": "问题",
            "/changes": "变更",
            f"/incidents/{dash.incident_id}": "时间线",
            f"/incidents/{dash.incident_id}/review": "开始复盘",
            "/login": "登录",
            "/?severity=loud": "已忽略 severity：&#39;loud&#39; 不在 critical, error, warning, info 之中。",
        }
        for path, text in pages.items():
            page, _ = await _get(http, f"{dash.base}{path}", ZH)
            assert '<html lang="zh-CN">' in page and text in page, path
        page, _ = await _get(http, f"{dash.base}/incidents/{dash.incident_id}", ZH)
        assert "年" in page and "日 " in page and " UTC" in page  # 2026年11月30日 02:05:03 UTC


async def test_the_daemons_locale_is_the_default_a_browser_can_change(tmp_path: Path) -> None:
    """With [daemon] locale = "zh_CN", a browser asking for no language watchd has gets Chinese, one asking for English gets English."""
    raw = {**RAW, "daemon": {"locale": "zh_CN"}}
    async with served_dashboard(tmp_path, {}, raw=raw) as dash, aiohttp.ClientSession() as http:
        page, _ = await _get(http, f"{dash.base}/", {"Accept-Language": "fr-FR,de;q=0.5"})
        _speaks(page, CHINESE, ENGLISH)
        page, _ = await _get(http, f"{dash.base}/", {})
        _speaks(page, CHINESE, ENGLISH)
        page, _ = await _get(http, f"{dash.base}/", EN)
        _speaks(page, ENGLISH, CHINESE)


async def test_dashboard_times_are_in_the_daemons_time_zone(tmp_path: Path) -> None:
    """With [daemon] timezone = "Asia/Shanghai" the incident list shows when the incident opened in Shanghai time with its offset (the zone its history days are in), in English and Chinese."""
    raw = {**RAW, "daemon": {"timezone": "Asia/Shanghai"}}
    async with served_dashboard(tmp_path, {}, raw=raw) as dash, aiohttp.ClientSession() as http:
        (incident,) = await dash.incidents.list_incidents()
        offset = 8 * 3600
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(incident["opened_at"] + offset))
        page, _ = await _get(http, f"{dash.base}/", EN)
        assert f"{local} +08:00" in page and " UTC<" not in page
        page, _ = await _get(http, f"{dash.base}/", ZH)
        assert f"{local[11:]} +08:00" in page and "年" in page


async def test_a_signed_in_users_locale_wins_over_their_browsers(tmp_path: Path) -> None:
    """alice (locale en) in a Chinese browser sees English once signed in, bob (locale zh_CN) in an English browser sees Chinese; the sign-in form itself follows the browser."""
    hashed = hash_password(PASSWORD)
    accounts = {
        "alice": Account("alice", "Alice Li (alice)", hashed, "en"),
        "bob": Account("bob", "bob", hashed, "zh_CN"),
    }
    async with served_dashboard(tmp_path, TOKENS, accounts=lambda: accounts) as dash:
        for user, browser, words, not_words in (
            ("alice", ZH, ENGLISH, CHINESE),
            ("bob", EN, CHINESE, ENGLISH),
        ):
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar, headers=browser) as http:
                async with http.get(f"{dash.base}/") as resp:
                    form = await resp.text()
                    assert resp.status == 401
                assert ("登录" in form) == (browser is ZH)
                async with http.post(
                    f"{dash.base}/login",
                    data={"user": user, "password": PASSWORD, "next": "/"},
                    allow_redirects=False,
                ) as resp:
                    assert resp.status == 303
                page, _ = await _get(http, f"{dash.base}/", {})
                _speaks(page, words, not_words)


async def test_the_status_page_speaks_the_readers_language_from_one_computation(
    tmp_path: Path,
) -> None:
    """A Chinese browser gets the public status page and its JSON in Chinese and an English one right after gets English within the same cache period; answers vary on Accept-Language so a proxy keeps one copy per language."""
    async with served_status(tmp_path, TOKENS) as world, aiohttp.ClientSession() as http:
        world.set_status("mx-int-1", "CRITICAL")
        page, headers = await _get(http, f"{world.base}/status/public", ZH)
        assert '<html lang="zh-CN">' in page and headers["Content-Language"] == "zh-CN"
        assert headers["Vary"] == "Accept-Language" and headers["Cache-Control"].startswith(
            "public"
        )
        _speaks(
            page,
            ("部分服务中断", "进行中的事件", "正在调查 Web shop 的问题", "今天", "低于 95 %"),
            ("Today", "Under"),
        )
        text, _ = await _get(http, f"{world.base}/status/public/status.json", ZH)
        body = json.loads(text)
        assert body["headline"] == "部分服务中断"
        assert "正在调查 Web shop 的问题" in [i["summary"] for i in body["incidents"]]
        page, headers = await _get(http, f"{world.base}/status/public", EN)
        assert headers["Content-Language"] == "en"
        _speaks(page, ("Some services are down", "Investigating an issue with Web shop"), ("今天",))
        page, _ = await _get(http, f"{world.base}/status/public", {})
        assert "Some services are down" in page  # no Accept-Language: [daemon] locale (en)


async def test_a_report_over_http_is_in_the_readers_language(tmp_path: Path) -> None:
    """GET /api/v1/reports/html and ?format=text from a Chinese browser are in Chinese, from an English one in English, and both vary on Accept-Language; JSON keeps its English keys."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        page, headers = await _get(http, f"{dash.base}/api/v1/reports/html", ZH)
        assert '<html lang="zh-CN">' in page and "<h2>中断与事件</h2>" in page
        assert "Accept-Language" in headers["Vary"]
        text, _ = await _get(http, f"{dash.base}/api/v1/reports/availability?format=text", ZH)
        assert text.startswith("可用性报告 ")
        text, _ = await _get(http, f"{dash.base}/api/v1/reports/availability?format=text", EN)
        assert text.startswith("Availability report ")
        body, _ = await _get(http, f"{dash.base}/api/v1/reports/availability", ZH)
        assert "availability_percent" in body
