"""The "unknown metric" warning reads what collectors and check runs declare they emit."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.snmp import OidMetric, SnmpConfig
from watchd.checks import CHECK_METRICS, check_samples
from watchd.loading import load_setup
from watchd.model import Status
from watchd.rules import check_rules, known_metrics

# Names the old hand-written list lacked (it missed 18 plus most SNMP-profile metrics), and a
# Nagios perfdata metric, whose names are the plugin's.
FORMERLY_MISSING = (
    "swap_used_bytes",
    "net_recv_errors_total",
    "ping_loss_ratio",
    "check_duration_seconds",
    "if_in_octets_per_second",
    "ucd_load_average",
    "nagios_rta",
)


def _rules(tmp_path: Path, *metrics: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        + "".join(
            f'  - name: r{i}\n    metric: {metric}\n    threshold: "> 1"\n'
            for i, metric in enumerate(metrics)
        )
    )
    return path


@pytest.mark.parametrize("metric", FORMERLY_MISSING)
def test_a_rule_on_an_emitted_metric_draws_no_warning(tmp_path: Path, metric: str) -> None:
    """Metrics the collectors and check runs emit are known, formerly missing ones included."""
    assert check_rules([_rules(tmp_path, metric)]) == []


def test_a_truly_unknown_metric_still_warns(tmp_path: Path) -> None:
    """A name nothing emits warns, with the closest declared name as a hint; the open Nagios
    family covers nagios_<label>, not a bare "nagios"."""
    problems = check_rules([_rules(tmp_path, "swap_usd_bytes", "nagios")])
    assert [(p.level, p.message) for p in problems] == [
        ("warning", 'unknown metric "swap_usd_bytes" (did you mean "swap_used_bytes"?)'),
        ("warning", 'unknown metric "nagios"'),
    ]


def test_a_checks_own_snmp_oids_are_known_only_where_configured(tmp_path: Path) -> None:
    """An SNMP check's own OID metric is known once the check is configured."""
    path = _rules(tmp_path, "cpu_idle_percent")
    (problem,) = check_rules([path])
    assert problem.message.startswith('unknown metric "cpu_idle_percent"')
    own = SnmpConfig(oids=[OidMetric(oid="1.3.6.1.4.1.2021.11.11.0", metric="cpu_idle_percent")])
    assert check_rules([path], known_metrics=known_metrics([("snmp", own)])) == []


def test_check_config_knows_the_configured_checks_metrics(tmp_path: Path) -> None:
    """load_setup (start-up, reload, check-config) passes the configured checks' names on."""
    _rules(tmp_path, "cpu_idle_percent", "cpu_stolen_percent")
    config = tmp_path / "config.toml"
    config.write_text(
        '[api]\nenabled = false\n[rules]\nfiles = ["rules.yaml"]\n'
        '[[items]]\nname = "sw1"\naddress = "127.0.0.1"\n'
        '[[items.checks]]\nname = "snmp"\nkind = "snmp"\n'
        'oids = [{ oid = "1.3.6.1.4.1.2021.11.11.0", metric = "cpu_idle_percent" }]\n'
    )
    warnings = load_setup(config).warnings
    assert len(warnings) == 1 and 'unknown metric "cpu_stolen_percent"' in warnings[0]


def test_check_metrics_are_what_each_run_emits() -> None:
    """Every check run's own samples are declared in CHECK_METRICS."""
    assert {s.metric for s in check_samples(Status.OK, 0.1, {}, 0.0)} == CHECK_METRICS
