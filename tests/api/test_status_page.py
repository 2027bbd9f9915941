"""Status pages served by the API: states, daily bars, public incident summaries, no leaks,
private pages behind a read token, host checks and headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from watchd.api.status import CURRENT_TTL, DAYS, SHOWN_INCIDENTS
from watchd.config import parse_config
from watchd.loading import incident_settings
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline

from .conftest import TOKENS
from .status_world import RAW, SECRETS, served_status

pytestmark = pytest.mark.integration
READ = "read-token-5f1c"


def _no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s.lower() in text.lower()]
    assert not leaked, f"the status page shows {leaked}"


async def test_the_public_page_shows_states_bars_and_public_summaries_only(tmp_path: Path) -> None:
    """Anyone reads the public page: each service's state, 90 daily bars, and ongoing incidents by their public summary or a generic sentence, with no label, item, address or internal annotation anywhere."""
    async with served_status(tmp_path, TOKENS) as world, aiohttp.ClientSession() as http:
        world.set_status("mx-int-1", "CRITICAL")
        async with http.get(f"{world.base}/status/public") as resp:
            assert resp.status == 200
            page = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
            assert resp.headers["Cache-Control"].startswith("public")
        _no_secret(page)
        assert "Example Shop status" in page and "Some services are down" in page
        assert "Web shop" in page and "Catalogue and checkout" in page and "E-mail" in page
        assert "Some e-mails are delayed by up to an hour." in page
        assert "Investigating an issue with Web shop" in page  # no public_summary: generic
        assert page.count("<li class=") == 3 * DAYS  # a bar per day of each service
        assert "default-src 'none'" in csp and "script" not in csp and "<script" not in page
        async with http.get(f"{world.base}/status/public/status.json") as resp:
            assert resp.status == 200
            text = await resp.text()
            body: dict[str, Any] = await resp.json()
        _no_secret(text)
    states = {s["name"]: s["state"] for s in body["services"]}
    assert states == {"Web shop": "degraded", "E-mail": "down", "reports": "maintenance"}
    mail = body["services"][1]
    assert len(mail["days"]) == DAYS and mail["days"][-2]["availability_percent"] == 75.0
    assert mail["days"][0]["availability_percent"] is None  # before watchd saw it: no data
    assert "objective_percent" not in mail
    summaries = {i["summary"]: i["services"] for i in body["incidents"]}
    assert summaries == {
        "Investigating an issue with Web shop": ["Web shop"],
        "Some e-mails are delayed by up to an hour.": ["E-mail"],
    }


async def test_the_current_state_follows_checks_within_seconds(tmp_path: Path) -> None:
    """A member check turning CRITICAL shows the service down once the short cache has passed, and a WARNING one degraded."""
    raw = {**RAW, "status_pages": [{"name": "p", "public": True, "services": ["reports", "mail"]}]}
    raw["maintenance"] = []
    async with served_status(tmp_path, {}, raw=raw) as world, aiohttp.ClientSession() as http:

        async def states() -> dict[str, str]:
            async with http.get(f"{world.base}/status/p/status.json") as resp:
                return {s["name"]: s["state"] for s in (await resp.json())["services"]}

        assert await states() == {"reports": "operational", "mail": "degraded"}  # incident open
        world.set_status("rep-9", "CRITICAL")
        await world.clock.advance(CURRENT_TTL)
        assert (await states())["reports"] == "down"
        world.set_status("rep-9", "WARNING")
        await world.clock.advance(CURRENT_TTL)
        assert (await states())["reports"] == "degraded"


async def test_a_private_page_needs_a_read_token_or_a_session(tmp_path: Path) -> None:
    """A page without public = true answers a read token; without one the browser gets the sign-in form and a tool 401, and nothing of the page."""
    async with served_status(tmp_path, TOKENS) as world, aiohttp.ClientSession() as http:
        async with http.get(f"{world.base}/status/internal") as resp:
            assert resp.status == 401 and "Sign in" in await resp.text()
        async with http.get(f"{world.base}/status/internal/status.json") as resp:
            assert resp.status == 401 and "Web shop" not in await resp.text()
        wrong = {"Authorization": "Bearer not-a-token"}
        async with http.get(f"{world.base}/status/internal/status.json", headers=wrong) as resp:
            assert resp.status == 401
        good = {"Authorization": f"Bearer {READ}"}
        async with http.get(f"{world.base}/status/internal/status.json", headers=good) as resp:
            assert resp.status == 200 and (await resp.json())["services"][0]["name"] == "shop"
            assert resp.headers["Cache-Control"] == "private, no-store"


async def test_only_configured_pages_are_served_and_host_checks_still_apply(
    tmp_path: Path,
) -> None:
    """An unconfigured name is 404; a public page asked for under an unknown host name is refused (421) unless that name is in api.allowed_hosts."""
    async with (
        served_status(tmp_path, {}, allowed_hosts=["status.example.com"]) as world,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{world.base}/status/nope") as resp:
            assert resp.status == 404
        async with http.get(f"{world.base}/status/nope/status.json") as resp:
            assert resp.status == 404
        rebound = {"Host": "attacker.example"}
        async with http.get(f"{world.base}/status/public", headers=rebound) as resp:
            assert resp.status == 421
        allowed = {"Host": "status.example.com"}
        async with http.get(f"{world.base}/status/public", headers=allowed) as resp:
            assert resp.status == 200
    raw = {k: v for k, v in RAW.items() if k != "status_pages"}
    async with (
        served_status(tmp_path / "none", {}, raw=raw) as world,
        aiohttp.ClientSession() as http,
        http.get(f"{world.base}/status/public") as resp,
    ):
        assert resp.status == 404


async def test_an_incident_past_the_listed_ones_still_degrades_its_service(tmp_path: Path) -> None:
    """With more ongoing incidents than the page lists (the oldest 20), a service whose only incident is not listed still shows degraded."""
    raw = {
        **RAW,
        "maintenance": [],
        "status_pages": [{"name": "p", "services": ["reports", "mail"]}],
    }
    async with served_status(tmp_path, {}, raw=raw) as world, aiohttp.ClientSession() as http:
        settings = incident_settings(parse_config(raw, Path("test.toml")))
        pipeline = AlertPipeline(world.store.engine, clock=world.clock, settings=settings)
        now = world.clock.now()
        more = [
            {"alertname": "Q", "item": "mx-int-1", "check": f"q{n}"} for n in range(SHOWN_INCIDENTS)
        ]
        for labels in [*more, {"alertname": "R", "item": "rep-9", "check": "tcp"}]:
            await pipeline.submit((Alert(labels, AlertStatus.FIRING, now),))
        async with http.get(f"{world.base}/status/p/status.json") as resp:
            body = await resp.json()
    assert len(body["incidents"]) == SHOWN_INCIDENTS
    assert all(i["services"] == ["mail"] for i in body["incidents"])
    assert {s["name"]: s["state"] for s in body["services"]}["reports"] == "degraded"


async def test_a_public_summary_is_shown_as_text_never_as_markup(tmp_path: Path) -> None:
    """A public_summary holding HTML is shown escaped, as the words typed, and cut to 300 characters."""
    async with served_status(tmp_path, {}) as world, aiohttp.ClientSession() as http:
        settings = incident_settings(parse_config(RAW, Path("test.toml")))
        pipeline = AlertPipeline(world.store.engine, clock=world.clock, settings=settings)
        text = '<img src=x onerror="alert(1)"> Reports are slow ' + "x" * 400
        labels = {"alertname": "R", "item": "rep-9", "check": "tcp"}
        annotations = {"public_summary": text}
        alert = Alert(labels, AlertStatus.FIRING, world.clock.now(), annotations=annotations)
        await pipeline.submit((alert,))
        async with http.get(f"{world.base}/status/public") as resp:
            page = await resp.text()
        async with http.get(f"{world.base}/status/public/status.json") as resp:
            body = await resp.json()
    assert "<img" not in page and "&lt;img src=x onerror=" in page
    (summary,) = [i["summary"] for i in body["incidents"] if i["services"] == ["reports"]]
    assert summary.startswith("<img src=x") and len(summary) == 300 and summary.endswith("…")
