"""`watchd report` on a config file and its store: formats, output file, bad input."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from watchd import cli_report
from watchd.clock import FakeClock
from watchd.store import AvailabilitySample, Store

from .conftest import ts

CONFIG = """
[daemon]
state_dir = "state"
[[items]]
name = "web1"
[[items.checks]]
name = "http"
kind = "tcp"
port = 80
[[services]]
name = "shop"
checks = ["web1/http"]
"""


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="watchd")
    sub = parser.add_subparsers()

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("-c", "--config", type=Path)
        return cmd

    cli_report.add_commands(sub, command)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose store holds a day of samples on 2026-10-05, down 10:00–10:30."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)

    async def fill() -> None:
        store = await Store.open(f"sqlite:///{tmp_path}/state/watchd.db", clock=FakeClock())
        t = ts("2026-10-05")
        while t < ts("2026-10-06"):
            down = ts("2026-10-05T10:00") <= t < ts("2026-10-05T10:30")
            store.record_sample(AvailabilitySample("web1", "http", t, 2 if down else 0, 0.01))
            t += 60
        await store.close()

    asyncio.run(fill())
    return path


def test_report_json_for_a_month_on_stdout(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--period 2026-10 --format json prints the report with the service's 30 minutes of downtime."""
    assert run("report", "-c", str(config), "--period", "2026-10", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["period"]["from"] == "2026-10-01T00:00:00Z"
    assert report["services"][0]["downtime_seconds"] == 1800


def test_report_html_to_a_file_for_a_span(config: Path, tmp_path: Path) -> None:
    """--from/--to with --format html --output writes one HTML file with inline charts, and
    says "no data" for the charts that have none."""
    out = tmp_path / "r.html"
    code = run(
        "report",
        "-c",
        str(config),
        "--from",
        "2026-10-05",
        "--to",
        "2026-10-06",
        "--service",
        "shop",
        "--format",
        "html",
        "--output",
        str(out),
    )
    assert code == 0
    html = out.read_text()
    # Availability and the 30-minute offender are drawn; no incidents or forecasts: "no data".
    assert html.count("data:image/png;base64,") == 2
    assert "Incidents per week: no data" in html and "Forecasts and certificates: no data" in html


def test_unknown_service_and_bad_period_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown service or a malformed month is refused with exit code 2 and a sentence."""
    assert run("report", "-c", str(config), "--service", "nope") == 2
    assert "There is no service 'nope'" in capsys.readouterr().err
    assert run("report", "-c", str(config), "--period", "October") == 2
    assert "YYYY-MM" in capsys.readouterr().err


def test_report_in_the_daemons_locale_or_the_one_asked_for(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With [daemon] locale = "zh_CN" the text report is in Chinese; --locale en gives English for the same config, and --locale zh_CN a Chinese HTML page."""
    config.write_text(CONFIG.replace("[daemon]\n", '[daemon]\nlocale = "zh_CN"\n'))
    assert run("report", "-c", str(config), "--period", "2026-10") == 0
    text = capsys.readouterr().out
    assert text.startswith("可用性报告 2026-10：") and "服务 shop：" in text
    assert run("report", "-c", str(config), "--period", "2026-10", "--locale", "en") == 0
    assert capsys.readouterr().out.startswith("Availability report 2026-10: ")
    out = tmp_path / "r.html"
    argv = ["--period", "2026-10", "--format", "html", "--output", str(out)]
    assert run("report", "-c", str(config), *argv, "--locale", "zh_CN") == 0
    html = out.read_text()
    assert '<html lang="zh-CN">' in html and "每周事件数：无数据" in html
