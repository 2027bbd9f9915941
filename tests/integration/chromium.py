"""Debian's chromium driven by Playwright, for the browser tests of the dashboard and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, async_playwright

from tests.integration.test_dashboard_browser import ARTIFACTS, CHROMIUM, FLAGS


@asynccontextmanager
async def chromium(
    tmp_path: Path, *, flags: Sequence[str] = (), **options: Any
) -> AsyncIterator[BrowserContext]:
    """A headless chromium with a fresh profile under `tmp_path` (a persistent context is how
    Playwright takes a --user-data-dir of our own), started with FLAGS and `flags`; `options`
    go to the browser context. test-artifacts/ exists for screenshots."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, *flags],
            timeout=30_000,
            **options,
        )
        try:
            yield browser
        finally:
            await browser.close()
