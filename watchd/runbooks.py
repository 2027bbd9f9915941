"""Runbooks: what a rule or a check names for operators to follow when it fires.

A runbook is a URL (http or https), or a Markdown file shipped with the rules or the config
(a path relative to the file that names it). Either reaches the alert as the `runbook_url`
annotation, Alertmanager's convention, so receivers, tickets and the dashboard link it; a
Markdown file is served read-only by the daemon at `/runbooks/<name>`, its name being the
file's path relative to the config file's directory, without the `.md`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNBOOK_ANNOTATION = "runbook_url"
ROUTE_PREFIX = "/runbooks/"
MAX_RUNBOOK_BYTES = 1_048_576  # a runbook is a page of text; bigger is a mistake, not a runbook
_URL_SCHEMES = ("http://", "https://")


class RunbookError(ValueError):
    """A runbook named in a rule or check cannot be used; `reason` says why."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"The runbook {value!r} cannot be used: {reason}.")
        self.value = value
        self.reason = reason


def is_url(value: str) -> bool:
    """Whether a runbook value is a URL rather than a file."""
    return value.lower().startswith(_URL_SCHEMES)


def runbook_file(value: str, relative_to: Path) -> Path | None:
    """The Markdown file a runbook value names (absolute), or None when it is a URL.

    Raises RunbookError when the value is empty, not a .md file, missing, unreadable or too
    big: a runbook link that leads nowhere is found at load, not during an outage.
    """
    if not value.strip():
        raise RunbookError(value, "expected a URL (http:// or https://) or a Markdown file")
    if is_url(value):
        return None
    scheme, colon_slashes, _ = value.partition("://")
    if colon_slashes:
        raise RunbookError(value, f"expected an http:// or https:// URL, got a {scheme}:// one")
    path = Path(value)
    full = (path if path.is_absolute() else relative_to / path).resolve()
    if full.suffix.lower() != ".md":
        raise RunbookError(
            value, "expected a URL (http:// or https://) or a Markdown file ending in .md"
        )
    try:
        size = full.stat().st_size
        if not full.is_file():
            raise RunbookError(value, f"{full} is not a file")
        with full.open("rb"):
            pass
    except OSError as exc:
        raise RunbookError(value, f"cannot read {full}: {exc.strerror or exc}") from exc
    if size > MAX_RUNBOOK_BYTES:
        raise RunbookError(value, f"{full} is {size} bytes, over {MAX_RUNBOOK_BYTES}")
    return full


@dataclass(frozen=True, slots=True)
class RunbookLinks:
    """How Markdown runbooks are named and reached: names are paths relative to `root` (the
    config file's directory), URLs start with `base_url` (how operators reach the daemon)."""

    root: Path
    base_url: str = ""

    def name(self, path: Path) -> str:
        """The runbook's name in `/runbooks/<name>`: its path below the config directory
        without `.md`; a file outside it gets its stem and a short digest of its path."""
        try:
            relative = path.resolve().relative_to(self.root.resolve())
        except ValueError:
            digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
            return f"{path.stem}-{digest}"
        return relative.with_suffix("").as_posix()

    def url(self, value: str, relative_to: Path) -> str:
        """The runbook_url annotation for a runbook value (a URL as it is); RunbookError when
        the file it names cannot be used."""
        path = runbook_file(value, relative_to)
        return value if path is None else self.link(path)

    def link(self, path: Path) -> str:
        """The URL the daemon serves the Markdown runbook `path` at."""
        return f"{self.base_url.rstrip('/')}{ROUTE_PREFIX}{self.name(path)}"


def runbook_urls(annotations: Iterable[Mapping[str, Any]]) -> list[str]:
    """The runbook URLs in alerts' annotations, each once, in order; http(s) only: a sender's
    "javascript:" is no link to show or to put in an email."""
    found = (notes.get(RUNBOOK_ANNOTATION) for notes in annotations)
    return list(dict.fromkeys(url for url in found if isinstance(url, str) and is_url(url)))
