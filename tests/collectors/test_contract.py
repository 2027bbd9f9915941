"""Collectors declare the metric names they emit; the declarations hold what is emitted.

conftest.py checks every collector run of these tests against its declaration; here the
declarations themselves, and every shipped SNMP profile evaluated without a network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import REGISTRY, local
from collectors.contract import MetricNames
from collectors.local import LocalCollector, LocalConfig
from collectors.nagios import NagiosCollector, NagiosConfig, _result
from collectors.snmp import UPTIME_OID, OidMetric, SnmpCollector, SnmpConfig
from collectors.snmp_eval import Plan, Rows
from collectors.snmp_profile import shipped, shipped_names
from collectors.snmp_rates import RateTracker
from collectors.snmp_values import Raw
from watchd.check_config import CheckOptions
from watchd.model import CheckContext

COUNTER_PROFILE = Path(__file__).parent.parent / "data" / "snmp" / "test-counter.yaml"


def test_metric_names_match_exact_names_and_open_prefixes() -> None:
    """Exact names and names under an open-ended prefix are in; others are not."""
    names = MetricNames.union(MetricNames.of("a_total"), MetricNames(prefixes=frozenset({"x_"})))
    assert "a_total" in names and "x_anything" in names
    assert "a" not in names and "b_total" not in names and "x" not in names


def test_no_collector_key_shadows_a_common_check_option() -> None:
    """A collector's own keys never reuse a common option's name (`interval`, `timeout`, ...):
    in the check's table the common option would win and the collector would get its value."""
    common = set(CheckOptions.model_fields)
    clashes = {kind: common & set(cls.Config.model_fields) for kind, cls in REGISTRY.items()}
    assert not any(clashes.values()), clashes


def test_every_kind_declares_without_a_config() -> None:
    """Each registered kind answers with no config: what it can emit as watchd ships it."""
    for kind in REGISTRY.values():
        assert kind.metric_names(None).names, kind.kind


def _poll_all(names: list[str], uptime: int, step: int) -> tuple[dict[str, Raw], dict[str, Rows]]:
    """A raw value for every scalar and column OID of the profiles (ticks for the uptime),
    counters growing with `step`."""
    profiles = [shipped(name) for name in names]
    scalars: dict[str, Raw] = {s.oid: 5 for p in profiles for s in p.scalars}
    scalars[UPTIME_OID] = uptime
    columns: dict[str, Rows] = {}
    for table in (t for p in profiles for t in p.tables):
        for column in table.columns:
            for oid in (column.oid, column.multiply_by):
                if column.label and oid == column.oid:
                    columns[oid] = {"1": b"eth0"}
                elif oid:
                    columns[oid] = {"1": 100 * step + 7}
    return scalars, columns


def test_shipped_profiles_emit_exactly_what_they_declare() -> None:
    """Two polls of every shipped profile (the second gives rates) emit every declared name
    and nothing else."""
    names = shipped_names()
    config = SnmpConfig(profiles=names)
    plan, rates = Plan([shipped(n) for n in names], [], UPTIME_OID), RateTracker()
    plan.samples(*_poll_all(names, 10_000, 1), {}, rates, 0.0)
    samples, _ = plan.samples(*_poll_all(names, 20_000, 2), {}, rates, 10.0)
    declared = SnmpCollector.metric_names(config)
    assert {s.metric for s in samples} == declared.names
    assert declared == SnmpCollector.metric_names(None)


def test_snmp_declares_its_own_oids_and_profile_files() -> None:
    """A check's own OIDs and profile files add their metric names; unused profiles do not."""
    config = SnmpConfig(
        profiles=["system"],
        profile_files=[COUNTER_PROFILE],
        oids=[OidMetric(oid="1.3.6.1.4.1.2021.11.11.0", metric="cpu_idle_percent")],
    )
    declared = SnmpCollector.metric_names(config)
    assert {"sys_uptime_seconds", "cpu_idle_percent"} <= declared.names
    assert "if_oper_status" not in declared
    assert declared.names - {"sys_uptime_seconds", "cpu_idle_percent"}  # the file's own


def test_nagios_perfdata_names_are_an_open_family() -> None:
    """Perfdata labels are the plugin's: any nagios_<label> is declared, and only that."""
    result = _result("check_x", 0, "OK | 'rta'=1ms;;; pl=0%;;; '/var'=3MB", "", 0.1)
    declared = NagiosCollector.metric_names(NagiosConfig(command=["check_x"]))
    assert {s.metric for s in result.samples} == {
        "nagios_execution_seconds",
        "nagios_rta",
        "nagios_pl",
        "nagios_var",
    }
    assert all(s.metric in declared for s in result.samples)
    assert "ping_loss_ratio" not in declared


async def test_an_undeclared_sample_fails_the_collector_tests(
    ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conftest check is live: a declaration missing an emitted name is caught."""
    monkeypatch.setitem(local._PROBE_METRICS, "memory", MetricNames.of("memory_used_percent"))
    collector = LocalCollector(LocalConfig(probe="memory"))
    with pytest.raises(AssertionError, match="memory_available_bytes"):
        await collector.collect(ctx)
