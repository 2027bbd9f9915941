"""Reports: figures, incidents, maintenance candidates, and the text/JSON/CSV/HTML outputs."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from watchd.i18n import translations
from watchd.report import maintenance
from watchd.report.build import build_report
from watchd.report.period import Period, PeriodError
from watchd.report.render import CSV_COLUMNS, render

from .conftest import NOW, World


async def test_the_month_report_has_service_check_and_incident_figures(world: World) -> None:
    """October so far: web1 was down one hour, db1 unmonitored before the 16th; one incident with MTTA 15 min and MTTR 1 h."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    checks = {(c["item"], c["check"]): c for c in report["checks"]}
    web = checks[("web1", "http")]
    assert web["downtime_seconds"] == 3600
    assert web["failures"] == 1
    assert web["mttr_seconds"] == 3600
    elapsed = NOW - Period.month("2026-10").start
    assert web["availability_percent"] == pytest.approx(100 * (1 - 3600 / elapsed), abs=1e-3)
    db = checks[("db1", "tcp")]
    assert db["seconds"]["unmonitored"] == 15 * 86400
    assert db["availability_percent"] == 100.0
    shop = next(s for s in report["services"] if s["name"] == "shop")
    assert shop["checks"] == ["db1/tcp", "web1/http"]
    assert shop["incidents"] == {
        "count": 1,
        "resolved": 1,
        "acknowledged": 1,
        "mttr_seconds": 3600.0,
        "mtta_seconds": 900.0,
        "sla_breaches": 0,
    }
    budget = shop["error_budget"]
    assert budget["budget_seconds"] == pytest.approx(0.005 * 31 * 86400)
    # "all" (the default rule): up only while both checks are up, so up since db1 came on
    # Oct 16 (108 h), down the outage hour: 108/109, under the 99.5 % objective.
    assert shop["availability_rule"] == "all"
    assert shop["availability_percent"] == pytest.approx(100 * 108 / 109, abs=1e-4)
    assert budget["objective_met"] is False
    web_service = next(s for s in report["services"] if s["name"] == "web")
    assert web_service["checks"] == ["web1/http"]  # selected by the role="web" matcher
    assert report["top_offenders"][0] == {
        "item": "web1",
        "check": "http",
        "downtime_seconds": 3600.0,
    }
    assert [w["count"] for w in report["incidents"]["weekly"]][1] == 1  # the week of Oct 5


async def test_mtta_is_given_per_person_who_acknowledged(world: World) -> None:
    """The report's incidents give MTTA per acknowledger (alice: one incident, 15 min), in JSON, text and HTML."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    assert report["incidents"]["mtta_by_acknowledger"] == [
        {"by": "alice", "acknowledged": 1, "mtta_seconds": 900.0}
    ]
    assert "acknowledged by alice: 1, MTTA 15m" in render(report, "text")
    assert "<td>alice</td><td>1</td>" in render(report, "html")


async def test_maintenance_candidates_rank_dated_risks_then_trends(world: World) -> None:
    """The disk forecast (3 days) ranks before the certificate (11 days), then web1's rising latency."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    kinds = [(c["kind"], c["item"]) for c in report["maintenance_candidates"]]
    assert kinds[:3] == [("forecast", "db1"), ("certificate", "web1"), ("latency_trend", "web1")]
    forecast, cert, latency = report["maintenance_candidates"][:3]
    assert forecast["reason"] == (
        'HostDiskFullForecast forecasts {item="db1", mount="/var"} reaching its threshold on '
        "2026-10-23T12:00:00Z (in 3.0 days)"
    )
    assert (forecast["rule"], forecast["predicted"]) == (
        "HostDiskFullForecast",
        "2026-10-23T12:00:00Z",
    )
    assert forecast["labels"] == {"item": "db1", "mount": "/var"}
    assert cert["reason"] == (
        'certificate {item="web1", url="https://web1/"} expires on 2026-10-31T12:00:00Z '
        "(in 11.0 days)"
    )
    assert (cert["expires"], cert["days_left"]) == ("2026-10-31T12:00:00Z", 11.0)
    # 50 ms on Oct 1, 10 ms more each day: +131 % of the 20 days' mean.
    assert latency["reason"].startswith("latency rising 10.0 ms/day (+131% over 20 days, t=")
    assert latency["slope_ms_per_day"] == pytest.approx(10.0)
    assert (round(latency["growth_pct"]), latency["days"]) == (131, 20)
    assert latency["t"] > 2


async def test_one_service_report_covers_only_its_checks(world: World) -> None:
    """--service web reports web1/http alone."""
    report = await build_report(
        world.store.engine, world.catalog, Period.month("2026-10"), now=NOW, service="web"
    )
    assert [s["name"] for s in report["services"]] == ["web"]
    assert [(c["item"], c["check"]) for c in report["checks"]] == [("web1", "http")]
    assert report["forecasts"] == []  # the db1 forecast belongs to another service


async def test_json_and_csv_outputs_have_the_documented_shape(world: World) -> None:
    """JSON parses back with its top-level keys; CSV has the documented columns, one row per service and check."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    parsed = json.loads(render(report, "json"))
    assert {
        "period",
        "services",
        "checks",
        "items",
        "incidents",
        "daily",
        "top_offenders",
        "forecasts",
        "certificates",
        "maintenance_candidates",
    } <= set(parsed)
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["scope"], r["name"]) for r in rows] == [
        ("service", "shop"),
        ("service", "web"),
        ("check", "db1/tcp"),
        ("check", "web1/http"),
    ]
    assert float(rows[3]["downtime_seconds"]) == 3600


async def test_html_is_one_file_with_inline_chart_images(world: World) -> None:
    """The HTML report embeds its five charts as data: PNGs and links to nothing outside."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    html = render(report, "html")
    assert html.count('<img alt="') == 5
    assert html.count('src="data:image/png;base64,') == 5
    assert "http://" not in html and "<script" not in html
    text = render(report, "text")
    assert "Service shop:" in text and "Maintenance candidates:" in text


async def test_a_shanghai_report_covers_the_local_month_with_local_days_and_times(
    world: World,
) -> None:
    """With [daemon] timezone Asia/Shanghai, October starts at Sep 30 16:00 UTC (no samples
    yet: 8 h unmonitored), days and weeks are local, and times carry +08:00 to the second."""
    catalog = dataclasses.replace(world.catalog, timezone="Asia/Shanghai")
    period = Period.month("2026-10", "Asia/Shanghai")
    report = await build_report(world.store.engine, catalog, period, now=NOW)
    assert report["period"]["from"] == "2026-10-01T00:00:00+08:00"
    assert report["period"]["timezone"] == "Asia/Shanghai"
    assert report["generated_at"] == "2026-10-20T20:00:00+08:00"
    web = next(c for c in report["checks"] if c["check"] == "http")
    assert web["seconds"]["unmonitored"] == 8 * 3600
    assert web["downtime_seconds"] == 3600
    assert report["daily"][0]["date"] == "2026-10-01"
    assert len(report["daily"]) == 20  # Oct 1 .. Oct 20 (local), NOW is Oct 20 20:00 there
    assert report["incidents"]["list"][0]["opened_at"] == "2026-10-10T18:00:00+08:00"
    assert report["incidents"]["weekly"][0]["week"] == "2026-09-28"


async def test_the_review_report_lists_outages_and_judges_each_service(world: World) -> None:
    """Each incident is an outage with its start and duration to the second and its cause (the
    root alert); each service gets one sentence on its objective, in text and HTML."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    (outage,) = report["incidents"]["list"]
    assert (outage["opened_at"], outage["resolved_at"]) == (
        "2026-10-10T10:00:00Z",
        "2026-10-10T11:00:00Z",
    )
    assert outage["cause"] == "HttpDown"  # the root alert's name: it has no summary
    html, text = render(report, "html"), render(report, "text")
    sentence = "shop missed its 99.5% objective: 99.083% available, 1h down"
    assert sentence in html and sentence in text
    assert "web missed its 99.9% objective: 99.786% available, 1h down" in html
    assert (
        "<tr><td>2026-10-10 10:00:00</td><td>1h</td><td>web1</td><td>critical</td>"
        '<td class="wrap">HttpDown</td></tr>'
    ) in html
    assert "times in UTC" in html


async def test_the_review_report_in_chinese_judges_each_service_in_chinese(world: World) -> None:
    """In zh_CN the HTML and text reports say each service's verdict in Chinese, with Chinese headings and table heads and none of the English ones left; the figures are the same."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    html, text = render(report, "html", "zh_CN"), render(report, "text", "zh_CN")
    sentence = "shop 未达成 99.5% 的目标：可用率 99.083%，中断 1h"
    assert sentence in html and sentence in text
    assert '<html lang="zh-CN">' in html and "<h2>中断与事件</h2>" in html
    assert "<th>可用率</th>" in html and "<td>严重</td>" in html and "时区 UTC" in html
    english = ("Availability report", "Summary", "Outages and incidents", "Downtime", "missed")
    assert not [w for w in english if w in html or w in text]
    assert text.startswith("可用性报告 2026-10：")


async def test_a_chinese_report_gives_maintenance_reasons_in_chinese(world: World) -> None:
    """In zh_CN the maintenance candidates' reasons (the disk forecast, the certificate, web1's
    rising latency) and kinds are Chinese in text and HTML, with the same figures; the JSON
    keeps the English `reason` and `kind` for scripts."""
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    html, text = render(report, "html", "zh_CN"), render(report, "text", "zh_CN")
    forecast = (
        'HostDiskFullForecast 预测 {item="db1", mount="/var"} 将于 2026-10-23T12:00:00Z '
        "达到阈值（3.0 天后）"
    )
    cert = '证书 {item="web1", url="https://web1/"} 将于 2026-10-31T12:00:00Z 到期（11.0 天后）'
    latency = "延迟每天增加 10.0 ms（20 天内增长 131%，t="
    assert forecast in text and cert in text and latency in text
    quoted = (forecast.replace('"', "&#34;"), cert.replace('"', "&#34;"), latency)
    assert all(sentence in html for sentence in quoted), quoted
    assert "<td>预测</td>" in html and "<td>证书</td>" in html and "<td>延迟趋势</td>" in html
    english = ("forecasts", "reaching its threshold", "expires on", "certificate", "rising")
    assert not [w for w in english if w in html or w in text]
    assert not [w for w in ("ms/day", " days)", " days, ") if w in html or w in text]
    candidates = json.loads(render(report, "json"))["maintenance_candidates"]
    assert "reaching its threshold" in candidates[0]["reason"]
    assert candidates[2]["reason"].startswith("latency rising 10.0 ms/day")
    assert [c["kind"] for c in candidates] == ["forecast", "certificate", "latency_trend"]


async def test_a_period_is_compared_with_the_one_before(world: World) -> None:
    """Oct 15-20 against Oct 10-15 (the outage): the web service gained 1.389 points of
    availability and had one incident fewer; October against an empty September has no
    availability change to show."""
    span = Period.between("2026-10-15", "2026-10-20")
    report = await build_report(world.store.engine, world.catalog, span, now=NOW)
    web = next(s for s in report["services"] if s["name"] == "web")
    assert web["previous"] == {
        "availability_percent": pytest.approx(100 * (1 - 3600 / (5 * 86400)), abs=1e-4),
        "incidents": 1,
        "availability_delta": pytest.approx(100 * 3600 / (5 * 86400), abs=1e-3),
        "incidents_delta": -1,
    }
    assert report["previous"]["period"]["label"] == "before 2026-10-15..2026-10-20"
    assert report["previous"]["incidents_delta"] == -1
    assert ">+0.8333</td>" in render(report, "html")
    month = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    shop = next(s for s in month["services"] if s["name"] == "shop")
    assert shop["previous"]["availability_delta"] is None
    assert month["previous"]["period"]["label"] == "2026-09"


def test_a_bad_period_names_what_was_expected() -> None:
    """A month like 2026-13 is refused with the expected form."""
    with pytest.raises(PeriodError, match="YYYY-MM"):
        Period.month("2026-13")


def test_a_failure_trend_on_a_perfect_line_keeps_its_reason_and_valid_json() -> None:
    """Failures 1, 2, … 10 a day fit a line exactly (an infinite t): the candidate says
    "t=inf" in English and "持续 10 天" in Chinese, and its JSON `t` is null, not Infinity."""
    daily = {("web1", "http"): [(float(d), None, d + 1) for d in range(10)]}
    (trend,) = maintenance.candidates(
        forecast_list=[], cert_list=[], cert_warn_days=30, daily=daily
    )
    assert trend["reason"] == "failures rising 1.00/day over 10 days (t=inf)"
    assert (trend["slope_per_day"], trend["days"], trend["t"]) == (pytest.approx(1.0), 10, None)
    json.loads(json.dumps(trend, allow_nan=False))
    chinese = maintenance.reason(trend, translations("zh_CN").gettext)
    assert chinese == "故障次数每天增加 1.00 次，持续 10 天（t=inf）"
