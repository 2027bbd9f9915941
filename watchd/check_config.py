"""What every check is configured with, whatever its kind: the common options of an
`[[items.checks]]` table, the `[check_defaults]` they fall back to, and the resolved check the
scheduler and the result processor work with.

The per-kind models (these options plus a collector's own keys) are built in watchd/config.py
from the collector registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from watchd.configbase import Strict
from watchd.durations import Duration


class CheckOptions(Strict):
    """Options every check has, whatever its kind; None falls back to [check_defaults]."""

    name: str = Field(min_length=1)
    kind: str
    enabled: bool = True
    interval: Duration | None = None
    timeout: Duration | None = None
    jitter: Duration | None = None
    retry_interval: Duration | None = None
    max_attempts: int | None = Field(default=None, ge=1)
    recover_attempts: int | None = Field(default=None, ge=1)
    labels: dict[str, str] = {}
    # A URL, or a Markdown file relative to the config file (watchd.runbooks): the alert's
    # runbook_url annotation.
    runbook: str | None = Field(default=None, min_length=1, max_length=2048)


class CheckDefaults(Strict):
    interval: Duration = 60.0
    timeout: Duration = 10.0
    jitter: Duration = 5.0
    retry_interval: Duration = 15.0
    max_attempts: int = Field(default=3, ge=1)
    recover_attempts: int = Field(default=1, ge=1)


@dataclass(frozen=True, slots=True)
class ResolvedCheck:
    """A check as the scheduler runs it: common options resolved, collector settings attached."""

    item: str
    name: str
    kind: str
    address: str
    labels: dict[str, str]
    interval: float
    timeout: float
    jitter: float
    retry_interval: float
    max_attempts: int
    recover_attempts: int
    settings: CheckOptions
    zone: str = "default"  # the item's zone: which cluster nodes may poll it
    runbook_url: str | None = None  # its `runbook` as a link (watchd.loading resolves it)

    @property
    def key(self) -> tuple[str, str]:
        return (self.item, self.name)
