"""Turn one poll's SNMP values into samples, as the profiles say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from collectors.snmp_profile import Profile, Table
from collectors.snmp_rates import RateTracker
from collectors.snmp_values import Value
from watchd.model import Sample


@dataclass(frozen=True, slots=True)
class PollData:
    """What one poll read: scalars by OID, table columns by OID then row index, the uptime."""

    scalars: dict[str, Value]
    columns: dict[str, dict[str, Value]] = field(default_factory=dict)
    uptime: float | None = None


def evaluate(
    profiles: Sequence[Profile], data: PollData, rates: RateTracker, now: float
) -> tuple[list[Sample], dict[str, str]]:
    """Samples of every profile, and the info texts (sysName, ...) for the check message."""
    samples: list[Sample] = []
    info: dict[str, str] = {}
    rates.begin(data.uptime, now)
    for profile in profiles:
        for scalar in profile.scalars:
            value = data.scalars.get(scalar.oid)
            if value is None:
                continue
            if scalar.info:
                info[scalar.info] = value.text
            elif scalar.metric and value.number is not None:
                samples.append(Sample(scalar.metric, value.number * scalar.scale))
        for table in profile.tables:
            samples.extend(_table(profile.name, table, data, rates, now))
    rates.end()
    return samples, info


def _table(
    profile: str, table: Table, data: PollData, rates: RateTracker, now: float
) -> list[Sample]:
    samples: list[Sample] = []
    empty: dict[str, Value] = {}
    cells = [(column, data.columns.get(column.oid) or empty) for column in table.columns]
    labelled = [(column.label, rows) for column, rows in cells if column.label]
    measured = [
        (
            column.metric,
            column.scale,
            rows,
            data.columns.get(column.multiply_by) or empty if column.multiply_by else None,
        )
        for column, rows in cells
        if column.metric
    ]
    indexes: dict[str, None] = {}
    for _, rows in cells:
        indexes.update(dict.fromkeys(rows))
    for index in indexes:
        labels = _index_labels(table.index, index)
        for label, rows in labelled:
            value = rows.get(index)
            if value is not None and value.text:
                labels[label] = value.text
        # Each metric's number and its value (whose counter width a rate reads).
        metrics: dict[str, tuple[float, Value]] = {}
        for metric, scale, rows, factors in measured:
            value = rows.get(index)
            if value is None or value.number is None:
                continue
            number = value.number * scale
            if factors is not None:
                factor = factors.get(index)
                if factor is None or factor.number is None:
                    continue
                number *= factor.number
            metrics[metric] = (number, value)
            samples.append(Sample(metric, number, labels))
        if table.derived:
            samples.extend(_derived(profile, table, index, labels, metrics, rates, now))
    return samples


def _derived(
    profile: str,
    table: Table,
    index: str,
    labels: dict[str, str],
    metrics: dict[str, tuple[float, Value]],
    rates: RateTracker,
    now: float,
) -> list[Sample]:
    """The row's derived samples: rates of its counters and ratios of its metrics."""
    samples: list[Sample] = []
    row_rates: dict[str, float | None] = {}
    for derived in table.derived:
        source: float | None = None
        if derived.rate:
            name = _first(derived.rate, metrics)
            if name is not None:
                if name in row_rates:
                    source = row_rates[name]
                else:
                    number, value = metrics[name]
                    key = (profile, table.name, name, index)
                    source = row_rates[name] = rates.rate(key, number, value.counter_bits)
        else:
            name = _first(derived.value, metrics)
            source = metrics[name][0] if name is not None else None
        if source is None:
            continue
        result = source * derived.scale
        if derived.divide_by:
            divisor = None
            for metric, factor in derived.divide_by:
                present = metrics.get(metric)
                if present is not None and present[0]:
                    divisor = present[0] * factor
                    break
            if divisor is None:
                continue
            result /= divisor
        samples.append(Sample(derived.metric, result, labels))
    return samples


def _first(names: Sequence[str], metrics: dict[str, tuple[float, Value]]) -> str | None:
    for name in names:
        if name in metrics:
            return name
    return None


def _index_labels(names: Sequence[str], index: str) -> dict[str, str]:
    """Split a row index suffix into labels; the last name takes what the others leave."""
    parts = index.split(".")
    labels = {name: parts[i] for i, name in enumerate(names[:-1]) if i < len(parts)}
    labels[names[-1]] = ".".join(parts[len(names) - 1 :])
    return labels
