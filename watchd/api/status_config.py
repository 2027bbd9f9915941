"""The `[[status_pages]]` tables of config.toml: public, read-only status pages (watchd.api.status).

    [[status_pages]]
    name = "public"                      # served at /status/public and /status/public/status.json
    title = "Example Shop status"
    public = true                        # no token; false: a read token or a dashboard session
    services = ["web", { service = "mail", name = "E-mail", description = "IMAP and SMTP" }]

Nothing is served unless a page is configured. A page shows only what is written here and the
public summaries of incidents: never labels, item or check names, addresses or annotations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

from pydantic import AfterValidator, Field

from watchd.configbase import ConfigProblem, Strict

_SLUG = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            "expected a slug for the page's address /status/NAME: lower-case letters, digits "
            "and inner hyphens, at most 64 characters"
        )
    return value


class StatusServiceConfig(Strict):
    """One service on a status page, with the name and description the public sees."""

    service: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=80)
    description: str = Field(default="", max_length=300)

    @property
    def shown(self) -> str:
        """The name the page shows: `name`, else the service's configured name."""
        return self.name or self.service


def _entry(value: str | StatusServiceConfig) -> StatusServiceConfig:
    return StatusServiceConfig(service=value) if isinstance(value, str) else value


class StatusPageConfig(Strict):
    """A status page: its address, title, audience and services (in the order shown)."""

    name: Annotated[str, AfterValidator(_slug)]
    title: str = Field(default="Service status", min_length=1, max_length=120)
    public: bool = False
    services: list[str | StatusServiceConfig] = Field(min_length=1)

    def entries(self) -> list[StatusServiceConfig]:
        """The page's services as tables (a bare name becomes one with no display name)."""
        return [_entry(s) for s in self.services]


def status_page_problems(
    pages: Sequence[StatusPageConfig], services: Iterable[str]
) -> Iterator[ConfigProblem]:
    """Unknown or repeated services on a page, and pages sharing a name (one address)."""
    known = set(services)
    listed = ", ".join(f'"{s}"' for s in sorted(known)) or "none is configured"
    seen_pages: set[str] = set()
    for i, page in enumerate(pages):
        where = f'status_pages[{i}]("{page.name}")'
        if page.name in seen_pages:
            yield ConfigProblem(f"{where}.name", f'status page "{page.name}" is defined twice')
        seen_pages.add(page.name)
        seen: set[str] = set()
        for j, entry in enumerate(page.entries()):
            if entry.service not in known:
                yield ConfigProblem(
                    f"{where}.services[{j}]",
                    f'unknown service "{entry.service}" (expected one of [[services]]: {listed})',
                )
            elif entry.service in seen:
                yield ConfigProblem(
                    f"{where}.services[{j}]", f'service "{entry.service}" is listed twice'
                )
            seen.add(entry.service)
