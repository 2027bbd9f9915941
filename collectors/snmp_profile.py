"""SNMP profiles: which OIDs to poll and what samples they become, in YAML with numeric OIDs.

A profile has `scalars` (one GET each: metric or info text), and `tables` (columns walked
together and joined by index). A table column is a metric or a label; `multiply_by` scales
a column by another column of the same row (hrStorage allocation units); `derived` entries
compute per-second rates of counters and ratios from the row's metrics. Shipped profiles
live in collectors/snmp_profiles/; users can load their own files with the same schema.

The SNMP values arrive without their type (collectors/snmp_values.py), so a scalar or column
declares the `type` that changes what its number means: `timeticks` (hundredths of a second,
read as seconds), `counter32` (wraps at 2**32) or `counter64` (going down is a reset); `gauge`
documents a gauge. A column a `derived` rate is taken over must declare its counter type.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from collectors.snmp_values import Declared
from watchd.configbase import Strict

SHIPPED_DIR = Path(__file__).parent / "snmp_profiles"
_OID = re.compile(r"^\.?[0-2](\.\d+)+$")
_METRIC = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class ProfileError(ValueError):
    """A profile could not be loaded; `source` names the profile or file.

    A ValueError, so a bad profile name in a check config is reported as a config problem.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"SNMP profile {source}: {reason}")
        self.source = source
        self.reason = reason


def _oid(value: str) -> str:
    if not _OID.match(value):
        raise ValueError(f"expected a numeric OID such as 1.3.6.1.2.1.1.3.0, got {value!r}")
    return value.lstrip(".")


def _metric(value: str) -> str:
    if not _METRIC.match(value):
        raise ValueError(f"expected a metric name of letters, digits and _, got {value!r}")
    return value


class Scalar(Strict):
    """One scalar OID: a metric (`metric`) or a piece of text for the message (`info`)."""

    oid: str
    metric: str = ""
    info: str = ""
    scale: float = 1.0
    type: Declared = ""

    @field_validator("oid")
    @classmethod
    def _check_oid(cls, value: str) -> str:
        return _oid(value)


class Column(Strict):
    """One table column: a metric, or a label (`label`) for the row's other samples."""

    oid: str
    metric: str = ""
    label: str = ""
    scale: float = 1.0
    multiply_by: str = ""  # the OID of another column of the row
    type: Declared = ""

    @field_validator("oid", "multiply_by")
    @classmethod
    def _check_oid(cls, value: str) -> str:
        return _oid(value) if value else value


class Derived(Strict):
    """A sample computed from a row's metrics.

    value = source * scale / (divisor * factor), where source is the per-second `rate` of
    the first counter metric present in the row (or the plain `value` of the first present
    metric) and the divisor the first `divide_by` metric present and non-zero.
    """

    metric: str
    rate: list[str] = []
    value: list[str] = []
    scale: float = 1.0
    divide_by: list[tuple[str, float]] = []

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, value: str) -> str:
        return _metric(value)


class Table(Strict):
    """Columns walked together; rows are joined by the OID suffix after each column."""

    name: str
    index: list[str] = Field(default_factory=lambda: ["index"], min_length=1)
    columns: list[Column] = Field(min_length=1)
    derived: list[Derived] = []

    @model_validator(mode="after")
    def _rates_over_counters(self) -> Table:
        types = {column.metric: column.type for column in self.columns if column.metric}
        for derived in self.derived:
            for name in derived.rate:
                if types.get(name, "counter64") not in ("counter32", "counter64"):
                    raise ValueError(
                        f"derived {derived.metric!r} takes a rate over {name!r}, whose column "
                        "needs `type: counter32` or `type: counter64` (a Counter32 that goes "
                        "down wrapped, a Counter64 was reset; the agent's answer does not say)"
                    )
        return self


class Profile(Strict):
    name: str
    description: str = ""
    scalars: list[Scalar] = []
    tables: list[Table] = []

    def metric_names(self) -> frozenset[str]:
        """Every metric this profile can give: scalar and column metrics, derived ones."""
        return frozenset(
            [scalar.metric for scalar in self.scalars if scalar.metric]
            + [column.metric for table in self.tables for column in table.columns if column.metric]
            + [derived.metric for table in self.tables for derived in table.derived]
        )


def shipped_names() -> list[str]:
    """Names of the profiles shipped with watchd."""
    return sorted(path.stem for path in SHIPPED_DIR.glob("*.yaml"))


@cache
def shipped(name: str) -> Profile:
    """A shipped profile by name (system, if-mib, host-resources, ucd-snmp)."""
    path = SHIPPED_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(name, f"no such shipped profile; known: {', '.join(shipped_names())}")
    return load_file(path)


def load_file(path: Path) -> Profile:
    """Load and validate one profile file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProfileError(str(path), f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(str(path), f"not valid YAML: {exc}") from exc
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ProfileError(str(path), f"{where}: {first['msg']}") from exc
