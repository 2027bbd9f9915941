"""Notification templates: sandboxed Jinja2, a shipped default for every receiver, user
overrides by file.

The shipped templates go through gettext (Jinja2's i18n extension, `{% trans %}` and `_()`),
in the `[daemon] locale` a receiver is built with; user templates may use the same tags.

A user template that does not compile is a config problem (check-config says so); one that
fails while rendering falls back to the default, and the error goes to the delivery log:
a notification is never dropped because of a template.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from watchd.i18n import translations
from watchd.notify.model import HANDOFF, Notification
from watchd.runbooks import runbook_urls


class TemplateProblem(ValueError):
    """A template file could not be read or compiled; `path` and `reason` say which and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"The template {path} cannot be used: {reason}.")
        self.path = path
        self.reason = reason


def _time(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):  # not a time, or out of range
        return str(value)


def environment(
    *, html: bool = False, escape: Callable[[str], str] | None = None, locale: str = "en"
) -> SandboxedEnvironment:
    """A template environment whose `{% trans %}` and `_()` text is in `locale`; `escape` is
    applied to every value a template prints (not to the template's own text), unless the
    template marks it `| safe`."""
    finalize = None
    if escape is not None:
        quote = escape

        def finalize(value: Any) -> Any:
            if isinstance(value, Markup) or value is None:
                return value
            return quote(str(value))

    env = SandboxedEnvironment(
        autoescape=html,
        keep_trailing_newline=False,
        finalize=finalize,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: a `{% trans %}` block's variables are escaped like any printed value.
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["time"] = _time
    return env


@cache
def plain_environment(html: bool, locale: str) -> SandboxedEnvironment:
    """The shared environment of templates without an escape of their own (email, log)."""
    return environment(html=html, locale=locale)


def _env(name: str) -> SandboxedEnvironment:
    return plain_environment(name.endswith(".html.j2"), "en")


def default_source(name: str) -> str:
    """The shipped template `name` (e.g. "email_subject.j2")."""
    return resources.files("watchd.notify").joinpath("templates", name).read_text()


def compile_text(
    source: str, name: str = "<inline>", env: SandboxedEnvironment | None = None
) -> Any:
    """Compile template text (in `env`, else by the name's suffix); TemplateSyntaxError when
    it does not parse."""
    return (env or _env(name)).from_string(source)


def load_override(
    path: Path | None, base: Path, name: str, env: SandboxedEnvironment | None = None
) -> Any | None:
    """The user's template at `path` (relative to the config file), or None when unset."""
    if path is None:
        return None
    full = path if path.is_absolute() else base / path
    try:
        return compile_text(full.read_text(), name, env)
    except OSError as exc:
        raise TemplateProblem(full, exc.strerror or str(exc)) from exc
    except TemplateSyntaxError as exc:
        raise TemplateProblem(full, f"line {exc.lineno}: {exc.message}") from exc


def override_problem(path: Path | None, base: Path, name: str) -> str:
    """Why the user's template at `path` cannot be used (for check-config), or ""."""
    try:
        load_override(path, base, name)
    except TemplateProblem as exc:
        return exc.reason
    return ""


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    note: str  # empty, or why the default template was used


class TemplateSlot:
    """One template a receiver renders: the user's override, else the shipped default."""

    def __init__(
        self, name: str, override: Any | None = None, env: SandboxedEnvironment | None = None
    ) -> None:
        self.name = name
        self._default = compile_text(default_source(name), name, env)
        self._override = override

    def render(self, context: dict[str, Any]) -> Rendered:
        if self._override is not None:
            try:
                return Rendered(self._override.render(context), "")
            except Exception as exc:
                note = f"template {self.name} failed ({type(exc).__name__}: {exc}); default used"
                return Rendered(self._default.render(context), note)
        return Rendered(self._default.render(context), "")


def context(note: Notification) -> dict[str, Any]:
    """What templates see for one notification."""
    payload = note.payload
    incident = dict(payload.get("incident") or {})
    alerts = list(payload.get("alerts") or [])
    summary = ""
    for alert in alerts:
        summary = (alert.get("annotations") or {}).get("summary", "")
        if summary:
            break
    return {
        "incident": incident,
        "event": dict(payload.get("event") or {}),
        "alerts": alerts,
        "status": payload.get("status", ""),
        "kind": note.kind,
        "receiver": note.receiver,
        "idempotency_key": note.idempotency_key,
        "group_labels": dict(payload.get("groupLabels") or {}),
        "common_labels": dict(payload.get("commonLabels") or {}),
        "summary": summary or incident.get("title", ""),
        "recipient": note.recipient or {},
        "mention": "",  # a chat receiver's markup for the recipient's handle, set by it
        "runbooks": runbook_urls(alert.get("annotations") or {} for alert in alerts),
        "payload": payload,
        "ack_url": "",
        "incident_url": "",
        # A hand-off notice's fields (schedule, start_local, end_local, timezone, text).
        "handoff": dict(payload) if note.kind == HANDOFF else {},
        **note.context,
    }


def heading(ctx: dict[str, Any], locale: str) -> str:
    """A message's title as plain text: "[severity] title" of its incident, or "On call:
    SCHEDULE" for a hand-off notice (a card's title, a robot's notification list)."""
    if ctx["handoff"]:
        _ = translations(locale).gettext
        return _("On call: %(schedule)s") % {"schedule": ctx["handoff"].get("schedule", "")}
    incident = ctx["incident"]
    return f"[{incident.get('severity', '')}] {incident.get('title', '')}"


def group_context(notes: Sequence[Notification]) -> dict[str, Any]:
    """What a per-group template (email) sees: the last notification's fields, plus all."""
    items = [context(n) for n in notes]
    return {**items[-1], "notifications": items}
