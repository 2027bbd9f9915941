"""Issue 19, finding 13 (receivers) on PostgreSQL: a NUL in what a receiver answers (an HTTP
body, a command's output) is recorded like any other byte, so the delivery is recorded once
and never sent again."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.notify.conftest import Hook, Notify, alert, hook_server, make_notify  # noqa: F401
from tests.store.conftest import pg_url  # noqa: F401  (the session PostgreSQL database)

pytestmark = pytest.mark.integration


@pytest.fixture
def notify_db(pg_url: str) -> str:  # noqa: F811
    return pg_url


async def test_a_nul_in_a_receivers_answer_is_recorded_and_not_sent_again(
    make_notify: Any,  # noqa: F811
    hook_server: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A webhook answering 200 with a NUL in its body, and a command printing one, are recorded as delivered (U+FFFD in the delivery log) and get the notification once."""

    async def nul_body(request: web.Request, n: int) -> web.Response:
        return web.Response(text="accepted\x00id=1")

    hook: Hook = await hook_server(nul_body)
    script = tmp_path / "nul.py"
    script.write_text("import sys\nsys.stdin.read()\nsys.stdout.write('done\\x00ok')\n")
    notify: Notify = await make_notify(
        {
            "receivers": [
                {"name": "hook", "kind": "webhook", "url": hook.url},
                {"name": "fix", "kind": "exec", "command": [sys.executable, str(script)]},
            ]
        }
    )
    await notify.send(alert("db1"))
    for _ in range(5):
        await notify.pump(1)
        await notify.clock.advance(120)  # past any lease: a row left delivering is sent again
    await notify.pump(2)
    assert len(hook.received) == 1
    for receiver, text in (("hook", "accepted\ufffdid=1"), ("fix", "done\ufffdok")):
        (row,) = await notify.outbox(receiver)
        assert row["state"] == "delivered", (receiver, row["last_error"])
        entries = await notify.deliveries(receiver)
        assert [e["status"] for e in entries] == ["delivered"], (receiver, entries)
        assert entries[0]["response"].strip() == text
