"""Turn one poll's raw SNMP values into samples, through a plan compiled from the profiles.

A check compiles its profiles and its own OIDs once into a Plan: the scalars a poll GETs and
the columns it walks, the type each OID declares, and per table which columns are labels and
which metrics (scale, declared type, `multiply_by`), and the derived samples. A poll's raw
values (gufo-snmp's int, bytes or str per varbind, collectors/snmp_values.py) then go straight
into samples, row by row, each read once as what its column is: text for a label, a number for
a metric. Samples are made with the check's context (CheckContext.sample_labels under the
row's labels, see CheckResult.in_context): the result path takes them as they are. A row's
labels mapping is kept from poll to poll while the row's label values stay the same: one
mapping per interface, which /metrics and the rules keep, rather than one per poll.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collectors.snmp_profile import Column, Profile, Table
from collectors.snmp_rates import RateTracker
from collectors.snmp_values import Declared, Raw, counter_bits, number, text
from watchd.model import Labels, Sample

Rows = Mapping[str, Raw | None]  # one column's values by row index


@dataclass(frozen=True, slots=True)
class OwnOid:
    """A check's own scalar OID (SnmpConfig.oids), the metric it becomes, its declared type."""

    oid: str
    metric: str
    scale: float = 1.0
    type: Declared = ""


@dataclass(frozen=True, slots=True)
class _Scalar:
    oid: str
    metric: str
    info: str
    scale: float
    declared: Declared


@dataclass(frozen=True, slots=True)
class _Measured:
    """A metric column of a table, with what reading its values needs."""

    metric: str
    oid: str
    scale: float
    declared: Declared
    fast: bool  # an int value is its number (no TimeTicks to divide)
    bits: int | None  # its declared counter width
    factor: str  # multiply_by: the OID of the column it is multiplied by, or ""
    factor_declared: Declared


def _measured(column: Column, types: Mapping[str, Declared]) -> _Measured:
    declared = types.get(column.oid, "")
    return _Measured(
        column.metric,
        column.oid,
        column.scale,
        declared,
        declared != "timeticks",
        counter_bits(0, declared),
        column.multiply_by,
        types.get(column.multiply_by, "") if column.multiply_by else "",
    )


# A table's rows from the last poll: row index -> (its label values, the labels mapping made
# of them).
KnownRows = dict[str, tuple[list[Raw | None], dict[str, str]]]


class _TablePlan:
    """One table's columns as a poll reads them (shared by the checks of the same profiles)."""

    __slots__ = ("derived", "index", "labelled", "measured", "oids", "slots")

    def __init__(self, table: Table, types: Mapping[str, Declared]) -> None:
        self.index = tuple(table.index)
        self.oids = tuple(column.oid for column in table.columns)
        self.labelled = tuple(
            (column.label, column.oid, types.get(column.oid, ""))
            for column in table.columns
            if column.label
        )
        self.measured = tuple(_measured(column, types) for column in table.columns if column.metric)
        # The counters the table takes rates of, each its slot in a row's readings (two
        # derived samples may take the same).
        slot = {
            name: n
            for n, name in enumerate(dict.fromkeys(n for d in table.derived for n in d.rate))
        }
        self.slots = len(slot)
        # Each derived sample: its metric, whether it is a rate, the metrics it takes (the
        # first the row has) with their slots (-1 for a value), its scale and its divisors.
        self.derived = tuple(
            (
                d.metric,
                bool(d.rate),
                tuple((name, slot.get(name, -1)) for name in d.rate or d.value),
                d.scale,
                tuple(d.divide_by),
            )
            for d in table.derived
        )

    def samples(
        self,
        columns: Mapping[str, Rows],
        context: Labels,
        known: KnownRows,
        rates: RateTracker,
        out: list[Sample],
    ) -> KnownRows:
        """Append the table's samples of this poll's `columns`, in `context`, to `out`; rows
        whose label values are as `known` keep their labels. Returns this poll's rows."""
        empty: Rows = {}
        present = [columns.get(oid) or empty for oid in self.oids]
        indexes = dict.fromkeys(present[0])
        for rows in present[1:]:
            if rows.keys() != indexes.keys():  # most columns have the same rows
                indexes.update(dict.fromkeys(rows))
        label_rows = [columns.get(oid) or empty for _, oid, _ in self.labelled]
        measured = [
            (
                m,
                columns.get(m.oid) or empty,
                (columns.get(m.factor) or empty) if m.factor else None,
            )
            for m in self.measured
        ]
        derived = self.derived
        if self.slots:
            rates.table(self, self.slots)
        now_known: KnownRows = {}
        for index in indexes:
            raws = [rows.get(index) for rows in label_rows]
            kept = known.get(index)
            if kept is None or kept[0] != raws:
                kept = (raws, self._labels(index, raws, context))
            now_known[index] = kept
            labels = kept[1]
            # Each metric's number and counter width, for the derived samples.
            metrics: dict[str, tuple[float, int | None]] = {}
            for m, rows, factors in measured:
                raw = rows.get(index)
                if raw is None:
                    continue
                if m.fast and type(raw) is int:
                    value = float(raw) * m.scale
                    bits = m.bits
                else:
                    read = number(raw, m.declared)
                    if read is None:
                        continue
                    value = read * m.scale
                    bits = counter_bits(raw, m.declared)
                if factors is not None:
                    factor = factors.get(index)
                    read = None if factor is None else number(factor, m.factor_declared)
                    if read is None:
                        continue
                    value *= read
                metrics[m.metric] = (value, bits)
                out.append(Sample(m.metric, value, labels))
            if derived:
                self._derived(index, labels, metrics, rates, out)
        return now_known

    def _labels(self, index: str, raws: list[Raw | None], context: Labels) -> dict[str, str]:
        """A row's labels: the context, then its index split as the table's `index` names say
        (the last name takes what the others leave), then its label columns."""
        names = self.index
        parts = index.split(".")
        labels = dict(context)
        labels.update((name, parts[i]) for i, name in enumerate(names[:-1]) if i < len(parts))
        labels[names[-1]] = ".".join(parts[len(names) - 1 :])
        for (label, _, declared), raw in zip(self.labelled, raws, strict=True):
            if raw is not None and (value := text(raw, declared)):
                labels[label] = value
        return labels

    def _derived(
        self,
        index: str,
        labels: Labels,
        metrics: dict[str, tuple[float, int | None]],
        rates: RateTracker,
        out: list[Sample],
    ) -> None:
        """The row's derived samples: rates of its counters and ratios of its metrics."""
        if self.slots:
            rates.row(index)
        row_rates: dict[int, float | None] = {}  # by slot
        for metric, is_rate, sources, scale, divide_by in self.derived:
            for taken in sources:  # the first source metric the row has: (name, slot)
                found = metrics.get(taken[0])
                if found is not None:
                    break
            else:
                continue
            source: float | None
            if not is_rate:
                source = found[0]
            elif (slot := taken[1]) in row_rates:
                source = row_rates[slot]
            else:
                source = row_rates[slot] = rates.rate(slot, *found)
            if source is None:
                continue
            result = source * scale
            if divide_by:
                for by, factor in divide_by:  # the first divisor the row has and is not zero
                    divisor = metrics.get(by)
                    if divisor is not None and divisor[0]:
                        result /= divisor[0] * factor
                        break
                else:
                    continue
            out.append(Sample(metric, result, labels))


class _Compiled:
    """What a plan reads and how, worked out from the profiles once: the same for every check
    of the same shipped profiles and own OIDs (5,000 devices would otherwise hold 5,000 copies
    of a few kilobytes)."""

    __slots__ = (
        "__weakref__",
        "columns",
        "own",
        "profiles",
        "scalar_oids",
        "scalars",
        "tables",
        "uptime",
    )

    def __init__(
        self, profiles: tuple[Profile, ...], own: tuple[OwnOid, ...], uptime_oid: str
    ) -> None:
        self.profiles = profiles  # kept: their ids are part of the cache key
        # The type each OID declares, whichever profile or own OID declares it.
        types: dict[str, Declared] = {uptime_oid: "timeticks"}
        for profile in profiles:
            types.update((s.oid, s.type) for s in profile.scalars if s.type)
            types.update((c.oid, c.type) for t in profile.tables for c in t.columns if c.type)
        types.update((o.oid, o.type) for o in own if o.type)
        self.uptime = (uptime_oid, types[uptime_oid])
        self.scalars = tuple(
            _Scalar(s.oid, s.metric, s.info, s.scale, types.get(s.oid, ""))
            for profile in profiles
            for s in profile.scalars
        )
        self.own = tuple(_Scalar(o.oid, o.metric, "", o.scale, types.get(o.oid, "")) for o in own)
        self.tables = tuple(
            _TablePlan(table, types) for profile in profiles for table in profile.tables
        )
        # What every poll asks: the scalar OIDs (uptime first), the columns (labels, metrics,
        # multiply_by), each once.
        self.scalar_oids = list(
            dict.fromkeys([uptime_oid, *(s.oid for s in self.scalars), *(o.oid for o in own)])
        )
        self.columns = list(
            dict.fromkeys(
                oid
                for profile in profiles
                for table in profile.tables
                for column in table.columns
                for oid in (column.oid, column.multiply_by)
                if oid
            )
        )


_COMPILED: weakref.WeakValueDictionary[
    tuple[tuple[int, ...], tuple[OwnOid, ...], str], _Compiled
] = weakref.WeakValueDictionary()


def _compiled(profiles: Sequence[Profile], own: Sequence[OwnOid], uptime_oid: str) -> _Compiled:
    """The compiled profiles, shared while a plan uses them (shipped profiles are loaded once,
    so the checks of one shipped profile share one)."""
    key = (tuple(map(id, profiles)), tuple(own), uptime_oid)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = _Compiled(tuple(profiles), tuple(own), uptime_oid)
    return compiled


class Plan:
    """What a check's polls ask and how their answers become samples (see the module doc).

    `uptime_oid` is read as TimeTicks (unless a profile declares it otherwise): its going back
    means the device restarted (collectors/snmp_rates.py)."""

    def __init__(self, profiles: Sequence[Profile], own: Sequence[OwnOid], uptime_oid: str) -> None:
        self._compiled = compiled = _compiled(profiles, own, uptime_oid)
        self.scalar_oids = compiled.scalar_oids
        self.columns = compiled.columns
        # Each table's rows from the last poll, and the context their labels were made in.
        self._known: list[KnownRows] = [{} for _ in compiled.tables]
        self._context: Labels = {}

    def _uptime_seconds(self, scalars: Mapping[str, Raw | None]) -> float | None:
        oid, declared = self._compiled.uptime
        raw = scalars.get(oid)
        return None if raw is None else number(raw, declared)

    def samples(
        self,
        scalars: Mapping[str, Raw | None],
        columns: Mapping[str, Rows],
        context: Labels,
        rates: RateTracker,
        now: float,
    ) -> tuple[list[Sample], dict[str, str]]:
        """One poll's samples with the labels of `context` (CheckContext.sample_labels), and
        the info texts (sysName, ...) for the check message."""
        samples: list[Sample] = []
        info: dict[str, str] = {}
        compiled = self._compiled
        rates.begin(self._uptime_seconds(scalars), now)
        self._scalar_samples(compiled.scalars, scalars, context, samples, info)
        if context != self._context:  # labels made in another context are no longer valid
            self._known = [{} for _ in compiled.tables]
            self._context = context
        known = self._known
        for n, table in enumerate(compiled.tables):
            known[n] = table.samples(columns, context, known[n], rates, samples)
        rates.end()
        self._scalar_samples(compiled.own, scalars, context, samples, info)
        return samples, info

    @staticmethod
    def _scalar_samples(
        plan: Sequence[_Scalar],
        scalars: Mapping[str, Raw | None],
        context: Labels,
        out: list[Sample],
        info: dict[str, str],
    ) -> None:
        for scalar in plan:
            raw = scalars.get(scalar.oid)
            if raw is None:
                continue
            if scalar.info:
                info[scalar.info] = text(raw, scalar.declared)
            elif scalar.metric:
                value = number(raw, scalar.declared)
                if value is not None:
                    out.append(Sample(scalar.metric, value * scalar.scale, context))
