"""Nagios plugin output: status text, long text and performance data.

Perfdata follows the Nagios plugin guidelines: space-separated items
`'label'=value[UOM];[warn];[crit];[min];[max]`, labels quoted with single quotes when they
hold spaces (a quote inside is written ''), trailing fields optional. Values are normalized
to base units: s/ms/us to seconds, B/KB/MB/GB/TB to bytes (1024-based, as the plugins
count), % stays percent, c is a counter. "U" (undetermined) gives no value. Items that do
not parse are counted, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ITEM = re.compile(r"\s*(?:'((?:[^']|'')*)'|([^'=\s][^=\s]*))=(\S*)")
_VALUE = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)([a-zA-Z%]*)$")
_UNITS: dict[str, tuple[float, str]] = {
    "": (1.0, ""),
    "s": (1.0, "seconds"),
    "ms": (1e-3, "seconds"),
    "us": (1e-6, "seconds"),
    "%": (1.0, "percent"),
    "B": (1.0, "bytes"),
    "KB": (1024.0, "bytes"),
    "MB": (1024.0**2, "bytes"),
    "GB": (1024.0**3, "bytes"),
    "TB": (1024.0**4, "bytes"),
    "c": (1.0, "counter"),
}


@dataclass(frozen=True, slots=True)
class PerfValue:
    """One perfdata item, value and thresholds in base units; `uom` names the base unit."""

    label: str
    value: float
    uom: str
    warn: str = ""  # thresholds are ranges (10:20, @5, ~:3): kept as text, scaled where plain
    crit: str = ""
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class PluginOutput:
    """A plugin's output split the way Nagios does it."""

    text: str  # the first line, without perfdata
    long_text: str  # the following lines, without perfdata
    perfdata: tuple[PerfValue, ...]
    malformed: tuple[str, ...]  # perfdata items that did not parse


def parse_output(output: str) -> PluginOutput:
    """Split output into status text, long text and parsed perfdata.

    The first line may carry perfdata after a `|`; in the following lines, everything after
    the first `|` is perfdata too, across lines.
    """
    first, _, rest = output.partition("\n")
    text, _, perf = first.partition("|")
    long_text, bar, more_perf = rest.partition("|")
    if bar:
        perf = f"{perf} {more_perf}"
    values, malformed = parse_perfdata(perf)
    return PluginOutput(text.strip(), long_text.strip("\n"), values, malformed)


def parse_perfdata(perf: str) -> tuple[tuple[PerfValue, ...], tuple[str, ...]]:
    """Parse perfdata items; return the good ones and the text of the ones that did not parse."""
    values: list[PerfValue] = []
    malformed: list[str] = []
    pos = 0
    perf = perf.replace("\n", " ")
    while pos < len(perf):
        if perf[pos].isspace():
            pos += 1
            continue
        match = _ITEM.match(perf, pos)
        if match is None:
            end = _next_space(perf, pos)
            malformed.append(perf[pos:end])
            pos = end
            continue
        pos = match.end()
        label = match.group(1).replace("''", "'") if match.group(1) is not None else match.group(2)
        item = _item(label, match.group(3))
        if item is None:
            if match.group(3).split(";", 1)[0] != "U":
                malformed.append(match.group(0).strip())
        else:
            values.append(item)
    return tuple(values), tuple(malformed)


def _item(label: str, spec: str) -> PerfValue | None:
    fields = spec.split(";")
    if len(fields) > 5:
        return None
    fields += [""] * (5 - len(fields))
    match = _VALUE.match(fields[0])
    if match is None or match.group(2) not in _UNITS:
        return None
    factor, uom = _UNITS[match.group(2)]
    try:
        minimum = float(fields[3]) * factor if fields[3] else None
        maximum = float(fields[4]) * factor if fields[4] else None
    except ValueError:
        return None
    return PerfValue(
        label=label,
        value=float(match.group(1)) * factor,
        uom=uom,
        warn=_scaled_range(fields[1], factor),
        crit=_scaled_range(fields[2], factor),
        minimum=minimum,
        maximum=maximum,
    )


def _scaled_range(text: str, factor: float) -> str:
    # A plain number threshold is scaled like the value; a range stays as the plugin wrote it.
    try:
        return f"{float(text) * factor:g}"
    except ValueError:
        return text


def _next_space(text: str, pos: int) -> int:
    while pos < len(text) and not text[pos].isspace():
        pos += 1
    return pos
