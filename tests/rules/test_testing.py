"""`watchd test-rules`: passing and failing rule tests, readable diffs, the value notation."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchd.rules.testing import expand_values, run_rule_tests

PACKS = Path(__file__).parent.parent.parent / "rules"

RULES = """rules:
  - name: mem
    metric: memory_used_percent
    warn: "> 80"
    for: 2m
    annotations: {summary: "{{ item }} at {{ value }}"}
"""

TEST = """rule_files: [r.yaml]
tests:
  - name: memory
    input_series:
      - metric: memory_used_percent
        labels: {item: web1, check: local}
        values: "50 90x3"
    alert_tests:
      - at: 2m
        alerts: []
      - at: 3m
        alerts:
          - labels: {alertname: mem, severity: warning, item: web1, check: local}
            annotations: {summary: "web1 at 90.0"}
"""


def write(tmp_path: Path, test: str) -> Path:
    (tmp_path / "r.yaml").write_text(RULES)
    path = tmp_path / "r.test.yaml"
    path.write_text(test)
    return path


def test_shipped_packs_pass_their_tests() -> None:
    """Every shipped rule pack has a test file and all of them pass."""
    report = run_rule_tests(sorted((PACKS / "tests").glob("*.yaml")))
    assert report.ok, report.text
    assert {case.file.name for case in report.cases} == {
        "host.test.yaml",
        "http.test.yaml",
        "network.test.yaml",
    }


def test_a_passing_test(tmp_path: Path) -> None:
    """Expected alerts that match give ok and a PASS line."""
    report = run_rule_tests([write(tmp_path, TEST)])
    assert report.ok
    assert "PASS" in report.text and "1/1 rule tests passed" in report.text


def test_a_failing_test_prints_a_diff(tmp_path: Path) -> None:
    """A wrong expectation fails with a unified diff of expected and got alerts."""
    report = run_rule_tests([write(tmp_path, TEST.replace("web1 at 90.0", "web1 at 91.0"))])
    assert not report.ok
    text = report.text
    assert "FAIL" in text and "at 3m" in text and "alerts differ" in text
    assert '-{"alertname": "mem"' in text and '"summary": "web1 at 91.0"' in text
    assert '+{"alertname": "mem"' in text and '"summary": "web1 at 90.0"' in text


def test_an_alert_expected_too_early_fails(tmp_path: Path) -> None:
    """Expecting an alert before its `for` has passed is a failure showing nothing got."""
    test = TEST.replace(
        "at: 2m\n        alerts: []", "at: 2m\n        alerts: [{labels: {alertname: mem}}]"
    )
    report = run_rule_tests([write(tmp_path, test)])
    assert not report.ok and '-{"alertname": "mem"}' in report.text


def test_a_malformed_test_file_is_an_error(tmp_path: Path) -> None:
    """Unknown fields in a test file are reported with file, line and a suggestion."""
    path = write(tmp_path, TEST.replace("input_series", "input_serie"))
    report = run_rule_tests([path])
    assert not report.ok
    assert f'{path}:4: unknown field "input_serie" (did you mean "input_series"?)' in report.text


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1+1x3", [1, 2, 3, 4]),
        ("5x2 _ 7", [5, 5, 5, None, 7]),
        ("10-2x2", [10, 8, 6]),
        ("_x1 1e3", [None, None, 1000]),
        ([1, None, 2], [1, None, 2]),
    ],
)
def test_value_notation(spec: object, expected: list[float | None]) -> None:
    """promtool's series notation expands as documented."""
    assert expand_values(spec) == expected
