"""The exec receiver: run a command (an argument list, never a shell) for remediation or local
integrations. It gets a restricted environment (PATH, LANG and the configured `env`) plus the
incident as WATCHD_* variables (a page to a person adds WATCHD_RECIPIENT_USER, _CONTACT and
_ADDRESS; a hand-off notice WATCHD_SCHEDULE, _SHIFT_START, _SHIFT_END and _MESSAGE) and the
full JSON on stdin; a timeout kills its whole process group. Exit 0 is delivered; other exits are retried; the status and an output excerpt go to
the delivery log and the incident's timeline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from watchd.notify.config import ReceiverBase
from watchd.notify.model import HANDOFF, Notification, Outcome, ReceiverEnv, excerpt

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# A variable's value, at most (Linux refuses one string over 128 KiB: E2BIG, every attempt).
MAX_VALUE_CHARS = 16_384


class ExecReceiver(ReceiverBase):
    """Run `command` (an argument list, no shell) with the incident as WATCHD_* variables."""

    kind: Literal["exec"]
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = {}
    cwd: Path | None = None


def environment(config: ExecReceiver, note: Notification) -> dict[str, str]:
    """The child's whole environment: nothing of watchd's own leaks in."""
    incident = note.payload.get("incident", {})
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", **config.env}
    env.update(
        {
            "WATCHD_RECEIVER": note.receiver,
            "WATCHD_KIND": note.kind,
            "WATCHD_STATUS": str(note.payload.get("status", "")),
            "WATCHD_IDEMPOTENCY_KEY": note.idempotency_key,
            "WATCHD_INCIDENT_ID": str(note.incident_id),
            "WATCHD_INCIDENT_STATE": str(incident.get("state", "")),
            "WATCHD_INCIDENT_SEVERITY": str(incident.get("severity", "")),
            "WATCHD_INCIDENT_TITLE": str(incident.get("title", "")),
            "WATCHD_INCIDENT_ITEM": str(incident.get("item", "")),
            "WATCHD_INCIDENT_KEY": str(incident.get("key", "")),
            "WATCHD_ACK_URL": str(note.context.get("ack_url", "")),
        }
    )
    person = note.recipient
    if person is not None:  # a page to a person: whom, and where
        env.update(
            {
                "WATCHD_RECIPIENT_USER": person.get("user", ""),
                "WATCHD_RECIPIENT_CONTACT": person.get("contact", ""),
                "WATCHD_RECIPIENT_ADDRESS": person.get("address", ""),
            }
        )
    if note.kind == HANDOFF:  # a hand-off notice: which shift, and its sentence
        payload = note.payload
        env.update(
            {
                "WATCHD_SCHEDULE": str(payload.get("schedule", "")),
                "WATCHD_SHIFT_START": str(payload.get("start", "")),
                "WATCHD_SHIFT_END": str(payload.get("end", "")),
                "WATCHD_MESSAGE": str(payload.get("text", "")),
            }
        )
    return {name: env_value(value) for name, value in env.items()}


def env_value(value: str) -> str:
    """`value` as an environment variable can hold it: a NUL (which ends a C string) becomes
    U+FFFD, a lone surrogate "?", a value too long is cut; the JSON on stdin keeps it all."""
    value = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if len(value) > MAX_VALUE_CHARS:
        value = value[: MAX_VALUE_CHARS - 1] + "\u2026"
    return value


class Exec:
    kind = "exec"
    Config = ExecReceiver
    batch = False

    def __init__(self, config: ExecReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._cwd = config.cwd or env.base

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        cfg = self._config
        try:
            proc = await asyncio.create_subprocess_exec(
                *cfg.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=environment(cfg, note),
                cwd=self._cwd,
                start_new_session=True,  # its own process group, killed whole on timeout
            )
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            return Outcome(False, error=f"cannot start {cfg.command[0]}: {reason}")
        stdin = json.dumps(note.payload).encode()
        try:
            async with asyncio.timeout(cfg.timeout):
                output, _ = await proc.communicate(stdin)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return Outcome(
                False,
                error=f"{cfg.command[0]} did not finish within {cfg.timeout:g}s; its process group was killed",
                detail={"exit_status": None},
            )
        text = excerpt(output.decode(errors="replace"))
        detail = {"exit_status": proc.returncode, "output": excerpt(text, 200)}
        if proc.returncode == 0:
            return Outcome(True, response=text, detail=detail)
        return Outcome(False, error=f"exit status {proc.returncode}", response=text, detail=detail)

    async def aclose(self) -> None:
        return None
