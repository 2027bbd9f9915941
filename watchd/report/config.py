"""The `[[services]]` and `[report]` tables of config.toml.

    [[services]]
    name = "shop"
    checks = ["web1/http", "db1/*"]          # "item/check", shell-style patterns allowed
    matchers = ['role="web"']                # or label matchers on item and check labels
    objective = 99.9                         # percent per period
    period = "month"
    maintenance_policy = "exclude"           # up | exclude | down (default: [report])
    availability = "all"                     # all | any | weighted: how members combine

    [report]
    rollup_interval = "5m"   hourly_retention = "90d"   maintenance_policy = "exclude"
    max_period = "400d"      # the longest span a report may cover

Raw samples are kept for `[store] sample_retention`; daily rollups are kept for good.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.matchers import Matchers

MaintenancePolicy = Literal["up", "exclude", "down"]
AvailabilityRule = Literal["all", "any", "weighted"]


class ServiceConfig(Strict):
    """A set of checks with an availability objective, measured per calendar month (local)."""

    name: str = Field(min_length=1)
    checks: list[str] = []
    matchers: Matchers = []
    objective: float = Field(default=99.9, gt=0, lt=100)
    period: Literal["month"] = "month"
    maintenance_policy: MaintenancePolicy | None = None
    # How members make the service's availability (watchd.report.combine): "all" down when any
    # member is down, "any" down only when every member is down, "weighted" their mean.
    availability: AvailabilityRule = "all"

    @field_validator("checks")
    @classmethod
    def _item_slash_check(cls, value: list[str]) -> list[str]:
        for entry in value:
            item, sep, check = entry.partition("/")
            if not sep or not item or not check:
                raise ValueError(f'expected "item/check" (patterns allowed), got {entry!r}')
        return value

    @model_validator(mode="after")
    def _selects_something(self) -> ServiceConfig:
        if not self.checks and not self.matchers:
            raise ValueError("a service needs 'checks' or 'matchers'")
        return self


class ReportConfig(Strict):
    """Rollup job, retention of hourly rollups, and the defaults of availability reports."""

    rollup_interval: Duration = 300.0
    hourly_retention: Duration = 90 * 86400.0
    # Beyond this gap after a sample its check counts as unmonitored; None: 2 × its interval.
    max_sample_gap: Duration | None = None
    maintenance_policy: MaintenancePolicy = "exclude"
    burn_rate_interval: Duration = 60.0
    # Rules whose series value is the days left on a certificate (rules/http.yaml).
    cert_expiry_rules: list[str] = ["TlsCertificateExpiring"]
    cert_warn_days: float = Field(default=30.0, gt=0)
    # The longest period a report may cover (API and CLI): its cost grows with every day.
    max_period: Duration = 400 * 86400.0

    @model_validator(mode="after")
    def _positive(self) -> ReportConfig:
        if self.rollup_interval <= 0 or self.burn_rate_interval <= 0:
            raise ValueError("expected rollup_interval and burn_rate_interval above zero")
        if self.max_period < 86400:
            raise ValueError("expected max_period of at least 1d")
        if self.hourly_retention < 2 * 86400:
            raise ValueError("expected hourly_retention of at least 2d (daily rollups need it)")
        return self
