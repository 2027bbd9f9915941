"""Acknowledge links and the delivery log over HTTP, on a loopback server with a real store."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.notify.conftest import Notify, alert, ok
from watchd.api import ack as ack_routes
from watchd.api import create_app, start_api
from watchd.api import deliveries as delivery_routes
from watchd.metrics import Metrics
from watchd.notify.acklinks import (
    OLD_LINK_ACTOR,
    AckLinkError,
    Recipient,
    make_token,
    verify_token,
)
from watchd.pipeline.actions import IncidentService

KEY = b"k" * 32


async def _serve_acks(notify: Notify) -> tuple[str, Any]:
    """The API with the ack link routes over `notify`'s store, keyed with KEY; (base, runner)."""
    service = IncidentService(
        notify.store.engine, clock=notify.clock, settings=lambda: notify.settings
    )
    app = create_app(
        tokens={"r" * 20: frozenset({"read"})}, metrics=Metrics(), items=list, ready=lambda: True
    )
    ack_routes.add_routes(app, service=service, key=lambda: KEY, clock=notify.clock)
    delivery_routes.add_routes(app, notify.store.engine)
    runner = await start_api(app, "127.0.0.1", 0)
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner


@pytest.fixture
async def served(make_notify: Any, hook_server: Any) -> AsyncIterator[tuple[Notify, str, Any]]:
    hook = await hook_server(ok())
    notify: Notify = await make_notify(
        {"receivers": [{"name": "hook", "kind": "webhook", "url": hook.url}]}
    )
    base, runner = await _serve_acks(notify)
    yield notify, base, hook
    await runner.cleanup()


ALICE = Recipient("pager-alice", "alice@example.com")


def _old_format_token(key: bytes, incident_id: int, expires_at: int) -> str:
    """A link as watchd made them before recipients were signed: `<id>.<expiry>.<mac>`."""
    body = f"{incident_id}.{expires_at}"
    mac = hmac.new(key, b"watchd-ack." + body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_an_ack_link_shows_a_page_and_its_button_acknowledges_as_its_recipient(
    served: Any,
) -> None:
    """Opening the link changes nothing; pressing its button acknowledges the incident without any API token, recorded as by the person the link was sent to."""
    notify, base, _ = served
    await notify.send(alert())
    token = make_token(KEY, 1, notify.clock.now() + 3600, ALICE)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/ack/{token}") as page:
            assert page.status == 200
            text = await page.text()
            assert "Acknowledge</button>" in text
            assert "acknowledging as alice@example.com via ack link to pager-alice" in text
        assert (await notify.rows("SELECT state FROM incidents"))[0]["state"] == "open"
        async with http.post(f"{base}/ack/{token}", data={"name": "mallory"}) as done:
            assert done.status == 200
            assert "is acknowledged" in await done.text()
    row = (await notify.rows("SELECT state, acknowledged_by FROM incidents"))[0]
    # The signed address wins over a name typed into the form.
    assert row == {
        "state": "acknowledged",
        "acknowledged_by": "alice@example.com via ack link to pager-alice",
    }
    events = await notify.rows(
        "SELECT kind, actor FROM incident_events WHERE kind = 'acknowledged'"
    )
    assert events == [{"kind": "acknowledged", "actor": row["acknowledged_by"]}]


async def test_a_link_sent_to_a_team_asks_who_acknowledges(served: Any) -> None:
    """A link to a receiver that reaches a team or channel asks for a name and records it alongside the receiver ("Bob Smith via ack link to ops-chat")."""
    notify, base, _ = served
    await notify.send(alert())
    token = make_token(KEY, 1, notify.clock.now() + 3600, Recipient("ops-chat"))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/ack/{token}") as page:
            assert 'name="name"' in await page.text()
        async with http.post(f"{base}/ack/{token}", data={"name": "  Bob\n Smith "}) as done:
            assert done.status == 200
    row = (await notify.rows("SELECT acknowledged_by FROM incidents"))[0]
    assert row == {"acknowledged_by": "Bob Smith via ack link to ops-chat"}


async def test_forged_altered_or_expired_ack_links_are_refused_with_a_clear_page(
    served: Any,
) -> None:
    """A token signed with another key, altered (incident or recipient) or past its expiry gets a 403 page saying why and pointing to the dashboard, and acknowledges nothing."""
    notify, base, _ = served
    await notify.send(alert())
    now = notify.clock.now()
    good = make_token(KEY, 1, now + 3600, ALICE)
    other = make_token(KEY, 1, now + 3600, Recipient("pager-bob", "bob@example.com"))
    version, incident, expiry, _who, mac = good.split(".")
    bad = {
        make_token(b"x" * 32, 1, now + 3600, ALICE): "not signed by this watchd",
        f"{version}.2.{expiry}.{_who}.{mac}": "altered",
        f"{version}.{incident}.{expiry}.{other.split('.')[3]}.{mac}": "altered",
        _old_format_token(KEY, 1, int(now + 3600)).replace("1.", "2.", 1): "altered",
        make_token(KEY, 1, now - 1, ALICE): "has expired",
        "junk": "incomplete or garbled",
    }
    async with aiohttp.ClientSession() as http:
        for token, why in bad.items():
            async with http.post(f"{base}/ack/{token}") as answer:
                page = await answer.text()
                assert answer.status == 403, token
                assert why in page and "Nothing was acknowledged" in page, token
                assert 'href="/">dashboard' in page
    assert (await notify.rows("SELECT state FROM incidents"))[0]["state"] == "open"
    with pytest.raises(AckLinkError) as caught:
        verify_token(KEY, make_token(KEY, 1, now - 1, ALICE), now)
    assert caught.value.reason == "expired"


async def test_an_old_format_link_still_acknowledges_until_it_expires(served: Any) -> None:
    """A link sent before an upgrade (no recipient signed in) still works until its expiry, recorded as from an unknown recipient."""
    notify, base, _ = served
    await notify.send(alert())
    now = notify.clock.now()
    async with aiohttp.ClientSession() as http:
        expired = _old_format_token(KEY, 1, int(now - 1))
        async with http.post(f"{base}/ack/{expired}") as answer:
            assert answer.status == 403
        async with http.post(f"{base}/ack/{_old_format_token(KEY, 1, int(now + 60))}") as done:
            assert done.status == 200
    row = (await notify.rows("SELECT acknowledged_by FROM incidents"))[0]
    assert row == {"acknowledged_by": OLD_LINK_ACTOR}


async def test_each_receiver_gets_a_link_naming_its_recipient(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """A notification to a personal pager and to a team hook each carries its own signed link; pressing the pager's records the person it reached."""
    (tmp_path / "ack.key").write_bytes(KEY)
    hook = await hook_server(ok())
    notify: Notify = await make_notify(
        {
            "receivers": [
                {"name": "pager-alice", "kind": "webhook", "url": hook.url, "recipient": "alice"},
                {"name": "team", "kind": "webhook", "url": hook.url},
            ],
            "route": {"receivers": ["team", "pager-alice"]},
            "notify": {
                "ack_links": {
                    "base_url": "http://watchd.example:9797",
                    "key": {"file": str(tmp_path / "ack.key")},
                }
            },
        }
    )
    await notify.send(alert())
    await notify.pump(2)
    links = {d["receiver"]: d["incident"]["links"]["ack"] for d in hook.received}
    prefix = "http://watchd.example:9797/ack/"
    tokens = {name: url.removeprefix(prefix) for name, url in links.items()}
    now = notify.clock.now()
    assert verify_token(KEY, tokens["pager-alice"], now).recipient == Recipient(
        "pager-alice", "alice"
    )
    assert verify_token(KEY, tokens["team"], now).recipient == Recipient("team")
    base, runner = await _serve_acks(notify)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base}/ack/{tokens['pager-alice']}") as done,
        ):
            assert done.status == 200
    finally:
        await runner.cleanup()
    row = (await notify.rows("SELECT acknowledged_by FROM incidents"))[0]
    assert row == {"acknowledged_by": "alice via ack link to pager-alice"}


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


async def test_an_ack_link_page_speaks_the_readers_language(served: Any) -> None:
    """A phone set to Chinese opening a link from a Chinese notification gets the page, its button, the confirmation and a refusal in Chinese (lang="zh-CN"); the acknowledgement itself is recorded as always."""
    notify, base, _ = served
    await notify.send(alert())
    now = notify.clock.now()
    token = make_token(KEY, 1, now + 3600, ALICE)
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    async with aiohttp.ClientSession(headers=zh) as http:
        async with http.get(f"{base}/ack/{token}") as page:
            text = await page.text()
            assert page.status == 200 and '<html lang="zh-CN">' in text
            assert "<title>事件 1</title>" in text and "确认</button>" in text
            assert "<b>待处理</b>" in text and "你将以 alice@example.com" in text
            assert page.headers["Vary"] == "Accept-Language"
        async with http.post(f"{base}/ack/{make_token(KEY, 1, now - 1, ALICE)}") as refused:
            assert refused.status == 403 and "链接已过期" in await refused.text()
        async with http.post(f"{base}/ack/{token}") as done:
            assert done.status == 200 and "已确认；升级停止。" in await done.text()
    row = (await notify.rows("SELECT acknowledged_by FROM incidents"))[0]
    assert row["acknowledged_by"] == "alice@example.com via ack link to pager-alice"
