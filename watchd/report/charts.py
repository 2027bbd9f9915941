"""Charts for the HTML report, drawn with matplotlib (the optional extra `report`) as
inline base64 PNGs, so the report is one self-contained file.

matplotlib is imported only when a chart is drawn; without it, ChartsUnavailable says how to
install it. The object-oriented Figure API is used, not pyplot: no global state, no GUI.

A chart with nothing to show is not drawn (None): the report says "no data" instead of an
empty frame with matplotlib's ±0.04 axes. Text is set in DejaVu Sans with a CJK font behind
it (matplotlib falls back glyph by glyph), so Chinese service and item names are drawn, not
shown as boxes; the install steps bring fonts-wqy-microhei (CJK_FAMILIES names the others
that work).
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from watchd.extras import install_hint
from watchd.i18n import N_, translations

Say = Callable[[str], str]  # a locale's gettext: chart titles and axes are written in it

# The API serves these from worker threads too; keep charts small and legible on a phone.
_SIZE = (7.0, 3.0)
_DPI = 90
# Fonts with Chinese glyphs, preferred first: Debian's fonts-wqy-microhei, fonts-noto-cjk,
# fonts-wqy-zenhei; Source Han Sans is Noto CJK under Adobe's name.
CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
)


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed; `hint` says how to install it."""

    def __init__(self) -> None:
        self.hint = install_hint("report")
        super().__init__(
            f"HTML reports draw their charts with matplotlib, which is not installed ({self.hint})."
        )


@functools.cache
def font_families() -> tuple[str, ...]:
    """The font families of chart text: DejaVu Sans, then the first CJK font installed."""
    from matplotlib import font_manager

    def installed() -> set[str]:
        return {f.name for f in font_manager.fontManager.ttflist}

    found = installed()
    if not found.intersection(CJK_FAMILIES):
        # matplotlib's font cache predates a font package installed after it: add the
        # system's font files it does not list yet, once per process.
        known = {f.fname for f in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue  # a font file FreeType cannot read is no reason to fail a report
        found = installed()
    return ("DejaVu Sans", *[f for f in CJK_FAMILIES if f in found][:1])


def _require_matplotlib() -> None:
    """Raise ChartsUnavailable without matplotlib, also for a chart with no data to draw: an
    HTML report should not work this month and fail the next."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ChartsUnavailable() from exc


def _figure() -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    return fig, fig.add_subplot()


def _png(fig: Any) -> str:
    from matplotlib.text import Text

    families = list(font_families())
    for text in fig.findobj(Text):
        text.set_fontfamily(families)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _whole_numbers(axis: Any) -> None:
    """Counts on `axis` as whole numbers from 0 (not 0 ± 0.04 when every count is 0)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def availability_limits(values: Sequence[float]) -> tuple[float, float]:
    """The availability axis: from a little under the lowest value (points and objectives)
    to just over 100 %, so a month at 100 % is a flat line at the top, not 100 ± 0.04."""
    low = min(values)
    return max(0.0, low - max(0.05, (100 - low) * 0.1)), 100 + max(0.01, (100 - low) * 0.05)


def availability_over_time(report: Mapping[str, Any], say: Say = str) -> str | None:
    """Daily availability, one line per service (or all checks when there is no service)."""
    _require_matplotlib()
    lines = [(s["name"], s["daily"]) for s in report["services"]] or [
        (say(N_("all checks")), report["daily"])
    ]
    values = [d["availability_percent"] for _, daily in lines for d in daily]
    known = [v for v in values if v is not None]
    if not known:
        return None
    fig, ax = _figure()
    for name, daily in lines:
        xs = [d["date"][5:] for d in daily]
        ys = [d["availability_percent"] for d in daily]
        ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker=".", label=name)
    objectives = [s["objective_percent"] for s in report["services"]]
    for objective in objectives:
        ax.axhline(objective, linestyle="--", linewidth=0.8, color="grey")
    ax.set_ylim(*availability_limits([*known, *objectives]))
    ax.set_ylabel(say(N_("availability %")))
    ax.set_title(
        say(N_("Availability per day (%(zone)s)")) % {"zone": report["period"]["timezone"]}
    )
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    if len(lines) > 1 or report["services"]:
        ax.legend(fontsize=7)
    return _png(fig)


def incidents_per_week(report: Mapping[str, Any], say: Say = str) -> str | None:
    _require_matplotlib()
    weeks = report["incidents"]["weekly"]
    counts = [w["count"] for w in weeks]
    if not any(counts):
        return None
    fig, ax = _figure()
    ax.bar([w["week"][5:] for w in weeks], counts, color="#c0504d")
    ax.set_ylim(0, max(counts) * 1.1)
    _whole_numbers(ax.yaxis)
    ax.set_ylabel(say(N_("incidents opened")))
    ax.set_title(say(N_("Incidents per week (weeks start Monday)")))
    return _png(fig)


def mttr_trend(report: Mapping[str, Any], say: Say = str) -> str | None:
    _require_matplotlib()
    weeks = report["incidents"]["weekly"]
    hours = [
        w["mttr_seconds"] / 3600 if w["mttr_seconds"] is not None else float("nan") for w in weeks
    ]
    if all(math.isnan(h) for h in hours):
        return None
    fig, ax = _figure()
    ax.plot([w["week"][5:] for w in weeks], hours, marker="o")
    ax.set_ylim(0, max(h for h in hours if not math.isnan(h)) * 1.15 or 1)
    ax.set_ylabel(say(N_("MTTR (hours)")))
    ax.set_title(say(N_("Mean time to resolve, per week of opening")))
    return _png(fig)


def _barh(
    labels: Sequence[str], values: Sequence[float], color: str, xlabel: str, title: str
) -> str:
    fig, ax = _figure()
    ax.barh(list(labels), list(values), color=color)
    ax.set_xlim(0, max(max(values) * 1.1, 1e-9))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def top_offenders(report: Mapping[str, Any], say: Say = str) -> str | None:
    _require_matplotlib()
    rows = list(reversed(report["top_offenders"]))
    if not rows:
        return None
    return _barh(
        [f"{r['item']}/{r['check']}" for r in rows],
        [float(r["downtime_seconds"]) / 60 for r in rows],
        "#4f81bd",
        say(N_("downtime (minutes)")),
        say(N_("Top offenders by downtime")),
    )


_CERT = N_("cert %(url)s")  # a certificate's bar: "cert https://web1/"


def forecasts(report: Mapping[str, Any], say: Say = str) -> str | None:
    """Days left before forecast exhaustion and certificate expiry, soonest at the top."""
    _require_matplotlib()
    entries = [(f"{f['rule']} {f['item']}", float(f["days_left"])) for f in report["forecasts"]] + [
        (say(_CERT) % {"url": c["labels"].get("url", c["item"])}, float(c["days_left"]))
        for c in report["certificates"]
    ]
    if not entries:
        return None
    entries = sorted(entries, key=lambda e: e[1])[:15][::-1]
    return _barh(
        [e[0] for e in entries],
        [max(0.0, e[1]) for e in entries],
        "#9bbb59",
        say(N_("days left")),
        say(N_("Forecast exhaustion and certificate expiry")),
    )


def all_charts(report: Mapping[str, Any], locale: str = "en") -> dict[str, str | None]:
    """Every chart of the HTML report as a data: URL by name, titled in `locale`; None for
    one with no data."""
    say = translations(locale).gettext
    return {
        "availability": availability_over_time(report, say),
        "incidents": incidents_per_week(report, say),
        "mttr": mttr_trend(report, say),
        "offenders": top_offenders(report, say),
        "forecasts": forecasts(report, say),
    }
