"""A service's availability from its members by its declared rule (`[[services]] availability`).

Each member check is a timeline of states over time (watchd.report.availability's rules: a
sample holds until the next one, at most `max_gap`; unmonitored > maintenance > status). At
every instant the service's state follows from its members' states:

    rule       service is down                      service is up
    "all"      when any member is down (union)      when every member is up
    "any"      when every member is down            when any member is up
               (intersection)
    otherwise (neither up nor down): unmonitored if a member is unmonitored, else unknown if a
    member is unknown, else maintenance. "weighted" is not combined here: it is the
    time-weighted mean of the members' availability (their seconds summed).

Example: two checks, one down for half the period: "all" 50 %, "any" 100 %, "weighted" 75 %.

A service failure is a transition into down from a monitored state that is not down, as for a
check. The rollup job stores each combined service hour as a series of its own (item "",
check "service:<rule>:<name>"), so hourly and daily rollups keep it after the raw samples go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import pairwise

from watchd.report.availability import DOWN, UNKNOWN, UP, Interval, Tally, status_class, total
from watchd.report.catalog import SERVICE_ITEM, Catalog, Key
from watchd.report.config import ServiceConfig
from watchd.report.windows import MaintenancePlan
from watchd.store.samples import AvailabilitySample

MAINTENANCE, UNMONITORED = "maintenance", "unmonitored"
Segment = tuple[float, float, str]  # [from, to) in one state


def service_key(service: ServiceConfig) -> Key:
    """The rollup series of a service combined by rule "all" or "any"."""
    return SERVICE_ITEM, f"service:{service.availability}:{service.name}"


def is_service_key(key: Key) -> bool:
    """True for the series of a combined service rather than of a check."""
    return key[0] == SERVICE_ITEM


def timeline(
    samples: Sequence[AvailabilitySample],
    *,
    start: float,
    end: float,
    max_gap: float,
    maintenance: Sequence[Interval] = (),
) -> list[Segment]:
    """One check's states over [start, end) as contiguous segments (gaps are unmonitored).

    `samples` are in time order, including those up to `max_gap` before `start`;
    `maintenance` is sorted and merged (availability.merge_intervals).
    """
    out: list[Segment] = []
    covered = start

    def add(a: float, b: float, state: str) -> None:
        if out and out[-1][2] == state and out[-1][1] == a:
            out[-1] = (out[-1][0], b, state)
        else:
            out.append((a, b, state))

    for n, sample in enumerate(samples):
        if sample.time >= end:
            break
        following = samples[n + 1].time if n + 1 < len(samples) else end
        a, b = max(sample.time, start), min(following, sample.time + max_gap, end)
        state = status_class(sample.status)
        for lo, hi, muted in _cut(a, b, maintenance):
            if lo > covered:
                add(covered, lo, UNMONITORED)
            add(lo, hi, MAINTENANCE if muted else state)
            covered = hi
    if end > covered:
        add(covered, end, UNMONITORED)
    return out


def _cut(a: float, b: float, maintenance: Sequence[Interval]) -> list[tuple[float, float, bool]]:
    """[a, b) split into parts outside (False) and inside (True) the maintenance intervals."""
    parts: list[tuple[float, float, bool]] = []
    t = a
    for lo, hi in maintenance:
        if hi <= t or lo >= b:
            continue
        if lo > t:
            parts.append((t, lo, False))
        parts.append((max(t, lo), min(b, hi), True))
        t = min(b, hi)
    if t < b:
        parts.append((t, b, False))
    return [p for p in parts if p[1] > p[0]]


def combined_state(states: Sequence[str], rule: str) -> str:
    """The service's state from its members' states at one instant (see the module table)."""
    if rule == "all" and DOWN in states:
        return DOWN
    if rule == "any" and UP in states:
        return UP
    if all(s == (UP if rule == "all" else DOWN) for s in states):
        return UP if rule == "all" else DOWN
    for state in (UNMONITORED, UNKNOWN, MAINTENANCE):
        if state in states:
            return state
    raise ValueError(f"no member states to combine: {states!r}")


def combine(timelines: Sequence[Sequence[Segment]], rule: str) -> list[Segment]:
    """The service's segments from its members' timelines (all covering the same span)."""
    if not timelines:
        return []
    edges = sorted({t for line in timelines for seg in line for t in seg[:2]})
    cursors = [0] * len(timelines)
    out: list[Segment] = []
    for a, b in pairwise(edges):
        states = []
        for m, line in enumerate(timelines):
            while line[cursors[m]][1] <= a:
                cursors[m] += 1
            states.append(line[cursors[m]][2])
        state = combined_state(states, rule)
        if out and out[-1][2] == state:
            out[-1] = (out[-1][0], b, state)
        else:
            out.append((a, b, state))
    return out


def tally_segments(segments: Sequence[Segment], start: float, end: float) -> Tally:
    """Seconds per state of `segments` inside [start, end) and the failures starting there.

    Segments before `start` only tell whether a down segment at `start` is a new failure.
    """
    seconds = {UP: 0.0, DOWN: 0.0, UNKNOWN: 0.0, MAINTENANCE: 0.0, UNMONITORED: 0.0}
    failures = 0
    previous: Segment | None = None
    for seg in segments:
        a, b, state = max(seg[0], start), min(seg[1], end), seg[2]
        if b > a:
            seconds[state] += b - a
        if (
            state == DOWN
            and start <= seg[0] < end
            and previous is not None
            and previous[1] == seg[0]
            and previous[2] not in (DOWN, UNMONITORED)
        ):
            failures += 1
        previous = seg
    return Tally(
        up=seconds[UP],
        down=seconds[DOWN],
        unknown=seconds[UNKNOWN],
        maintenance=seconds[MAINTENANCE],
        unmonitored=seconds[UNMONITORED],
        failures=failures,
    )


def service_tallies(
    catalog: Catalog,
    keys: Iterable[Key],
    by_check: Mapping[Key, Sequence[AvailabilitySample]],
    plan: MaintenancePlan,
    start: float,
    end: float,
) -> dict[Key, Tally]:
    """The combined Tally over [start, end) of each service series among `keys` whose service
    is configured with that rule, from its members' samples (`by_check`, which must reach
    `catalog.max_gap()` before `start`). Members without samples are unmonitored."""
    by_key = {service_key(s): s for s in catalog.services if s.availability != "weighted"}
    lookback = start - catalog.max_gap()
    out: dict[Key, Tally] = {}
    for key in keys:
        service = by_key.get(key)
        if service is None:
            continue
        lines = [
            timeline(
                by_check.get(m, ()),
                start=lookback,
                end=end,
                max_gap=catalog.gap(m),
                maintenance=plan.intervals(m[0], catalog.check_labels(m)),
            )
            for m in catalog.members(service, by_check)
        ]
        if lines:
            out[key] = tally_segments(combine(lines, service.availability), start, end)
    return out


def service_total(
    service: ServiceConfig, found: Mapping[Key, Tally], members: Sequence[Key]
) -> tuple[Tally, int]:
    """The service's Tally from `found` (tallies of its members and its own series) and the
    number of members its seconds sum over (figures' `members`: 1 for a combined service).

    A combined service takes its seconds and failures from its own series, and the check
    runs and latency of its members.
    """
    summed = total(found[k] for k in members if k in found)
    if service.availability == "weighted":
        return summed, len(members)
    combined = found.get(service_key(service), Tally())
    return (
        replace(
            combined,
            checks=summed.checks,
            latency_sum=summed.latency_sum,
            latency_count=summed.latency_count,
            latency_max=summed.latency_max,
            latency_p95=summed.latency_p95,
        ),
        1,
    )


def query_keys(service: ServiceConfig, members: Sequence[Key]) -> list[Key]:
    """What to ask watchd.report.query.tallies for to get `service_total` of `service`."""
    if service.availability == "weighted":
        return list(members)
    return [*members, service_key(service)]
