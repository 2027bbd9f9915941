"""Report outputs: text for people, JSON and CSV for scripts, HTML as one self-contained file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import jinja2

from watchd.durations import format_duration

FORMATS = ("text", "json", "csv", "html")
CSV_COLUMNS = (
    "scope",
    "name",
    "item",
    "check",
    "availability_percent",
    "objective_percent",
    "up_seconds",
    "down_seconds",
    "unknown_seconds",
    "maintenance_seconds",
    "unmonitored_seconds",
    "excluded_seconds",
    "downtime_seconds",
    "failures",
    "failure_rate_per_day",
    "mtbf_seconds",
    "mttr_seconds",
    "latency_avg",
    "latency_p95_worst_hour",
    "latency_max",
)


def render(report: Mapping[str, Any], fmt: str) -> str:
    """The report in `fmt` (one of FORMATS)."""
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report)
    return render_text(report)


def _dur(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(float(seconds))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}%"


def _delta(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:+g}{unit}"


def verdict(service: Mapping[str, Any]) -> str:
    """One sentence saying whether `service` (a report's service row) met its objective."""
    name, objective = service["name"], service["objective_percent"]
    met = service["error_budget"]["objective_met"]
    if met is None:
        return f"{name}: no data in this period, so its {objective}% objective cannot be judged."
    budget = service["error_budget"]
    left = (
        f"{_dur(budget['remaining_seconds'])} of its error budget left"
        if budget["remaining_seconds"] >= 0
        else "its error budget exhausted"
    )
    return (
        f"{name} {'met' if met else 'missed'} its {objective}% objective: "
        f"{_pct(service['availability_percent'])} available, "
        f"{_dur(service['downtime_seconds'])} down, {left}."
    )


def render_text(report: Mapping[str, Any]) -> str:
    p = report["period"]
    out = [
        f"Availability report {p['label']}: {p['from']} .. {p['to']} (data to {p['elapsed_to']}, "
        f"times in {p['timezone']})"
    ]
    for s in report["services"]:
        b = s["error_budget"]
        before = s["previous"]
        out += [
            "",
            verdict(s),
            f"Service {s['name']}: {_pct(s['availability_percent'])} "
            f"(rule {s['availability_rule']}; maintenance {s['maintenance_policy']}; previous "
            f"period {_pct(before['availability_percent'])}, "
            f"{_delta(before['availability_delta'], ' points')})",
            f"  downtime {_dur(s['downtime_seconds'])}, unmonitored {_dur(s['seconds']['unmonitored'])}, "
            f"failures {s['failures']}, MTBF {_dur(s['mtbf_seconds'])}, MTTR {_dur(s['mttr_seconds'])}",
            f"  error budget {_dur(b['budget_seconds'])}, used {_dur(b['used_seconds'])}, "
            f"remaining {b['remaining_fraction'] if b['remaining_fraction'] is None else round(b['remaining_fraction'] * 100, 1)}%, "
            f"burn rate {b['burn_rate']}",
            f"  incidents {s['incidents']['count']}, MTTA {_dur(s['incidents']['mtta_seconds'])}, "
            f"MTTR {_dur(s['incidents']['mttr_seconds'])}, SLA breaches {s['incidents']['sla_breaches']}",
        ]
    inc = report["incidents"]
    out += [
        "",
        f"Incidents: {inc['count']} opened ({_delta(report['previous']['incidents_delta'])} on "
        f"the previous period), {inc['resolved']} resolved, MTTA {_dur(inc['mtta_seconds'])}, "
        f"MTTR {_dur(inc['mttr_seconds'])}, SLA breaches {inc['sla_breaches']}",
    ]
    out += [
        f"  {r['opened_at']} {_dur(r['mttr_seconds']) if r['resolved_at'] else 'ongoing'} "
        f"{r['item']}: {r['cause']}"
        for r in inc["list"]
    ]
    out += [
        f"  acknowledged by {a['by']}: {a['acknowledged']}, MTTA {_dur(a['mtta_seconds'])}"
        for a in inc["mtta_by_acknowledger"]
    ]
    out += _people_lines(report["people"])
    out += [
        "",
        "Checks (availability, downtime, unmonitored, failures):",
    ]
    for c in report["checks"]:
        out.append(
            f"  {c['item']}/{c['check']}: {_pct(c['availability_percent'])}, "
            f"{_dur(c['downtime_seconds'])}, {_dur(c['seconds']['unmonitored'])}, {c['failures']}"
        )
    if report["maintenance_candidates"]:
        out += ["", "Maintenance candidates:"]
        for m in report["maintenance_candidates"]:
            where = f"{m['item']}/{m['check']}" if m["check"] else m["item"]
            out.append(f"  {m['rank']}. {where}: {m['reason']}")
    return "\n".join(out) + "\n"


def _people_lines(section: Mapping[str, Any]) -> list[str]:
    """The people section: per person, then per team; nothing when no users are configured."""
    if not section["people"]:
        return []
    out = ["", f"People (night: {section['night_hours']} in each person's time zone):"]
    for row in [*section["people"], *section["teams"]]:
        who = row["name"] if "user" in row else f"team {row['team']}"
        out.append(
            f"  {who}: acknowledged {row['acknowledged']}, MTTA {_dur(row['mtta_seconds'])}, "
            f"resolved {row['resolved']}, MTTR {_dur(row['mttr_seconds'])}, "
            f"pages {row['pages']}, at night {row['night_pages']}"
        )
    return out


def render_csv(report: Mapping[str, Any]) -> str:
    """One row per service and per check, columns CSV_COLUMNS."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in report["services"]:
        writer.writerow(_csv_row("service", s["name"], "", "", s, s["objective_percent"]))
    for c in report["checks"]:
        writer.writerow(
            _csv_row("check", f"{c['item']}/{c['check']}", c["item"], c["check"], c, None)
        )
    return buffer.getvalue()


def _csv_row(
    scope: str, name: str, item: str, check: str, f: Mapping[str, Any], objective: float | None
) -> dict[str, Any]:
    sec = f["seconds"]
    return {
        "scope": scope,
        "name": name,
        "item": item,
        "check": check,
        "availability_percent": f["availability_percent"],
        "objective_percent": objective,
        "up_seconds": sec["up"],
        "down_seconds": sec["down"],
        "unknown_seconds": sec["unknown"],
        "maintenance_seconds": sec["maintenance"],
        "unmonitored_seconds": sec["unmonitored"],
        "excluded_seconds": sec["excluded"],
        "downtime_seconds": f["downtime_seconds"],
        "failures": f["failures"],
        "failure_rate_per_day": f["failure_rate_per_day"],
        "mtbf_seconds": f["mtbf_seconds"],
        "mttr_seconds": f["mttr_seconds"],
        "latency_avg": f["latency"]["avg"],
        "latency_p95_worst_hour": f["latency"]["p95_worst_hour"],
        "latency_max": f["latency"]["max"],
    }


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("watchd.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["dur"] = _dur
_ENV.filters["pct"] = _pct
_ENV.filters["delta"] = _delta
_ENV.filters["verdict"] = verdict
# "2026-10-01T08:00:00+08:00" as "2026-10-01 08:00:00": the page says the zone once.
_ENV.filters["when"] = lambda iso: "-" if iso is None else iso[:19].replace("T", " ")


def render_html(report: Mapping[str, Any]) -> str:
    """One HTML file: inline CSS, charts as inline PNG (raises ChartsUnavailable without
    matplotlib)."""
    from watchd.report.charts import all_charts

    return _ENV.get_template("report.html").render(report=report, charts=all_charts(report))
