"""Report outputs: text for people, JSON and CSV for scripts, HTML as one self-contained file.

Text and HTML are written in a locale (`watchd report --locale`, default `[daemon] locale`);
JSON and CSV keep their English keys and values for scripts."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import jinja2

from watchd.durations import format_duration
from watchd.i18n import N_, translations
from watchd.locale_format import format_number
from watchd.page_templates import localised_environment
from watchd.report.maintenance import reason

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


def render(report: Mapping[str, Any], fmt: str, locale: str = "en") -> str:
    """The report in `fmt` (one of FORMATS); text and HTML in `locale`."""
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report, locale)
    return render_text(report, locale)


def _dur(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(float(seconds))


def _pct(value: float | None, locale: str = "en") -> str:
    if value is None:
        return translations(locale).gettext(_NOT_AVAILABLE)
    return f"{format_number(value, locale, 3)}%"


def _delta(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:+g}{unit}"


_NOT_AVAILABLE = N_("n/a")
_NO_VERDICT = N_(
    "%(name)s: no data in this period, so its %(objective)s%% objective cannot be judged."
)
_MET = N_(
    "%(name)s met its %(objective)s%% objective: %(availability)s available, %(downtime)s down, "
    "%(budget)s."
)
_MISSED = N_(
    "%(name)s missed its %(objective)s%% objective: %(availability)s available, %(downtime)s "
    "down, %(budget)s."
)
_BUDGET_LEFT = N_("%(left)s of its error budget left")
_BUDGET_GONE = N_("its error budget exhausted")


def verdict(service: Mapping[str, Any], locale: str = "en") -> str:
    """One sentence in `locale` saying whether `service` (a report's service row) met its
    objective."""
    say = translations(locale).gettext
    name, objective = service["name"], service["objective_percent"]
    met = service["error_budget"]["objective_met"]
    if met is None:
        return say(_NO_VERDICT) % {"name": name, "objective": objective}
    budget = service["error_budget"]
    left = (
        say(_BUDGET_LEFT) % {"left": _dur(budget["remaining_seconds"])}
        if budget["remaining_seconds"] >= 0
        else say(_BUDGET_GONE)
    )
    return say(_MET if met else _MISSED) % {
        "name": name,
        "objective": objective,
        "availability": _pct(service["availability_percent"], locale),
        "downtime": _dur(service["downtime_seconds"]),
        "budget": left,
    }


_TITLE = N_(
    "Availability report %(label)s: %(start)s .. %(end)s (data to %(elapsed)s, times in %(zone)s)"
)
_SERVICE = N_(
    "Service %(name)s: %(availability)s (rule %(rule)s; maintenance %(policy)s; previous "
    "period %(before)s, %(delta)s)"
)
_POINTS = N_(" points")  # after a change of availability: "+0.5 points"
_SERVICE_TIMES = N_(
    "  downtime %(downtime)s, unmonitored %(unmonitored)s, failures %(failures)s, MTBF "
    "%(mtbf)s, MTTR %(mttr)s"
)
_SERVICE_BUDGET = N_(
    "  error budget %(budget)s, used %(used)s, remaining %(remaining)s%%, burn rate %(burn)s"
)
_SERVICE_INCIDENTS = N_(
    "  incidents %(count)s, MTTA %(mtta)s, MTTR %(mttr)s, SLA breaches %(breaches)s"
)
_INCIDENTS = N_(
    "Incidents: %(count)s opened (%(delta)s on the previous period), %(resolved)s resolved, "
    "MTTA %(mtta)s, MTTR %(mttr)s, SLA breaches %(breaches)s"
)
_ONGOING = N_("ongoing")
_ACKNOWLEDGER = N_("  acknowledged by %(by)s: %(count)s, MTTA %(mtta)s")
_CHECKS = N_("Checks (availability, downtime, unmonitored, failures):")
_CANDIDATES = N_("Maintenance candidates:")
_PEOPLE = N_("People (night: %(hours)s in each person's time zone):")
_TEAM = N_("team %(team)s")
_PERSON = N_(
    "  %(who)s: acknowledged %(acknowledged)s, MTTA %(mtta)s, resolved %(resolved)s, MTTR "
    "%(mttr)s, pages %(pages)s, at night %(night)s"
)


def render_text(report: Mapping[str, Any], locale: str = "en") -> str:
    """The report as lines for a terminal, in `locale`."""
    say = translations(locale).gettext
    p = report["period"]
    out = [
        say(_TITLE)
        % {
            "label": p["label"],
            "start": p["from"],
            "end": p["to"],
            "elapsed": p["elapsed_to"],
            "zone": p["timezone"],
        }
    ]
    for s in report["services"]:
        b = s["error_budget"]
        before = s["previous"]
        remaining = b["remaining_fraction"]
        out += [
            "",
            verdict(s, locale),
            say(_SERVICE)
            % {
                "name": s["name"],
                "availability": _pct(s["availability_percent"], locale),
                "rule": s["availability_rule"],
                "policy": s["maintenance_policy"],
                "before": _pct(before["availability_percent"], locale),
                "delta": _delta(before["availability_delta"], say(_POINTS)),
            },
            say(_SERVICE_TIMES)
            % {
                "downtime": _dur(s["downtime_seconds"]),
                "unmonitored": _dur(s["seconds"]["unmonitored"]),
                "failures": s["failures"],
                "mtbf": _dur(s["mtbf_seconds"]),
                "mttr": _dur(s["mttr_seconds"]),
            },
            say(_SERVICE_BUDGET)
            % {
                "budget": _dur(b["budget_seconds"]),
                "used": _dur(b["used_seconds"]),
                "remaining": remaining if remaining is None else round(remaining * 100, 1),
                "burn": b["burn_rate"],
            },
            say(_SERVICE_INCIDENTS)
            % {
                "count": s["incidents"]["count"],
                "mtta": _dur(s["incidents"]["mtta_seconds"]),
                "mttr": _dur(s["incidents"]["mttr_seconds"]),
                "breaches": s["incidents"]["sla_breaches"],
            },
        ]
    inc = report["incidents"]
    out += [
        "",
        say(_INCIDENTS)
        % {
            "count": inc["count"],
            "delta": _delta(report["previous"]["incidents_delta"]),
            "resolved": inc["resolved"],
            "mtta": _dur(inc["mtta_seconds"]),
            "mttr": _dur(inc["mttr_seconds"]),
            "breaches": inc["sla_breaches"],
        },
    ]
    out += [
        f"  {r['opened_at']} {_dur(r['mttr_seconds']) if r['resolved_at'] else say(_ONGOING)} "
        f"{r['item']}: {r['cause']}"
        for r in inc["list"]
    ]
    out += [
        say(_ACKNOWLEDGER)
        % {"by": a["by"], "count": a["acknowledged"], "mtta": _dur(a["mtta_seconds"])}
        for a in inc["mtta_by_acknowledger"]
    ]
    out += _people_lines(report["people"], say)
    out += ["", say(_CHECKS)]
    for c in report["checks"]:
        out.append(
            f"  {c['item']}/{c['check']}: {_pct(c['availability_percent'], locale)}, "
            f"{_dur(c['downtime_seconds'])}, {_dur(c['seconds']['unmonitored'])}, {c['failures']}"
        )
    if report["maintenance_candidates"]:
        out += ["", say(_CANDIDATES)]
        for m in report["maintenance_candidates"]:
            where = f"{m['item']}/{m['check']}" if m["check"] else m["item"]
            out.append(f"  {m['rank']}. {where}: {reason(m, say)}")
    return "\n".join(out) + "\n"


def _people_lines(section: Mapping[str, Any], say: Callable[[str], str]) -> list[str]:
    """The people section: per person, then per team; nothing when no users are configured."""
    if not section["people"]:
        return []
    out = ["", say(_PEOPLE) % {"hours": section["night_hours"]}]
    for row in [*section["people"], *section["teams"]]:
        who = row["name"] if "user" in row else say(_TEAM) % {"team": row["team"]}
        out.append(
            say(_PERSON)
            % {
                "who": who,
                "acknowledged": row["acknowledged"],
                "mtta": _dur(row["mtta_seconds"]),
                "resolved": row["resolved"],
                "mttr": _dur(row["mttr_seconds"]),
                "pages": row["pages"],
                "night": row["night_pages"],
            }
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


@cache
def _env(locale: str) -> jinja2.Environment:
    """The report template in `locale` (watchd.page_templates), built once per locale."""
    env = localised_environment("watchd.report", locale, undefined=jinja2.StrictUndefined)
    env.filters.update(dur=_dur, delta=_delta)
    env.filters["pct"] = lambda value: _pct(value, locale)
    env.filters["verdict"] = lambda service: verdict(service, locale)
    env.filters["reason"] = lambda candidate: reason(candidate, translations(locale).gettext)
    # "2026-10-01T08:00:00+08:00" as "2026-10-01 08:00:00": the page says the zone once.
    env.filters["when"] = lambda iso: "-" if iso is None else iso[:19].replace("T", " ")
    return env


def render_html(report: Mapping[str, Any], locale: str = "en") -> str:
    """One HTML file in `locale`: inline CSS, charts as inline PNG (raises ChartsUnavailable
    without matplotlib)."""
    from watchd.report.charts import all_charts

    charts = all_charts(report, locale)
    return _env(locale).get_template("report.html").render(report=report, charts=charts)
