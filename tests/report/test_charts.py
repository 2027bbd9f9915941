"""Report charts: Chinese text drawn with real glyphs, and no empty charts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.ft2font import FT2Font

from watchd.clock import FakeClock
from watchd.loading import report_catalog
from watchd.report.build import build_report
from watchd.report.charts import CJK_FAMILIES, all_charts, availability_limits, font_families
from watchd.report.period import Period
from watchd.report.render import render_html
from watchd.store import Store

from .conftest import NOW, RAW_CONFIG, config_of

LABEL = "支付服务可用性"


def report_of(services: list[dict[str, Any]], daily: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts of a report the charts read, with no incidents or forecasts."""
    return {
        "period": {
            "label": "2026-10",
            "timezone": "Asia/Shanghai",
            "from": "2026-10-01T00:00:00+08:00",
            "to": "2026-11-01T00:00:00+08:00",
            "elapsed_to": "2026-10-03T00:00:00+08:00",
        },
        "services": services,
        "daily": daily,
        "incidents": {
            "count": 0,
            "resolved": 0,
            "mtta_seconds": None,
            "mttr_seconds": None,
            "sla_breaches": 0,
            "weekly": [{"week": "2026-09-28", "count": 0, "mttr_seconds": None}],
            "mtta_by_acknowledger": [],
            "list": [],
        },
        "top_offenders": [],
        "forecasts": [],
        "certificates": [],
    }


def _missing_glyphs(families: list[str]) -> list[str]:
    """The "Glyph ... missing from font(s)" warnings matplotlib gives drawing LABEL ("missing
    from current font" before matplotlib 3.9, the lowest version CI runs)."""
    fig = Figure()
    FigureCanvasAgg(fig)  # the PNG renderer the report's charts use
    fig.add_subplot().set_title(LABEL, fontfamily=families)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


def test_chinese_chart_text_is_drawn_with_a_cjk_font_not_boxes() -> None:
    """Chart text falls back to an installed CJK font that has every glyph of a Chinese
    label, and drawing it gives no missing-glyph warning (DejaVu Sans alone would)."""
    families = font_families()
    assert families[0] == "DejaVu Sans" and families[1] in CJK_FAMILIES, families
    path = findfont(FontProperties(family=families[1]), fallback_to_default=False)
    font = FT2Font(path)
    assert all(font.get_char_index(ord(ch)) for ch in LABEL)
    assert _missing_glyphs(list(families)) == []
    assert _missing_glyphs(["DejaVu Sans"]), "the control: DejaVu Sans has no Chinese glyphs"


def test_a_service_with_a_chinese_name_gets_its_chart() -> None:
    """The availability chart of a service named in Chinese is drawn with no missing glyph."""
    service = {
        "name": LABEL,
        "objective_percent": 99.9,
        "daily": [{"date": "2026-10-01", "availability_percent": 99.5}],
    }
    report = report_of([service], service["daily"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts = all_charts(report)
    assert charts["availability"] is not None
    assert not [w for w in caught if "missing from" in str(w.message)]


async def test_charts_without_data_are_not_drawn_and_the_page_says_no_data(
    tmp_path: Path,
) -> None:
    """A month of a service with no samples, incidents or forecasts: no chart is drawn, and
    the HTML says "no data" for each instead of an empty frame."""
    store = await Store.open(f"sqlite:///{tmp_path}/empty.db", clock=FakeClock(NOW))
    try:
        report = await build_report(
            store.engine,
            report_catalog(config_of(RAW_CONFIG)),
            Period.month("2026-10"),
            now=NOW,
        )
    finally:
        await store.close()
    assert all_charts(report) == dict.fromkeys(
        ("availability", "incidents", "mttr", "offenders", "forecasts")
    )
    html = render_html(report)
    assert "<img" not in html
    assert html.count('class="nodata"') == 6  # five charts and the empty outage list


def test_a_month_at_100_percent_is_not_drawn_around_100_plus_minus_0_04() -> None:
    """Every day at 100 % with a 99.9 % objective: the axis runs from under the objective to
    just over 100 %; a bad day widens it to show that day."""
    low, high = availability_limits([100.0, 100.0, 99.9])
    assert 99.8 <= low < 99.9 and 100 < high <= 100.01
    low, high = availability_limits([100.0, 97.0, 99.9])
    assert 96.5 < low < 97.0 and 100 < high < 100.2
    service = {
        "name": "shop",
        "objective_percent": 99.9,
        "daily": [{"date": f"2026-10-0{d}", "availability_percent": 100.0} for d in (1, 2)],
    }
    assert all_charts(report_of([service], service["daily"]))["availability"] is not None
