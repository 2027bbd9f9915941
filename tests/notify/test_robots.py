"""DingTalk, WeCom and Feishu robots against loopback capture servers that check each
platform's signature as its documentation describes and answer with its result codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.notify.conftest import Notify, ack_links, alert
from watchd.notify.receivers.robots import truncate_utf8

SECRET = "SEC0123456789abcdef"
TOKEN = "tok-abc123"

# Answers: ok, or a scripted code per request number (from 0).
Script = Callable[[int], int]


@dataclass
class Robot:
    """A capture server for one platform; `accepted` holds the messages it answered 0 to."""

    platform: str
    script: Script
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # full URLs, to check no secret leaks
    url: str = ""
    code_field: str = ""  # the answer's result field; the platform's current one by default

    def _signed(self, request: web.Request, doc: dict[str, Any]) -> bool:
        if self.platform == "dingtalk":
            # https://open.dingtalk.com/document/robots/customize-robot-security-settings
            ts, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
            key = SECRET.encode()
            want = hmac.new(key, f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
            return (
                request.query.get("access_token") == TOKEN
                and sign == base64.b64encode(want).decode()
            )
        if self.platform == "feishu":
            # https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (签名校验)
            key = f"{doc.get('timestamp')}\n{SECRET}".encode()
            want = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            return request.match_info["hook"] == TOKEN and doc.get("sign") == want
        return request.query.get("key") == TOKEN

    async def handle(self, request: web.Request) -> web.Response:
        doc = await request.json()
        n = len(self.requests)
        self.requests.append(str(request.url))
        field_ = self.code_field or ("code" if self.platform == "feishu" else "errcode")
        if not self._signed(request, doc):
            bad = {"dingtalk": 310000, "wecom": 93000, "feishu": 19021}[self.platform]
            return web.json_response({field_: bad, "msg": "sign match fail"})
        code = self.script(n)
        if code == 0:
            self.accepted.append(doc)
        return web.json_response({field_: code, "errmsg": "ok" if code == 0 else "limited"})


@pytest.fixture
async def robot_server() -> AsyncIterator[Callable[[str, Script], Any]]:
    runners: list[web.AppRunner] = []

    async def start(platform: str, script: Script = lambda n: 0) -> Robot:
        robot = Robot(platform, script)
        app = web.Application()
        path = "/hook/{hook}" if platform == "feishu" else "/send"
        app.router.add_post(path, robot.handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        robot.url = f"{base}/hook" if platform == "feishu" else f"{base}/send"
        return robot

    yield start
    for runner in runners:
        await runner.cleanup()


def receiver(robot: Robot, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "secret").write_text(SECRET)
    cfg: dict[str, Any] = {
        "name": robot.platform,
        "kind": robot.platform,
        "url": robot.url,
        "token": {"file": str(tmp_path / "token")},
        "backoff_initial": "1s",
        **extra,
    }
    if robot.platform != "wecom":
        cfg["secret"] = {"file": str(tmp_path / "secret")}
    return cfg


def text_of(platform: str, doc: dict[str, Any]) -> str:
    if platform == "feishu":
        return str(doc["card"]["elements"][0]["text"]["content"])
    if platform == "dingtalk":
        return str(doc["markdown"]["text"])
    return str(doc["markdown"]["content"])


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ("Item: db1", "State: open", "Time:", "Acknowledge")),
        ("zh_CN", ("对象： db1", "状态： open", "时间：", "确认")),
    ],
)
@pytest.mark.parametrize("platform", ["dingtalk", "wecom", "feishu"])
async def test_each_robot_gets_a_signed_markdown_message_with_an_ack_link(
    make_notify: Any,
    robot_server: Any,
    tmp_path: Path,
    platform: str,
    locale: str,
    words: tuple[str, ...],
) -> None:
    """The robot accepts the signature and shows title, severity, state, item, UTC time, summary and an Acknowledge link, in `[daemon] locale` (en or zh_CN); alert text cannot add a link or mention."""
    item, state, time, ack = words
    robot = await robot_server(platform)
    notify: Notify = await make_notify(
        {
            "daemon": {"locale": locale},
            "receivers": [receiver(robot, tmp_path)],
            "notify": ack_links(tmp_path),
        }
    )
    evil = alert("db1")
    evil.annotations["summary"] = "disk full [click](http://evil.example) <@all> <at id=all></at>"
    await notify.send(evil)
    await notify.pump(1)
    (doc,) = robot.accepted
    text = text_of(platform, doc)
    assert "[critical] disk full" in text and item in text and state in text
    assert time in text and "UTC" in text and "disk full" in text
    assert f"[{ack}](http://127.0.0.1:9797/ack/" in text
    assert "](http://evil" not in text and "<@all>" not in text and "<at id" not in text
    (entry,) = await notify.deliveries(platform)
    assert entry["status"] == "delivered"
    assert SECRET not in json.dumps(doc)


@pytest.mark.parametrize("platform", ["dingtalk", "wecom", "feishu"])
async def test_a_rate_limit_answer_is_retried_and_order_per_incident_is_kept(
    make_notify: Any, robot_server: Any, tmp_path: Path, platform: str
) -> None:
    """A 200 with the platform's rate-limit code is a retry, not a delivery; every notification arrives once it clears, opened before resolved."""
    limit = {"dingtalk": 130101, "wecom": 45009, "feishu": 11232}[platform]
    robot = await robot_server(platform, lambda n: limit if n < 3 else 0)
    notify: Notify = await make_notify({"receivers": [receiver(robot, tmp_path)]})
    await notify.send(alert("db1"), alert("web1"))
    await notify.send(alert("db1", firing=False), alert("web1", firing=False))
    for _ in range(40):
        await notify.pump(1)
        await notify.clock.advance(30)
        if len(robot.accepted) >= 4:
            break
    assert [r["state"] for r in await notify.outbox(platform)] == ["delivered"] * 4
    texts = [text_of(platform, d) for d in robot.accepted]
    for item in ("db1", "web1"):
        kinds = [t.split()[0].strip("*") for t in texts if f"Item: {item}" in t]
        assert kinds == ["OPENED", "RESOLVED"]
    log = await notify.deliveries(platform)
    retries = [d for d in log if d["status"] == "retry"]
    assert len(retries) == 3 and str(limit) in retries[0]["error"]
    assert all(TOKEN not in (d["error"] or "") + (d["response"] or "") for d in log)


@pytest.mark.parametrize("platform", ["dingtalk", "feishu"])
async def test_a_wrong_signing_secret_fails_without_retry(
    make_notify: Any, robot_server: Any, tmp_path: Path, platform: str
) -> None:
    """A signature the robot refuses (a non-zero code in a 200) is a failure, not a delivery, and is not retried forever."""
    robot = await robot_server(platform)
    cfg = receiver(robot, tmp_path)
    (tmp_path / "wrong").write_text("not-the-secret")
    cfg["secret"] = {"file": str(tmp_path / "wrong")}
    notify: Notify = await make_notify({"receivers": [cfg]})
    await notify.send(alert("db1"))
    await notify.pump(1)
    assert robot.accepted == []
    (entry,) = await notify.deliveries(platform)
    assert entry["status"] != "delivered" and entry["status"] != "retry"
    assert "sign match fail" in entry["error"]


def test_wecom_text_is_cut_at_a_utf8_boundary_within_4096_bytes() -> None:
    """A long Chinese summary is cut to 4096 bytes without a broken character, marked with …"""
    cut = truncate_utf8("磁盘已满" * 2000, 4096)
    assert len(cut.encode()) <= 4096 and cut.endswith("…")
    assert cut.encode().decode() == cut


async def test_a_token_file_that_is_missing_is_retried_until_it_comes_back(
    make_notify: Any, robot_server: Any, tmp_path: Path
) -> None:
    """An unreadable token is a retry that names the file, not a lost message; once the file is back the message is delivered."""
    robot = await robot_server("wecom")
    cfg = receiver(robot, tmp_path)
    (tmp_path / "token").unlink()
    notify: Notify = await make_notify({"receivers": [cfg]})
    await notify.send(alert("db1"))
    await notify.pump(1)
    (first,) = await notify.deliveries("wecom")
    assert first["status"] == "retry" and "credentials" in first["error"]
    assert str(tmp_path / "token") in first["error"]
    (tmp_path / "token").write_text(TOKEN)
    await notify.clock.advance(30)
    await notify.pump(1)
    assert len(robot.accepted) == 1
    assert [r["state"] for r in await notify.outbox("wecom")] == ["delivered"]


async def test_a_feishu_bot_answering_the_older_statuscode_form_is_understood(
    make_notify: Any, robot_server: Any, tmp_path: Path
) -> None:
    """Older Feishu bots answer {"StatusCode": 0}: delivered; a rate limit in that form is retried."""
    robot = await robot_server("feishu", lambda n: 11232 if n == 0 else 0)
    robot.code_field = "StatusCode"
    notify: Notify = await make_notify({"receivers": [receiver(robot, tmp_path)]})
    await notify.send(alert("db1"))
    await notify.pump(1)
    await notify.clock.advance(30)
    await notify.pump(1)
    assert [d["status"] for d in await notify.deliveries("feishu")] == ["retry", "delivered"]
    assert len(robot.accepted) == 1
