"""Issue 19, finding 13 (receivers): alert text cannot add markup, mentions or links to a chat
message, and one odd byte in a label (NUL, CR/LF) never stops a delivery; a client that goes
away is not an error with a traceback."""

from __future__ import annotations

import asyncio
import email
import email.header
import io
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from watchd.api import create_app, start_api
from watchd.api.ingest import add_routes
from watchd.clock import FakeClock, SystemClock
from watchd.logging import configure_logging
from watchd.metrics import Metrics
from watchd.model import Alert
from watchd.notify.model import Notification, ReceiverEnv
from watchd.notify.receivers.chat import Chat, ChatReceiver
from watchd.notify.receivers.email import Email, EmailReceiver
from watchd.notify.receivers.exec import Exec, ExecReceiver
from watchd.notify.receivers.ticket import Ticket, TicketReceiver

EVIL_TITLE = "<!channel> disk full & more"
EVIL_SUMMARY = (
    "see <http://evil.example/ack|Acknowledge> or [Acknowledge](http://evil.example/ack) @here"
    ' or <a href="http://evil.example/ack">Acknowledge</a>'
)
ACK_URL = "http://watchd.example/ack/tok3n"


class Capture:
    """A loopback HTTP server that keeps each request (path, headers, body) and answers JSON."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.raw_path, dict(request.headers), await request.read()))
        return web.json_response({"id": "T-1"})


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    cap = Capture()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", cap.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    cap.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield cap
    await runner.cleanup()


def note(title: str = EVIL_TITLE, summary: str = EVIL_SUMMARY, **labels: str) -> Notification:
    incident = {
        "id": 7,
        "title": title,
        "severity": "critical",
        "item": labels.get("item", "db1"),
        "state": "open",
        "key": "db1/down",
        "opened_at": 1_800_000_000.0,
    }
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "down", "item": "db1", **labels},
            "annotations": {"summary": summary},
        }
    ]
    return Notification(
        outbox_id=1,
        incident_id=7,
        seq=1,
        idempotency_key="7:1",
        receiver="r",
        kind="opened",
        payload={"status": "firing", "incident": incident, "alerts": alerts},
        attempt=1,
        context={"ack_url": ACK_URL, "incident_url": "http://watchd.example/incidents/7"},
    )


def env(tmp_path: Path) -> ReceiverEnv:
    return ReceiverEnv(clock=FakeClock(), base=tmp_path, engine=None)


async def chat_message(
    capture: Capture, tmp_path: Path, flavor: str, **config: Any
) -> dict[str, Any]:
    receiver = Chat(
        ChatReceiver(name="r", kind="chat", url=capture.url + "/hook", flavor=flavor, **config),
        env(tmp_path),
    )
    try:
        outcome = await receiver.deliver([note()])
    finally:
        await receiver.aclose()
    assert outcome.ok, outcome.error
    ((_, _, body),) = capture.requests
    doc: dict[str, Any] = json.loads(body)
    return doc


async def test_slack_text_shows_alert_markup_as_text(capture: Capture, tmp_path: Path) -> None:
    """On Slack an alert's `<!channel>`, `<url|Acknowledge>` or `[x](url)` shows as typed: no mention, no fake link; only watchd's own Acknowledge link is a link."""
    doc = await chat_message(capture, tmp_path, "slack")
    text = doc["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt; disk full &amp; more" in text
    assert "<http://evil.example" not in text and "&lt;http://evil.example/ack|" in text
    assert "](http://evil" not in text  # Mattermost and Rocket.Chat render Markdown links
    assert "@here" not in text  # a mass mention in Mattermost and Rocket.Chat
    assert f"<{ACK_URL}|Acknowledge>" in text
    assert "<!channel>" not in doc["attachments"][0]["fallback"]


@pytest.mark.parametrize("flavor", ["teams", "teams_adaptive"])
async def test_teams_text_has_no_link_the_alert_wrote(
    capture: Capture, tmp_path: Path, flavor: str
) -> None:
    """On Teams an alert's Slack-style or Markdown link stays text; the only links are watchd's own Acknowledge and Details."""
    doc = await chat_message(capture, tmp_path, flavor)
    if flavor == "teams":
        texts = [doc["title"], doc["text"]]
        assert "&lt;!channel> disk full & more" in doc["title"]  # no HTML tag can start
        assert "<a href" not in doc["text"] and "&lt;a href" in doc["text"]
    else:
        blocks = doc["attachments"][0]["content"]["body"]
        texts = [b["text"] for b in blocks]
        assert "<!channel> disk full & more" in texts[0]
    for text in texts:
        assert "](http://evil" not in text, text
    assert f"[Acknowledge]({ACK_URL})" in texts[-1]


async def test_a_user_chat_template_is_escaped_too(capture: Capture, tmp_path: Path) -> None:
    """A user's chat template gets the same escaping for every value it prints; `| safe` prints a value as markup on purpose."""
    (tmp_path / "chat.j2").write_text(
        "{{ alerts[0].annotations.summary }} {{ '<!here>' | safe }} <{{ ack_url }}|Ack>"
    )
    doc = await chat_message(capture, tmp_path, "slack", template=Path("chat.j2"))
    text = doc["text"]
    assert "&lt;http://evil.example/ack|Acknowledge&gt;" in text
    assert "<!here>" in text and f"<{ACK_URL}|Ack>" in text


async def test_exec_delivers_an_incident_whose_label_holds_a_nul(tmp_path: Path) -> None:
    """A NUL in an alert's title or item reaches the exec command (as U+FFFD in its variables, intact in the JSON on stdin) instead of failing every attempt."""
    script = tmp_path / "show.py"
    script.write_text(
        "import json, os, sys\n"
        "doc = json.load(sys.stdin)\n"
        "print(json.dumps([os.environ['WATCHD_INCIDENT_TITLE'], doc['incident']['title']]))\n"
    )
    receiver = Exec(
        ExecReceiver(name="r", kind="exec", command=[sys.executable, str(script)]), env(tmp_path)
    )
    outcome = await receiver.deliver([note(title="disk\x00full", item="db\x001")])
    assert outcome.ok, outcome.error
    assert json.loads(outcome.response) == ["disk\ufffdfull", "disk\x00full"]


def ticket(url: str) -> TicketReceiver:
    return TicketReceiver.model_validate(
        {
            "name": "r",
            "kind": "ticket",
            "open": {
                "url": url + "/tickets/{{ incident.item }}?title={{ incident.title }}",
                "headers": {"X-Title": "{{ incident.title }}"},
                "body": '{"title": {{ incident.title | tojson }}}',
            },
            "update": {"url": url + "/tickets/{{ ticket_id }}"},
        }
    )


async def test_ticket_headers_and_urls_carry_alert_text_without_injection(
    capture: Capture, tmp_path: Path
) -> None:
    """Alert text with CR/LF, `/`, `?` or `#` in a ticket's header or URL template is delivered as one header value and one path segment or query value, never a new header or URL part."""
    receiver = Ticket(ticket(capture.url), env(tmp_path))
    try:
        outcome = await receiver.deliver(
            [note(title="full\r\nX-Injected: 1&admin=1#x", item="../admin?x=1")]
        )
    finally:
        await receiver.aclose()
    assert outcome.ok, outcome.error
    ((path, headers, body),) = capture.requests
    assert "X-Injected" not in headers
    assert headers["X-Title"] == "full  X-Injected: 1&admin=1#x"
    segment, query = path.split("?")
    assert segment == "/tickets/..%2Fadmin%3Fx=1"  # "=" needs no encoding in a path
    assert query == "title=full%0D%0AX-Injected:%201%26admin%3D1%23x"
    assert json.loads(body)["title"] == "full\r\nX-Injected: 1&admin=1#x"


class _Sink:
    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        return None


async def _stream(request: web.Request) -> web.StreamResponse:
    """A large answer written in parts, as a long export would be."""
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(2_000):
        await response.write(b"x" * 100_000)
    return response


async def _database_down(request: web.Request) -> web.Response:
    raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")


async def _api_log(*requests: bytes) -> list[dict[str, Any]]:
    """Send each raw request to the API (ingest routes plus /stream and /db), read a little of
    the answer, hang up; the JSON log lines the API wrote meanwhile."""
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    app = create_app(tokens={}, metrics=Metrics(), items=lambda: [], ready=lambda: True)
    add_routes(app, sink=_Sink(), clock=SystemClock())
    app.router.add_get("/stream", _stream)
    app.router.add_get("/db", _database_down)
    runner = await start_api(app, "127.0.0.1", 0)
    try:
        for raw in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
            writer.write(raw)
            await writer.drain()
            if raw.startswith(b"GET"):
                await asyncio.wait_for(reader.read(1_000), 0.5)
            await asyncio.sleep(0.2)
            writer.transport.abort()
            for _ in range(50):
                if out.getvalue():
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
    finally:
        await runner.cleanup()
    return [json.loads(line) for line in out.getvalue().splitlines()]


CUT_BODY = (
    b"POST /api/v2/alerts HTTP/1.1\r\nHost: localhost\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    "raw", [CUT_BODY, b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n"], ids=["read", "write"]
)
async def test_a_client_that_disconnects_mid_request_is_no_error(raw: bytes) -> None:
    """A client that hangs up while its body is read or its answer written leaves a debug line, not an ERROR with a traceback."""
    lines = await _api_log(raw)
    assert lines, "the disconnect was not logged at all"
    assert all(line["level"] not in ("error", "critical") for line in lines), lines
    assert not any("exception" in line for line in lines), lines
    assert any(line["event"] == "api client went away" for line in lines), lines


@pytest.mark.usefixtures("restore_logging")
async def test_a_connection_error_of_the_server_itself_is_still_an_error() -> None:
    """A connection error while the client is still there (a database refusing) stays an ERROR with its traceback."""
    lines = await _api_log(b"GET /db HTTP/1.1\r\nHost: localhost\r\n\r\n")
    (line,) = [line for line in lines if line["event"] == "api handler failed"]
    assert line["level"] == "error" and "ConnectionRefusedError" in line["exception"]


class _Inbox:
    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        return "250 OK queued"


async def test_email_carries_no_nul_from_alert_text(tmp_path: Path) -> None:
    """A NUL in an incident's title reaches the mail as U+FFFD: SMTP forbids a NUL in a message, and a server may refuse the mail for it (a 5xx is not retried)."""
    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        receiver = Email(
            EmailReceiver(
                name="r",
                kind="email",
                host="127.0.0.1",
                port=port,
                security="none",
                sender="watchd@example.com",
                to=["oncall@example.com"],
            ),
            env(tmp_path),
        )
        outcome = await receiver.deliver([note(title="disk\x00full", summary="fs\x00/var")])
    finally:
        controller.stop()
    assert outcome.ok, outcome.error
    (raw,) = inbox.raw
    assert b"\x00" not in raw
    message = email.message_from_bytes(raw)
    assert "disk\ufffdfull" in str(
        email.header.make_header(email.header.decode_header(message["Subject"]))
    )
