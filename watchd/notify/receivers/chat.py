"""The chat receiver: a readable message (severity, item, summary, ack link) to a
Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat) or Microsoft Teams
(a MessageCard, or an Adaptive Card for Workflows webhooks)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from watchd.notify.config import HttpReceiverBase
from watchd.notify.model import Notification, Outcome, ReceiverEnv
from watchd.notify.receivers.http import HttpClient
from watchd.notify.templates import TemplateSlot, context, load_override, override_problem


class ChatReceiver(HttpReceiverBase):
    """Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat) or Microsoft Teams."""

    kind: Literal["chat"]
    url: str = Field(pattern=r"^https?://")
    flavor: Literal["slack", "teams", "teams_adaptive"] = "slack"
    template: Path | None = None

    def problems(self, base: Path) -> Iterator[tuple[str, str]]:
        """The template file, when set, must be readable and compile."""
        reason = override_problem(self.template, base, "chat.j2")
        if reason:
            yield "template", reason


_COLOURS = {"critical": "d62728", "error": "d62728", "warning": "ff9900"}


def body(flavor: str, text: str, ctx: dict[str, Any]) -> dict[str, Any]:
    """The JSON document each chat flavour expects for `text`."""
    incident = ctx["incident"]
    colour = _COLOURS.get(incident.get("severity", ""), "1f77b4")
    if ctx["status"] != "firing":
        colour = "2ca02c"
    title = f"[{incident.get('severity', '')}] {incident.get('title', '')}"
    if flavor == "slack":
        return {"text": text, "attachments": [{"color": f"#{colour}", "fallback": title}]}
    actions = [("Acknowledge", ctx["ack_url"]), ("Details", ctx["incident_url"])]
    actions = [(label, url) for label, url in actions if url]
    if flavor == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": colour,
            "title": title,
            "text": text.replace("\n", "<br>"),
            "potentialAction": [
                {"@type": "OpenUri", "name": label, "targets": [{"os": "default", "uri": url}]}
                for label, url in actions
            ],
        }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True},
                        {"type": "TextBlock", "text": text, "wrap": True},
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": label, "url": url}
                        for label, url in actions
                    ],
                },
            }
        ],
    }


class Chat:
    kind = "chat"
    Config = ChatReceiver
    batch = False

    def __init__(self, config: ChatReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._http = HttpClient(config, clock=env.clock, base=env.base)
        self._template = TemplateSlot(
            "chat.j2", load_override(config.template, env.base, "chat.j2")
        )

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        ctx = context(note)
        rendered = self._template.render(ctx)
        text = rendered.text
        if self._config.flavor != "slack":  # Slack's <url|label> links mean nothing to Teams
            text = _plain_links(text)
        doc = body(self._config.flavor, text, ctx)
        outcome, _ = await self._http.request(
            "POST",
            self._config.url,
            body=json.dumps(doc).encode(),
            headers={"Content-Type": "application/json"},
        )
        if rendered.note:
            return Outcome(
                outcome.ok,
                retryable=outcome.retryable,
                status=outcome.status,
                response=outcome.response,
                error=outcome.error,
                retry_after=outcome.retry_after,
                notes=(rendered.note,),
            )
        return outcome

    async def aclose(self) -> None:
        await self._http.aclose()


def _plain_links(text: str) -> str:
    return re.sub(r"<([^|>]+)\|([^>]+)>", r"[\2](\1)", text)
