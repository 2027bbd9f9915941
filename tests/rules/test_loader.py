"""The rule loader: every error message, with file, line and rule, all of them at once."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from watchd.rules import RuleError, check_rules, load_rules
from watchd.rules.model import CRITICAL, WARNING

DATA = Path(__file__).parent.parent / "data" / "rules"
PACKS = Path(__file__).parent.parent.parent / "rules"

# One fixture file per bad case; what `watchd check-config` prints after "FILE:".
EXPECTED = [
    (
        "absent_with_threshold.yaml",
        "5: rule \"no_data\": 'warn' does not apply to an 'absent' rule",
    ),
    ("bad_attempts.yaml", '5: rule "down": attempts: expected a whole number of at least 1, got 0'),
    ("bad_counter_bits.yaml", '7: rule "if_errors": over: counter_bits: expected 32 or 64, got 16'),
    (
        "bad_duration.yaml",
        "5: rule \"disk_full\": for: expected a duration like 30s, 5m, 1h30m or 7d, got '5 minutes'",
    ),
    ("bad_flap.yaml", '5: rule "down": flap: expected low <= high, got 30 > 10'),
    (
        "bad_over_fn.yaml",
        '4: rule "cpu_high": over: fn: expected one of avg, min, max, last, sum, count, rate, delta, percentile, got \'averge\' (did you mean "avg"?)',
    ),
    (
        "bad_regex.yaml",
        '4: rule "disk_full": match: label "mount": the regular expression \'(unclosed\' is not valid: missing ): (unclosed',
    ),
    (
        "bad_severity.yaml",
        "5: rule \"disk_full\": severity: expected 'warning' or 'critical', got 'page'",
    ),
    (
        "bad_template.yaml",
        '6: rule "disk_full": annotations: annotation "summary": template error: unexpected \'}\'',
    ),
    (
        "bad_threshold.yaml",
        '4: rule "disk_full": warn: expected a comparison like "> 80" or "<= 0.5", got \'more than 90\'',
    ),
    ("duplicate_key.yaml", '5: rule "disk_full": field "warn" is given twice'),
    (
        "duplicate_name.yaml",
        '5: rule "disk_full": a rule with this name is already defined at {path}:2',
    ),
    (
        "for_and_attempts.yaml",
        "6: rule \"disk_full\": use either 'for' (a duration) or 'attempts' (a count), not both",
    ),
    (
        "forecast_equality.yaml",
        "5: rule \"disk_forecast\": a forecast needs an ordering threshold (>, >=, <, <=), got '=='",
    ),
    (
        "malformed.yaml",
        "4: not valid YAML: expected <block end>, but found '<block mapping start>'",
    ),
    (
        "many_problems.yaml",
        '4: rule "a": warn: expected a comparison like "> 80" or "<= 0.5", got \'> x\'',
    ),
    ("many_problems.yaml", "5: rule \"b\": expected a non-empty string 'metric', got nothing"),
    ("many_problems.yaml", '6: rule "b": unknown field "metrc" (did you mean "metric"?)'),
    (
        "many_problems.yaml",
        "11: rule \"c\": for: expected a duration like 30s, 5m, 1h30m or 7d, got 'soon'",
    ),
    (
        "missing_metric.yaml",
        "2: rule \"disk_full\": expected a non-empty string 'metric', got nothing",
    ),
    (
        "no_condition.yaml",
        "2: rule \"disk_full\": expected a condition: 'warn', 'crit', 'threshold' or 'absent'",
    ),
    ("not_a_list.yaml", "1: expected 'rules' to be a list, got str 'disk_full'"),
    (
        "percentile_without_q.yaml",
        '4: rule "slow": over: q: expected a percentile above 0 and at most 100, got None',
    ),
    (
        "reserved_label.yaml",
        '6: rule "disk_full": labels: label "severity" is set by the rule itself and cannot be given',
    ),
    (
        "threshold_and_warn.yaml",
        "4: rule \"disk_full\": use either 'threshold' (with 'severity') or 'warn'/'crit', not both",
    ),
    (
        "unknown_field.yaml",
        '4: rule "disk_full": unknown field "treshold" (did you mean "threshold"?)',
    ),
    (
        "unknown_metric.yaml",
        '3: rule "disk_full": warning: unknown metric "disk_usd_percent" (did you mean "disk_used_percent"?)',
    ),
    (
        "runbook_missing.yaml",
        '5: rule "disk_full": runbook: cannot read {dir}/runbooks/disk.md: No such file or directory',
    ),
    (
        "runbook_not_markdown.yaml",
        '5: rule "disk_full": runbook: expected a URL (http:// or https://) or a Markdown file '
        "ending in .md",
    ),
    (
        "runbook_twice.yaml",
        "5: rule \"disk_full\": give the runbook either as 'runbook' or as the annotation "
        "'runbook_url', not both",
    ),
    ("unknown_top_level.yaml", '1: unknown top-level field "rulez" (did you mean "rules"?)'),
]


def _by_file() -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for name, text in EXPECTED:
        grouped[name].append(text)
    return grouped


@pytest.mark.parametrize("name", sorted(_by_file()))
def test_each_bad_file_reports_its_problems(name: str) -> None:
    """Each bad rule file gets exactly its FILE:LINE: rule "NAME": message lines."""
    path = DATA / name
    got = [str(problem) for problem in check_rules([path])]
    assert got == [
        f"{path}:{text.replace('{path}', str(path)).replace('{dir}', str(DATA))}"
        for text in _by_file()[name]
    ]


def test_every_fixture_file_has_an_expected_message() -> None:
    """No fixture file goes untested."""
    assert {p.name for p in DATA.glob("*.yaml")} == set(_by_file())


def test_load_raises_with_every_error_not_only_the_first() -> None:
    """load_rules raises one RuleError listing all errors of all files."""
    with pytest.raises(RuleError) as caught:
        load_rules([DATA / "many_problems.yaml", DATA / "bad_duration.yaml"])
    errors = [p for p in caught.value.problems if p.is_error]
    assert len(errors) == 5
    assert {p.rule for p in errors} == {"a", "b", "c", "disk_full"}
    assert str(errors[0]) in str(caught.value)


def test_unknown_metric_is_a_warning_and_the_rule_loads() -> None:
    """An unknown metric does not stop loading; the warning is kept on the rule set."""
    rules = load_rules([DATA / "unknown_metric.yaml"])
    assert [rule.name for rule in rules.rules] == ["disk_full"]
    assert [p.level for p in rules.warnings] == ["warning"]


def test_missing_file_is_reported() -> None:
    """A rule file that does not exist is a problem naming the file."""
    path = DATA / "does-not-exist.yaml"
    (problem,) = check_rules([path])
    assert str(problem).startswith(f"{path}: cannot read the rule file")


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    """A rule name defined in two files is an error at the second, pointing at the first."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    text = 'rules:\n  - name: x\n    metric: check_up\n    threshold: "== 0"\n'
    first.write_text(text)
    second.write_text(text)
    (problem,) = check_rules([first, second])
    assert (
        str(problem)
        == f'{second}:2: rule "x": a rule with this name is already defined at {first}:2'
    )


def test_a_rule_loads_with_its_parts(tmp_path: Path) -> None:
    """Matchers (both forms), thresholds, windows and timers load as written."""
    path = tmp_path / "r.yaml"
    path.write_text(
        """rules:
  - name: disk
    metric: disk_used_percent
    match:
      mount: "/"
      device: "~^/dev/sd"
      fstype: "!~tmpfs"
      check: "!=skip"
    warn: "> 80"
    crit: ">= 95.5"
    clear: "< 75"
    for: 1m30s
    recover_after: 2m
    labels: {team: ops}
  - name: list_form
    metric: if_in_errors_total
    match:
      - {label: ifName, op: "=~", value: "^Gi"}
    over: {window: 5m, fn: rate, counter_bits: 32}
    threshold: "> 1"
    severity: critical
    attempts: 3
"""
    )
    disk, errors = load_rules([path]).rules
    assert [(m.label, m.op, m.value) for m in disk.matchers] == [
        ("mount", "=", "/"),
        ("device", "=~", "^/dev/sd"),
        ("fstype", "!~", "tmpfs"),
        ("check", "!=", "skip"),
    ]
    assert [(lvl, str(t)) for lvl, t in disk.levels] == [(CRITICAL, ">= 95.5"), (WARNING, "> 80")]
    assert (disk.for_, disk.recover_after, disk.line) == (90.0, 120.0, 2)
    assert disk.matchers[1].matches({"device": "/dev/sda1"})
    assert not disk.matchers[2].matches({"fstype": "tmpfs"})
    assert errors.over is not None and errors.over.counter_bits == 32
    assert errors.levels[0][0] == CRITICAL and errors.attempts == 3


def test_shipped_packs_load_without_problems() -> None:
    """host, http and network packs load cleanly, with no warnings."""
    paths = sorted(PACKS.glob("*.yaml"))
    assert {p.name for p in paths} == {"host.yaml", "http.yaml", "network.yaml"}
    assert check_rules(paths) == []


def test_same_definition_same_digest(tmp_path: Path) -> None:
    """A rule's digest depends on its definition, not on where it sits in the file."""
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text('rules:\n  - {name: x, metric: check_up, threshold: "== 0"}\n')
    b.write_text('# moved\n\nrules:\n  - name: x\n    threshold: "== 0"\n    metric: check_up\n')
    assert load_rules([a]).rules[0].digest == load_rules([b]).rules[0].digest
    b.write_text('rules:\n  - {name: x, metric: check_up, threshold: "== 1"}\n')
    assert load_rules([a]).rules[0].digest != load_rules([b]).rules[0].digest
