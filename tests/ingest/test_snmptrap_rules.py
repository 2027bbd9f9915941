"""Trap rules: traps to alerts, generic fire/resolve pairs, config validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchd.ingest.snmp_names import oid_of, varbind_name
from watchd.ingest.snmptrap_rules import SnmpTrapConfig, Trap, TrapMapper, TrapRule
from watchd.model import AlertStatus

ON_BATTERY, ON_LINE = "1.3.6.1.4.1.318.0.5", "1.3.6.1.4.1.318.0.9"


def _trap(oid: str, *varbinds: tuple[str, str], source: str = "10.0.0.9") -> Trap:
    return Trap(source=source, version="2c", trap_oid=oid, varbinds=varbinds, received_at=1000.0)


def test_any_pair_of_rules_fires_and_resolves() -> None:
    """A user-defined pair (UPS on battery / on line) fires and resolves like linkDown/linkUp."""
    config = SnmpTrapConfig(
        rules=[
            TrapRule(
                name="on-battery", trap_oid=ON_BATTERY, severity="critical", labels={"team": "dc"}
            ),
            TrapRule(name="on-line", trap_oid=ON_LINE, clears="on-battery"),
        ]
    )
    mapper = TrapMapper(config, {"10.0.0.9": "ups-1"})
    [fired] = mapper.alerts(_trap(ON_BATTERY))
    [resolved] = mapper.alerts(_trap(ON_LINE))
    assert fired.status is AlertStatus.FIRING and fired.labels["team"] == "dc"
    assert fired.labels["item"] == "ups-1" and fired.labels["severity"] == "critical"
    assert resolved.status is AlertStatus.RESOLVED and resolved.fingerprint == fired.fingerprint


def test_pairs_are_per_source() -> None:
    """A linkUp from one device does not resolve another device's linkDown."""
    mapper = TrapMapper(SnmpTrapConfig(), {})
    if_index = ("1.3.6.1.2.1.2.2.1.1.4", "4")
    [down] = mapper.alerts(_trap(oid_of("linkDown") or "", if_index, source="10.0.0.1"))
    [up] = mapper.alerts(_trap(oid_of("linkUp") or "", if_index, source="10.0.0.2"))
    assert down.fingerprint != up.fingerprint


def test_user_rules_win_over_shipped_ones() -> None:
    """A user rule for linkDown replaces the shipped one (first match wins)."""
    config = SnmpTrapConfig(rules=[TrapRule(name="mine", trap_oid="linkDown", severity="critical")])
    [alert] = TrapMapper(config, {}).alerts(_trap(oid_of("linkDown") or ""))
    assert alert.labels["alertname"] == "mine" and alert.labels["severity"] == "critical"


def test_summary_with_unknown_placeholder_does_not_crash() -> None:
    """A summary naming a varbind the trap lacks shows '?' for it."""
    config = SnmpTrapConfig(
        rules=[TrapRule(name="x", trap_oid="1.3.6.1.4.1.1.0.1", summary="{nope} on {source}")]
    )
    [alert] = TrapMapper(config, {}).alerts(_trap("1.3.6.1.4.1.1.0.1"))
    assert alert.annotations["summary"] == "? on 10.0.0.9"


def test_clearing_an_unknown_rule_is_a_config_error() -> None:
    """A rule that clears a rule that does not exist is rejected at load."""
    with pytest.raises(ValidationError, match='clears unknown rule "nope"'):
        SnmpTrapConfig(rules=[TrapRule(name="a", trap_oid="linkUp", clears="nope")])


def test_unknown_trap_name_is_a_config_error() -> None:
    """A trap OID given by a name watchd does not know is rejected at load."""
    with pytest.raises(ValidationError, match="known trap name"):
        TrapRule(name="a", trap_oid="upsOnBattery")


def test_varbind_names_drop_the_instance() -> None:
    """Known objects are named without their instance; unknown ones keep their OID."""
    assert varbind_name("1.3.6.1.2.1.2.2.1.8.12") == "ifOperStatus"
    assert varbind_name("1.3.6.1.2.1.1.3.0") == "sysUpTime"
    assert varbind_name("1.3.6.1.4.1.9.9.1") == "1.3.6.1.4.1.9.9.1"
