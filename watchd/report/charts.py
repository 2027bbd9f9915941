"""Charts for the HTML report, drawn with matplotlib (the optional extra `report`) as
inline base64 PNGs, so the report is one self-contained file.

matplotlib is imported only when a chart is drawn; without it, ChartsUnavailable says how to
install it. The object-oriented Figure API is used, not pyplot: no global state, no GUI.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

from watchd.extras import install_hint

# The API serves these from worker threads too; keep charts small and legible on a phone.
_SIZE = (7.0, 3.0)
_DPI = 90


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed; `hint` says how to install it."""

    def __init__(self) -> None:
        self.hint = install_hint("report")
        super().__init__(
            f"HTML reports draw their charts with matplotlib, which is not installed ({self.hint})."
        )


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ChartsUnavailable() from exc
    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    return fig, fig.add_subplot()


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def availability_over_time(report: Mapping[str, Any]) -> str:
    """Daily availability, one line per service (or all checks when there is no service)."""
    fig, ax = _figure()
    lines = [(s["name"], s["daily"]) for s in report["services"]] or [
        ("all checks", report["daily"])
    ]
    for name, daily in lines:
        xs = [d["date"][5:] for d in daily]
        ys = [d["availability_percent"] for d in daily]
        ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker=".", label=name)
    for s in report["services"]:
        ax.axhline(s["objective_percent"], linestyle="--", linewidth=0.8, color="grey")
    ax.set_ylabel("availability %")
    ax.set_title("Availability per day (UTC)")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    if len(lines) > 1 or report["services"]:
        ax.legend(fontsize=7)
    return _png(fig)


def incidents_per_week(report: Mapping[str, Any]) -> str:
    fig, ax = _figure()
    weeks = report["incidents"]["weekly"]
    ax.bar([w["week"][5:] for w in weeks], [w["count"] for w in weeks], color="#c0504d")
    ax.set_ylabel("incidents opened")
    ax.set_title("Incidents per week (weeks start Monday)")
    return _png(fig)


def mttr_trend(report: Mapping[str, Any]) -> str:
    fig, ax = _figure()
    weeks = report["incidents"]["weekly"]
    hours = [
        w["mttr_seconds"] / 3600 if w["mttr_seconds"] is not None else float("nan") for w in weeks
    ]
    ax.plot([w["week"][5:] for w in weeks], hours, marker="o")
    ax.set_ylabel("MTTR (hours)")
    ax.set_title("Mean time to resolve, per week of opening")
    return _png(fig)


def top_offenders(report: Mapping[str, Any]) -> str:
    fig, ax = _figure()
    rows = list(reversed(report["top_offenders"]))
    ax.barh(
        [f"{r['item']}/{r['check']}" for r in rows],
        [float(r["downtime_seconds"]) / 60 for r in rows],
        color="#4f81bd",
    )
    ax.set_xlabel("downtime (minutes)")
    ax.set_title("Top offenders by downtime")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def forecasts(report: Mapping[str, Any]) -> str:
    """Days left before forecast exhaustion and certificate expiry, soonest at the top."""
    fig, ax = _figure()
    entries = [(f"{f['rule']} {f['item']}", float(f["days_left"])) for f in report["forecasts"]] + [
        (f"cert {c['labels'].get('url', c['item'])}", float(c["days_left"]))
        for c in report["certificates"]
    ]
    entries = sorted(entries, key=lambda e: e[1])[:15][::-1]
    ax.barh([e[0] for e in entries], [e[1] for e in entries], color="#9bbb59")
    ax.set_xlabel("days left")
    ax.set_title("Forecast exhaustion and certificate expiry")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def all_charts(report: Mapping[str, Any]) -> dict[str, str]:
    """Every chart of the HTML report as a data: URL, by name."""
    return {
        "availability": availability_over_time(report),
        "incidents": incidents_per_week(report),
        "mttr": mttr_trend(report),
        "offenders": top_offenders(report),
        "forecasts": forecasts(report),
    }
