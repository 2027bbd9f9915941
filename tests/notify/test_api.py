"""Acknowledge links and the delivery log over HTTP, on a loopback server with a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.notify.conftest import Notify, alert, ok
from watchd.api import ack as ack_routes
from watchd.api import create_app, start_api
from watchd.api import deliveries as delivery_routes
from watchd.metrics import Metrics
from watchd.notify.acklinks import AckLinkError, make_token, verify_token
from watchd.pipeline.actions import IncidentService

KEY = b"k" * 32


@pytest.fixture
async def served(make_notify: Any, hook_server: Any) -> AsyncIterator[tuple[Notify, str, Any]]:
    hook = await hook_server(ok())
    notify: Notify = await make_notify(
        {"receivers": [{"name": "hook", "kind": "webhook", "url": hook.url}]}
    )
    service = IncidentService(
        notify.store.engine, clock=notify.clock, settings=lambda: notify.settings
    )
    app = create_app(
        tokens={"r" * 20: frozenset({"read"})}, metrics=Metrics(), items=list, ready=lambda: True
    )
    ack_routes.add_routes(app, service=service, key=lambda: KEY, clock=notify.clock)
    delivery_routes.add_routes(app, notify.store.engine)
    runner = await start_api(app, "127.0.0.1", 0)
    yield notify, f"http://127.0.0.1:{runner.addresses[0][1]}", hook
    await runner.cleanup()


async def test_an_ack_link_shows_a_page_and_its_button_acknowledges(served: Any) -> None:
    """Opening the link changes nothing; pressing its button acknowledges the incident without any API token."""
    notify, base, _ = served
    await notify.send(alert())
    token = make_token(KEY, 1, notify.clock.now() + 3600)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/ack/{token}") as page:
            assert page.status == 200
            assert "Acknowledge</button>" in await page.text()
        assert (await notify.rows("SELECT state FROM incidents"))[0]["state"] == "open"
        async with http.post(f"{base}/ack/{token}") as done:
            assert done.status == 200
            assert "is acknowledged" in await done.text()
    row = (await notify.rows("SELECT state, acknowledged_by FROM incidents"))[0]
    assert row == {"state": "acknowledged", "acknowledged_by": "ack-link"}


async def test_forged_or_expired_ack_links_are_refused(served: Any) -> None:
    """A token signed with another key, tampered with, or past its expiry gets 403 and acknowledges nothing."""
    notify, base, _ = served
    await notify.send(alert())
    now = notify.clock.now()
    good = make_token(KEY, 1, now + 3600)
    bad = [
        make_token(b"x" * 32, 1, now + 3600),
        good.replace("1.", "2.", 1),
        make_token(KEY, 1, now - 1),
        "junk",
    ]
    async with aiohttp.ClientSession() as http:
        for token in bad:
            async with http.post(f"{base}/ack/{token}") as answer:
                assert answer.status == 403, token
    assert (await notify.rows("SELECT state FROM incidents"))[0]["state"] == "open"
    with pytest.raises(AckLinkError) as caught:
        verify_token(KEY, make_token(KEY, 1, now - 1), now)
    assert caught.value.reason == "expired"


async def test_deliveries_are_listed_with_a_read_token(served: Any) -> None:
    """GET /api/v1/deliveries lists each attempt with status and latency, filtered by incident, and needs a token."""
    notify, base, _ = served
    await notify.send(alert("db1"), alert("web1"))
    await notify.pump(1)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/v1/deliveries") as anonymous:
            assert anonymous.status == 401
        headers = {"Authorization": "Bearer " + "r" * 20}
        async with http.get(f"{base}/api/v1/deliveries?incident=2", headers=headers) as answer:
            doc = await answer.json()
    (entry,) = doc["deliveries"]
    assert (
        entry["incident_id"] == 2 and entry["status"] == "delivered" and entry["http_status"] == 200
    )
    assert entry["latency"] >= 0
