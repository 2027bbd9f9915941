"""Notification config problems that no single key shows, for load_setup (check-config,
start-up, reload): unknown receivers in routes and escalation steps, unknown time intervals,
templates that do not compile (errors); routes that can never be reached (warnings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from jinja2 import TemplateSyntaxError

from watchd.config import Config
from watchd.configbase import ConfigProblem
from watchd.notify.config import ChatReceiver, EmailReceiver, TicketReceiver
from watchd.notify.jsonpath import PathError, parse_path
from watchd.notify.router import route_problems
from watchd.notify.templates import TemplateProblem, compile_text, load_override


def notify_problems(config: Config, base: Path) -> tuple[list[ConfigProblem], list[str]]:
    """Errors and warning lines of the notification config; `base` anchors relative paths."""
    names = [r.name for r in config.receivers]
    errors, warnings = route_problems(config.route, names, config.notify.time_intervals)
    for i, policy in enumerate(config.incidents.escalation):
        for j, step in enumerate(policy.steps):
            for name in step.receivers:
                if name not in names:
                    errors.append(
                        ConfigProblem(
                            f'incidents.escalation[{i}]("{policy.name}").steps[{j}].receivers',
                            f'unknown receiver "{name}"',
                        )
                    )
    errors += list(_template_problems(config, base))
    return errors, [str(w) for w in warnings]


def _template_problems(config: Config, base: Path) -> Iterator[ConfigProblem]:
    for i, receiver in enumerate(config.receivers):
        where = f'receivers[{i}]("{receiver.name}")'
        files: dict[str, Path | None] = {}
        if isinstance(receiver, EmailReceiver):
            files = {
                "subject_template": receiver.subject_template,
                "text_template": receiver.text_template,
                "html_template": receiver.html_template,
            }
        elif isinstance(receiver, ChatReceiver):
            files = {"template": receiver.template}
        for key, path in files.items():
            try:
                load_override(path, base, "email_html.html.j2" if key == "html_template" else key)
            except TemplateProblem as exc:
                yield ConfigProblem(f"{where}.{key}", exc.reason)
        if isinstance(receiver, TicketReceiver):
            for action in ("open", "update", "acknowledge", "resolve", "close", "lookup"):
                request = getattr(receiver, action)
                if request is None:
                    continue
                texts = {"url": request.url, "body": request.body, **request.headers}
                for key, text in texts.items():
                    try:
                        compile_text(text)
                    except TemplateSyntaxError as exc:
                        yield ConfigProblem(
                            f"{where}.{action}.{key}", f"template line {exc.lineno}: {exc.message}"
                        )
            for key in ("id_path", "lookup_id_path", "session_path"):
                value = getattr(receiver, key)
                try:
                    if value:
                        parse_path(value)
                except PathError as exc:
                    yield ConfigProblem(f"{where}.{key}", str(exc))
            try:
                compile_text(receiver.correlation)
            except TemplateSyntaxError as exc:
                yield ConfigProblem(f"{where}.correlation", f"template: {exc.message}")
