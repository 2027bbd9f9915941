"""The `log` receiver, the default: each notification is one structured log line, so a fresh
install shows what it would notify."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from watchd.logging import get_logger
from watchd.notify.config import ReceiverBase
from watchd.notify.model import HANDOFF, Notification, Outcome, ReceiverEnv
from watchd.notify.templates import TemplateSlot, context, plain_environment

log = get_logger("watchd.notify")


class LogReceiver(ReceiverBase):
    kind: Literal["log"] = "log"


class Log:
    kind = "log"
    Config = LogReceiver
    batch = False

    def __init__(self, config: LogReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        plain = plain_environment(False, env.locale)
        self._line = TemplateSlot("log.j2", None, plain)
        self._notice = TemplateSlot("handoff_log.j2", None, plain)

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        incident = note.payload.get("incident", {})
        rendered = (self._notice if note.kind == HANDOFF else self._line).render(context(note))
        person = note.recipient
        log.info(
            "notification",
            receiver=note.receiver,
            kind=note.kind,
            idempotency_key=note.idempotency_key,
            incident=incident.get("id"),
            state=incident.get("state"),
            severity=incident.get("severity"),
            status=note.payload.get("status"),
            alerts=len(note.payload.get("alerts", [])),
            message=rendered.text,
            **({"recipient": person.get("user", "")} if person else {}),
        )
        return Outcome(True, response=rendered.text)

    async def aclose(self) -> None:
        return None
