"""Annotation templates: Jinja2 in a sandbox, compiled at load, rendered when an alert changes.

Templates see `value`, `labels`, `item`, `threshold`, `severity`, `rule`, and for forecasts
`predicted_at` (epoch seconds), `predicted_in` (seconds from now) and `predicted_time` (ISO
8601, UTC). The `duration` filter formats seconds ("3d4h"). An undefined variable is an error,
so a typo shows instead of rendering as nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from watchd.durations import format_duration


def _duration(seconds: Any) -> str:
    return format_duration(max(0.0, float(seconds)))


_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_ENV.filters["duration"] = _duration


def compile_template(source: str) -> jinja2.Template:
    """Compile one template; raise jinja2.TemplateSyntaxError when it is malformed."""
    return _ENV.from_string(source)


def render_annotations(
    templates: Mapping[str, jinja2.Template],
    sources: Mapping[str, str],
    context: Mapping[str, Any],
) -> dict[str, str]:
    """Render every annotation; one that fails keeps its raw template and adds `template_error`."""
    rendered: dict[str, str] = {}
    errors: list[str] = []
    for name, template in templates.items():
        try:
            rendered[name] = template.render(context)
        except Exception as exc:  # any template failure must not stop the alert
            rendered[name] = sources[name]
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if errors:
        rendered["template_error"] = "; ".join(errors)
    return rendered
