"""The HTTP receivers' client (watchd.notify.receivers.http) against real loopback servers:
kept connections, TLS options, signing and credentials, and every answer or failure turned
into an outcome the outbox can act on."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from watchd.clock import FakeClock
from watchd.notify.model import Notification, Outcome, ReceiverEnv
from watchd.notify.receivers.http import HttpClient
from watchd.notify.receivers.webhook import SIGNATURE_HEADER, Webhook, WebhookReceiver, signature


class Server:
    """An aiohttp receiver answering with `status` (and Retry-After when set), recording the
    client port and headers of every request."""

    def __init__(self) -> None:
        self.status = 200
        self.retry_after: str | None = None
        self.delay = 0.0
        self.ports: list[int] = []
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.url = ""
        self.body: str | None = None  # a text answer instead of {"id": "T-1"}

    async def handle(self, request: web.Request) -> web.Response:
        self.ports.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        self.headers.append(dict(request.headers))
        self.bodies.append(await request.read())
        await asyncio.sleep(self.delay)
        extra = {"Retry-After": self.retry_after} if self.retry_after else {}
        if self.body is not None:
            return web.Response(text=self.body, status=self.status, headers=extra)
        return web.json_response({"id": "T-1"}, status=self.status, headers=extra)


async def _start(server: Server, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{runner.addresses[-1][1]}/hook"
    return runner


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    found = Server()
    runner = await _start(found)
    yield found
    await runner.cleanup()


def _note(n: int = 1) -> Notification:
    return Notification(
        outbox_id=n,
        incident_id=n,
        seq=1,
        idempotency_key=f"{n}:1",
        receiver="hook",
        kind="opened",
        payload={"status": "firing", "incident": {"id": n}},
        attempt=1,
    )


def _webhook(url: str, tmp_path: Path, **config: Any) -> Webhook:
    clock = FakeClock(1_700_000_000.0)
    cfg = WebhookReceiver.model_validate({"name": "hook", "kind": "webhook", "url": url, **config})
    return Webhook(cfg, ReceiverEnv(clock=clock, base=tmp_path, engine=None))


async def test_a_storm_of_notifications_goes_over_kept_connections(
    server: Server, tmp_path: Path
) -> None:
    """Forty notifications, eight at a time, reach the receiver over at most eight
    connections, each signed and with its idempotency key."""
    key = tmp_path / "hmac"
    key.write_text("s3cret\n")
    hook = _webhook(server.url, tmp_path, hmac_key={"file": str(key)}, concurrency=8)
    outcomes: list[Outcome] = []
    for wave in range(5):
        outcomes += await asyncio.gather(*(hook.deliver([_note(wave * 8 + i)]) for i in range(8)))
    await hook.aclose()
    assert all(o.ok and o.status == 200 for o in outcomes)
    assert len(server.bodies) == 40 and len(set(server.ports)) <= 8
    keys = {h["Idempotency-Key"] for h in server.headers}
    assert keys == {f"{n}:1" for n in range(40)}
    first = server.headers[0]
    assert (first["Accept"], first["Content-Type"]) == ("*/*", "application/json")
    timestamp = int(first[SIGNATURE_HEADER].split(",")[0][2:])
    assert first[SIGNATURE_HEADER] == signature(b"s3cret", timestamp, server.bodies[0])
    assert json.loads(server.bodies[0])["incident"]["id"] in range(40)


async def test_answers_are_judged_4xx_final_429_and_5xx_retried_with_retry_after(
    server: Server, tmp_path: Path
) -> None:
    """A 400 is not retried; a 429 and a 503 are, with the server's Retry-After."""
    hook = _webhook(server.url, tmp_path)
    server.status = 400
    refused = await hook.deliver([_note()])
    server.status, server.retry_after = 429, "7"
    limited = await hook.deliver([_note()])
    server.status, server.retry_after = 503, None
    failing = await hook.deliver([_note()])
    await hook.aclose()
    assert (refused.ok, refused.retryable, refused.status) == (False, False, 400)
    assert (limited.retryable, limited.retry_after) == (True, 7.0)
    assert (failing.retryable, failing.error) == (True, "HTTP 503")
    assert '"id":"T-1"' in refused.response.replace(" ", "")


async def test_an_answer_is_decoded_when_it_is_a_json_object_or_array(
    server: Server, tmp_path: Path
) -> None:
    """The decoded answer (what ticket and robot receivers read) is a JSON object or array;
    plain text, HTML, broken JSON or a bare scalar give None, and the outcome is the same."""
    cfg = WebhookReceiver.model_validate({"name": "hook", "kind": "webhook", "url": server.url})
    client = HttpClient(cfg, clock=FakeClock(1_700_000_000.0), base=tmp_path)
    answers = {
        '{"id": "T-1"}': {"id": "T-1"},
        ' \n[1, {"a": null}]': [1, {"a": None}],
        "ok": None,
        "": None,
        "<html>accepted</html>": None,
        '{"id": ': None,
        "42": None,
    }
    decoded = {}
    for body in answers:
        server.body = body
        outcome, decoded[body] = await client.request("POST", server.url, body=b"{}", headers={})
        assert (outcome.ok, outcome.status) == (True, 200)
    await client.aclose()
    assert decoded == answers


async def test_a_receiver_slower_than_its_timeout_is_retried(
    server: Server, tmp_path: Path
) -> None:
    """No answer within `timeout`: a retryable failure saying so."""
    server.delay = 2.0
    hook = _webhook(server.url, tmp_path, timeout="300ms")
    outcome = await hook.deliver([_note()])
    await hook.aclose()
    assert not outcome.ok and outcome.retryable
    assert "(timeout)" in outcome.error


async def test_a_receiver_that_is_down_is_retried_and_the_error_keeps_secrets_out(
    unused_tcp_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused is retryable; the outcome names the address, not the bearer token."""
    monkeypatch.setenv("HOOK_TOKEN", "tok-do-not-log")
    hook = _webhook(
        f"http://127.0.0.1:{unused_tcp_port}/hook", tmp_path, bearer_token={"env": "HOOK_TOKEN"}
    )
    outcome = await hook.deliver([_note()])
    await hook.aclose()
    assert not outcome.ok and outcome.retryable
    assert f"cannot connect to 127.0.0.1:{unused_tcp_port}" in outcome.error
    assert "tok-do-not-log" not in repr(outcome)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[Server]:
    """A receiver behind a certificate of a private CA (self-signed for the system's CAs)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    found = Server()
    runner = await _start(found, context)
    yield found
    await runner.cleanup()


async def test_tls_receivers_are_verified_by_ca_file_or_not_at_all_when_told(
    tls_server: Server, ca: trustme.CA, tmp_path: Path
) -> None:
    """An https receiver with a private CA's certificate fails verification by default
    (retried: it may be fixed), is reached with `tls.ca_file`, and with
    `tls.insecure_skip_verify`."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    default = _webhook(tls_server.url, tmp_path)
    trusted = _webhook(tls_server.url, tmp_path, tls={"ca_file": "ca.pem"})
    unchecked = _webhook(tls_server.url, tmp_path, tls={"insecure_skip_verify": True})
    refused = await default.deliver([_note()])
    assert not refused.ok and refused.retryable
    assert "certificate verify failed" in refused.error
    assert (await trusted.deliver([_note()])).ok
    assert (await trusted.deliver([_note()])).ok
    assert (await unchecked.deliver([_note()])).ok
    for hook in (default, trusted, unchecked):
        await hook.aclose()
    assert len(tls_server.bodies) == 3
    assert tls_server.ports[0] == tls_server.ports[1]  # kept across the trusted receiver's two
