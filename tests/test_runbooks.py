"""Runbooks named by rules and checks: validated at load with file and key, linked as the
runbook_url annotation of their alerts, and listed for the daemon to serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchd.checks import CheckState
from watchd.config import parse_config
from watchd.configbase import ConfigError
from watchd.loading import build_setup
from watchd.model import Status
from watchd.results import check_alert
from watchd.rules.testing import run_rule_tests

RULES = """rules:
  - name: DiskFull
    metric: disk_used_percent
    warn: "> 90"
    runbook: runbooks/disk.md
  - name: MemoryHigh
    metric: memory_used_percent
    warn: "> 90"
    runbook: https://wiki.example/memory
"""


def _site(tmp_path: Path, runbook: str = "runbooks/web.md", **notify: object) -> Path:
    """A config directory: rules/ with a Markdown runbook, runbooks/web.md beside the config."""
    (tmp_path / "rules" / "runbooks").mkdir(parents=True)
    (tmp_path / "rules" / "runbooks" / "disk.md").write_text("# Disk full\n")
    (tmp_path / "rules" / "site.yaml").write_text(RULES)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "web.md").write_text("# Web down\n")
    return tmp_path / "config.toml"


def _raw(runbook: str, **extra: object) -> dict[str, object]:
    check = {"name": "http", "kind": "tcp", "port": 80, "runbook": runbook}
    return {
        "rules": {"files": ["rules/*.yaml"]},
        "items": [{"name": "web1", "address": "127.0.0.1", "checks": [check]}],
        **extra,
    }


def test_markdown_runbooks_become_links_to_the_daemon_and_are_listed_to_serve(
    tmp_path: Path,
) -> None:
    """A check's and a rule's Markdown runbook reach their alerts as runbook_url links under notify.ack_links.base_url, and the daemon knows which files to serve."""
    path = _site(tmp_path)
    (tmp_path / "ack.key").write_text("k" * 32)
    raw = _raw(
        "runbooks/web.md",
        notify={"ack_links": {"base_url": "https://watchd.example/", "key": {"file": "ack.key"}}},
    )
    setup = build_setup(parse_config(raw, path), path)
    assert setup.runbooks == {
        "runbooks/web": (tmp_path / "runbooks" / "web.md").resolve(),
        "rules/runbooks/disk": (tmp_path / "rules" / "runbooks" / "disk.md").resolve(),
    }
    ((check, _),) = setup.collectors
    alert = check_alert(check, Status.CRITICAL, True, CheckState(), 100.0)
    assert alert.annotations["runbook_url"] == "https://watchd.example/runbooks/runbooks/web"
    rules = setup.rules.by_name()
    assert rules["DiskFull"].annotation_sources["runbook_url"] == (
        "https://watchd.example/runbooks/rules/runbooks/disk"
    )
    assert rules["MemoryHigh"].annotation_sources["runbook_url"] == "https://wiki.example/memory"


def test_without_ack_links_runbooks_link_to_the_dashboard_address(tmp_path: Path) -> None:
    """With no notify.ack_links, a Markdown runbook links to the dashboard's address; a URL runbook is kept as written."""
    path = _site(tmp_path)
    setup = build_setup(parse_config(_raw("https://wiki.example/web"), path), path)
    ((check, _),) = setup.collectors
    assert check.runbook_url == "https://wiki.example/web"
    assert setup.rules.by_name()["DiskFull"].annotation_sources["runbook_url"] == (
        "http://127.0.0.1:9797/runbooks/rules/runbooks/disk"
    )


@pytest.mark.parametrize(
    ("runbook", "message"),
    [
        ("runbooks/gone.md", "cannot read {dir}/runbooks/gone.md: No such file or directory"),
        (
            "runbooks/web.txt",
            "expected a URL (http:// or https://) or a Markdown file ending in .md",
        ),
        ("ftp://files.example/web.md", "expected an http:// or https:// URL, got a ftp:// one"),
    ],
)
def test_a_check_runbook_that_cannot_be_used_is_a_config_error_naming_the_key(
    tmp_path: Path, runbook: str, message: str
) -> None:
    """check-config names the check's runbook key and why the file cannot be used, so a dead runbook link is found before an outage."""
    path = _site(tmp_path)
    with pytest.raises(ConfigError) as caught:
        build_setup(parse_config(_raw(runbook), path), path)
    assert [str(p) for p in caught.value.problems] == [
        f'items("web1").checks("http").runbook: {message.format(dir=tmp_path)}'
    ]


def test_test_rules_sees_a_markdown_runbook_linked_from_the_rule_files_directory(
    tmp_path: Path,
) -> None:
    """`watchd test-rules` shows a Markdown runbook as /runbooks/<path from the rule file's directory>, so rule tests can pin it."""
    _site(tmp_path)
    test = tmp_path / "rules" / "site.test.yaml"
    test.write_text(
        """rule_files: [site.yaml]
tests:
  - name: disk
    input_series:
      - metric: disk_used_percent
        labels: {item: db1, check: local}
        values: "95"
    alert_tests:
      - at: 0m
        alerts:
          - labels: {alertname: DiskFull, severity: warning, item: db1, check: local}
            annotations: {runbook_url: /runbooks/runbooks/disk}
"""
    )
    report = run_rule_tests([test])
    assert report.ok, report.text
