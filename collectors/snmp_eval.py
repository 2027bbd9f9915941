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
    rates.begin(data.uptime)
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
    indexes: dict[str, None] = {}
    for column in table.columns:
        indexes.update(dict.fromkeys(data.columns.get(column.oid, {})))
    for index in indexes:
        labels = _index_labels(table.index, index)
        for column in table.columns:
            value = data.columns.get(column.oid, {}).get(index)
            if column.label and value is not None and value.text:
                labels[column.label] = value.text
        metrics: dict[str, tuple[float, int | None]] = {}
        for column in table.columns:
            value = data.columns.get(column.oid, {}).get(index)
            if not column.metric or value is None or value.number is None:
                continue
            number = value.number * column.scale
            if column.multiply_by:
                factor = data.columns.get(column.multiply_by, {}).get(index)
                if factor is None or factor.number is None:
                    continue
                number *= factor.number
            metrics[column.metric] = (number, value.counter_bits)
            samples.append(Sample(column.metric, number, labels))
        row_rates: dict[str, float | None] = {}
        for derived in table.derived:
            source: float | None = None
            if derived.rate:
                name = next((m for m in derived.rate if m in metrics), None)
                if name is not None:
                    if name not in row_rates:
                        number, bits = metrics[name]
                        key = (profile, table.name, name, index)
                        row_rates[name] = rates.rate(key, number, bits, now)
                    source = row_rates[name]
            else:
                name = next((m for m in derived.value if m in metrics), None)
                source = metrics[name][0] if name is not None else None
            if source is None:
                continue
            result = source * derived.scale
            if derived.divide_by:
                divisor = next(
                    (metrics[m][0] * f for m, f in derived.divide_by if metrics.get(m, (0,))[0]),
                    None,
                )
                if divisor is None:
                    continue
                result /= divisor
            samples.append(Sample(derived.metric, result, labels))
    return samples


def _index_labels(names: Sequence[str], index: str) -> dict[str, str]:
    """Split a row index suffix into labels; the last name takes what the others leave."""
    parts = index.split(".")
    labels = {name: parts[i] for i, name in enumerate(names[:-1]) if i < len(parts)}
    labels[names[-1]] = ".".join(parts[len(names) - 1 :])
    return labels
