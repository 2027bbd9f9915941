"""Chat robots of DingTalk, WeCom (企业微信) and Feishu/Lark: a Markdown message (title,
severity, state, item, time in UTC, ack link, summary) to a group's webhook robot, signed the
way each platform documents it.

Small receivers rather than Apprise: Apprise sends synchronously and reports a bool, so the
outbox could neither tell a rate limit (retry, in order) from a revoked token (give up) nor
keep its async, at-least-once, ordered delivery.

The robots answer HTTP 200 for most failures and say so in the body (`errcode`, or `code` for
Feishu): a non-zero code is a failure, retried only for the codes that mean "later" (rate
limits, system busy). The webhook token and the signing secret are secrets (a file or an
environment variable): they are read when sending and never written to the delivery log.

A page to a person mentions them: the contact's address is a phone number or user id for
DingTalk (also named in the message's `at`, which is what notifies), a user id for WeCom
(`<@userid>`), an open_id or user_id for Feishu (`<at id=...>`).

Alert text is escaped (see `escape_markdown`): it shows as typed and cannot add a link or
mention someone (WeCom's `<@userid>`, Feishu's `<at id=all>`, a fake Acknowledge).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from markupsafe import Markup
from pydantic import Field

from watchd.clock import Clock
from watchd.notify.config import HttpReceiverBase
from watchd.notify.model import HANDOFF, Notification, Outcome, ReceiverEnv, excerpt
from watchd.notify.receivers.chat import defuse
from watchd.notify.receivers.http import HttpClient
from watchd.notify.templates import (
    TemplateSlot,
    context,
    environment,
    heading,
    load_override,
    override_problem,
)
from watchd.secrets import SecretError, SecretRef

# A contact address DingTalk reads as a phone number (atMobiles) rather than a user id.
_PHONE = re.compile(r"\+?\d{5,20}")

# WeCom refuses Markdown content over 4096 bytes (UTF-8).
WECOM_MAX_BYTES = 4096


class RobotReceiver(HttpReceiverBase):
    """What the three robots share: the webhook's base URL (the platform's by default; a
    private deployment or a test server otherwise), its token and the message template."""

    url: str = Field(pattern=r"^https?://")
    token: SecretRef
    template: Path | None = None

    def problems(self, base: Path) -> Iterator[tuple[str, str]]:
        """The template file, when set, must be readable and compile."""
        reason = override_problem(self.template, base, "robot.j2")
        if reason:
            yield "template", reason


class DingTalkReceiver(RobotReceiver):
    """A DingTalk custom robot: `token` is the access_token, `secret` the signing secret
    (the robot's "加签" setting; unsigned when unset)."""

    kind: Literal["dingtalk"]
    url: str = Field(default="https://oapi.dingtalk.com/robot/send", pattern=r"^https?://")
    secret: SecretRef | None = None


class WeComReceiver(RobotReceiver):
    """A WeCom group robot: `token` is the webhook's key."""

    kind: Literal["wecom"]
    url: str = Field(
        default="https://qyapi.weixin.qq.com/cgi-bin/webhook/send", pattern=r"^https?://"
    )


class FeishuReceiver(RobotReceiver):
    """A Feishu (or Lark, with its URL) custom bot: `token` is the hook id at the end of the
    webhook URL, `secret` the signing secret ("签名校验"; unsigned when unset)."""

    kind: Literal["feishu"]
    url: str = Field(default="https://open.feishu.cn/open-apis/bot/v2/hook", pattern=r"^https?://")
    secret: SecretRef | None = None


def escape_markdown(text: str) -> str:
    """Alert text for the robots' Markdown: no link (see chat.defuse) and no tag: a word
    joiner after "<" keeps the text readable and stops `<@userid>`, `<at id=all>` and
    `<font>`/`<a>` from being read as markup on every platform."""
    return defuse(text).replace("<", "<\u2060")


def truncate_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes at a character boundary, with "…" when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    mark = "…"
    return data[: limit - len(mark.encode())].decode("utf-8", "ignore") + mark


def _hmac_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: HMAC-SHA256 keyed with the secret over "timestamp\\nsecret",
    base64 (URL-encoded by the caller)."""
    return _hmac_b64(secret, f"{timestamp_ms}\n{secret}")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature: HMAC-SHA256 keyed with "timestamp\\nsecret" over an empty message,
    base64."""
    return _hmac_b64(f"{timestamp_s}\n{secret}", "")


class _Robot:
    """Render, sign, POST, and read the robot's answer; each platform says how."""

    kind: ClassVar[str]
    batch = False
    # The answer's fields with the result code (the first present counts), and the codes that
    # mean "try again later".
    code_fields: ClassVar[tuple[str, ...]] = ("errcode",)
    retry_codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, config: RobotReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._clock: Clock = env.clock
        self._http = HttpClient(config, clock=env.clock, base=env.base)
        markup = environment(escape=escape_markdown, locale=env.locale)
        self._template = TemplateSlot(
            "robot.j2", load_override(config.template, env.base, "robot.j2", markup), markup
        )
        self._notice = TemplateSlot("handoff_robot.j2", None, markup)
        self._locale = env.locale

    def request(self, token: str, text: str, ctx: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL and JSON document for one message; secrets are read here."""
        raise NotImplementedError

    def mention(self, address: str) -> str:
        """The platform's markup that mentions the person whose id (or phone) is `address`."""
        raise NotImplementedError

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        ctx = context(note)
        address = ctx["recipient"].get("address", "")
        # A page to a person mentions them (an id from the config, not alert text: markup).
        ctx["mention"] = Markup(self.mention(address)) if address else ""
        rendered = (self._notice if note.kind == HANDOFF else self._template).render(ctx)
        try:
            token = self._config.token.reveal()
            url, doc = self.request(token, rendered.text, ctx)
        except SecretError as exc:  # a secret file that went away: retried, it may come back
            return Outcome(False, error=f"credentials: {exc}")
        outcome, answer = await self._http.request(
            "POST", url, body=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
        )
        outcome = self._judge(outcome, answer)
        return replace(
            outcome,
            response=outcome.response.replace(token, "***"),
            error=outcome.error.replace(token, "***"),
            notes=(rendered.note,) if rendered.note else (),
        )

    def _judge(self, outcome: Outcome, answer: Any) -> Outcome:
        """A 200 whose body carries a non-zero code is a failure; retried for rate limits."""
        if not outcome.ok:
            return outcome
        answer = answer if isinstance(answer, dict) else {}
        field = next((name for name in self.code_fields if name in answer), self.code_fields[0])
        code = answer.get(field)
        if code == 0:
            return outcome
        if isinstance(code, int):
            message = excerpt(
                str(answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or "")
            )
            error = f"{field} {code}: {message}"
        else:  # not the robot's answer (a proxy?): nothing says the message was shown
            error = f"answer without an integer {field}"
        return Outcome(
            False,
            retryable=isinstance(code, int) and code in self.retry_codes,
            status=outcome.status,
            response=outcome.response,
            error=error,
        )

    def title(self, ctx: dict[str, Any]) -> str:
        """The message's plain-text title (an incident's, or a hand-off notice's)."""
        return heading(ctx, self._locale)[:200]

    async def aclose(self) -> None:
        await self._http.aclose()


class DingTalk(_Robot):
    kind = "dingtalk"
    Config = DingTalkReceiver
    # 130101: sent too fast (20 a minute per robot); -1: system busy.
    retry_codes = frozenset({130101, -1})

    def request(self, token: str, text: str, ctx: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Markdown message; the signature goes in the query string."""
        assert isinstance(self._config, DingTalkReceiver)
        query = {"access_token": token}
        if self._config.secret is not None:
            now = math.floor(self._clock.now() * 1000)
            query |= {
                "timestamp": str(now),
                "sign": dingtalk_sign(self._config.secret.reveal(), now),
            }
        url = f"{self._config.url}?{urllib.parse.urlencode(query)}"
        # The title shows in the notification list only: plain text, no markup to escape.
        doc: dict[str, Any] = {
            "msgtype": "markdown",
            "markdown": {"title": self.title(ctx), "text": text},
        }
        address = ctx["recipient"].get("address", "")
        if address:  # DingTalk notifies whom `at` names (the text's "@..." only shows it)
            field = "atMobiles" if _PHONE.fullmatch(address) else "atUserIds"
            doc["at"] = {field: [address.lstrip("+")]}
        return url, doc

    def mention(self, address: str) -> str:
        """ "@" and the phone number or user id, as DingTalk shows a mention."""
        return f"@{address.lstrip('+')}"


class WeCom(_Robot):
    kind = "wecom"
    Config = WeComReceiver
    # 45009: API frequency limit (20 a minute per robot); -1: system busy.
    retry_codes = frozenset({45009, -1})

    def request(self, token: str, text: str, ctx: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Markdown message, cut to WeCom's 4096 bytes (the summary, last, goes first)."""
        url = f"{self._config.url}?{urllib.parse.urlencode({'key': token})}"
        content = truncate_utf8(text, WECOM_MAX_BYTES)
        return url, {"msgtype": "markdown", "markdown": {"content": content}}

    def mention(self, address: str) -> str:
        """WeCom's Markdown mention of a user id."""
        return f"<@{address}>"


class Feishu(_Robot):
    kind = "feishu"
    Config = FeishuReceiver
    # Older Feishu bots answer {"StatusCode": 0, "StatusMessage": ...} without `code`.
    code_fields = ("code", "StatusCode")
    # 11232: frequency limited (100 a minute, 5 a second per bot).
    retry_codes = frozenset({11232})

    def request(self, token: str, text: str, ctx: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """An interactive card (title in the header, the message as lark_md); signed in
        the body."""
        assert isinstance(self._config, FeishuReceiver)
        firing = ctx["status"] == "firing"
        doc: dict[str, Any] = {
            "msg_type": "interactive",
            "card": {
                "header": {
                    "title": {"tag": "plain_text", "content": self.title(ctx)},
                    "template": "blue" if ctx["handoff"] else "red" if firing else "green",
                },
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}],
            },
        }
        if self._config.secret is not None:
            now = math.floor(self._clock.now())
            doc |= {"timestamp": str(now), "sign": feishu_sign(self._config.secret.reveal(), now)}
        return f"{self._config.url.rstrip('/')}/{urllib.parse.quote(token, safe='')}", doc

    def mention(self, address: str) -> str:
        """lark_md's mention of an open_id (ou_...) or user_id."""
        return f"<at id={address}></at>"
