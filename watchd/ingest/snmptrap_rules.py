"""SNMP trap config and trap rules: which trap becomes which alert, and which trap resolves it.

A rule matches a trap OID (numeric or a known name such as "linkDown"). The alert it fires is
identified by the rule's name, the trap's source address, the configuration item at that
address and the values of the rule's `key` varbinds (ifIndex for interface traps). A rule
with `clears = "link-down"` resolves, instead of firing, the alert of rule "link-down" with the
same identity: that is how linkUp resolves linkDown, and any other pair works the same way.

A trap no rule matches is kept, never dropped: it becomes an info alert "SnmpTrap" that
expires by itself after `unknown_ttl` (its ends_at), like a rule with a `ttl`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.ingest.snmp_names import oid_of, varbind_name
from watchd.listen import ListenAddress, listen_host, listen_port
from watchd.model import Alert, AlertStatus
from watchd.secrets import SecretRef

Severity = Literal["info", "warning", "critical"]


class TrapRule(Strict):
    """One trap rule; `summary` may name varbinds as {ifName}, {source}, {trap}."""

    name: str = Field(min_length=1)
    trap_oid: str
    alertname: str = ""  # empty: the rule name
    severity: Severity = "warning"
    key: list[str] = []  # varbind names that tell alerts of this rule apart
    clears: str = ""  # the name of the rule whose alert this trap resolves
    ttl: Duration | None = None  # the alert ends by itself after this long
    labels: dict[str, str] = {}
    summary: str = ""

    @field_validator("trap_oid")
    @classmethod
    def _known_oid(cls, value: str) -> str:
        oid = oid_of(value)
        if oid is None:
            raise ValueError(f"expected a numeric OID or a known trap name, got {value!r}")
        return oid


class TrapUser(Strict):
    """An SNMPv3 user allowed to send traps and informs.

    A v3 trap is authenticated with the sender's engine ID, so traps need the sender's
    `engine_ids` (hex, as in snmptrapd's `createUser -e`); informs work without them.
    """

    user: str = Field(min_length=1)
    auth_protocol: Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA"
    auth_key: SecretRef | None = None
    priv_protocol: Literal["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-256-C"] = "AES"
    priv_key: SecretRef | None = None
    engine_ids: list[str] = []

    @field_validator("engine_ids")
    @classmethod
    def _hex(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            text = value.removeprefix("0x").removeprefix("0X")
            try:
                bytes.fromhex(text)
            except ValueError:
                raise ValueError(f"expected an engine ID in hex, got {value!r}") from None
            cleaned.append(text)
        return cleaned


DEFAULT_RULES: tuple[TrapRule, ...] = (
    TrapRule(
        name="link-down",
        alertname="SnmpLinkDown",
        trap_oid="linkDown",
        severity="warning",
        key=["ifIndex"],
        summary="interface {ifName} (ifIndex {ifIndex}) on {source} went down",
    ),
    TrapRule(name="link-up", trap_oid="linkUp", key=["ifIndex"], clears="link-down"),
    TrapRule(
        name="cold-start",
        alertname="SnmpColdStart",
        trap_oid="coldStart",
        severity="info",
        ttl=3600.0,
        summary="{source} restarted (coldStart)",
    ),
    TrapRule(
        name="warm-start",
        alertname="SnmpWarmStart",
        trap_oid="warmStart",
        severity="info",
        ttl=3600.0,
        summary="{source} reinitialised its agent (warmStart)",
    ),
    TrapRule(
        name="authentication-failure",
        alertname="SnmpAuthenticationFailure",
        trap_oid="authenticationFailure",
        severity="warning",
        ttl=3600.0,
        summary="{source} received an SNMP request with bad credentials",
    ),
)


class SnmpTrapConfig(Strict):
    """`[snmp_traps]`: the trap receiver. Off by default; port 162 needs CAP_NET_BIND_SERVICE."""

    enabled: bool = False
    listen: ListenAddress = "0.0.0.0:162"
    communities: list[SecretRef | str] = []  # v1/v2c traps with another community are dropped
    users: list[TrapUser] = []
    rules: list[TrapRule] = []  # checked before the shipped rules
    default_rules: bool = True  # linkDown/linkUp, coldStart, warmStart, authenticationFailure
    unknown_ttl: Duration = 300.0

    @model_validator(mode="after")
    def _pairs_exist(self) -> SnmpTrapConfig:
        names = {rule.name for rule in self.effective_rules()}
        for rule in self.rules:
            if rule.clears and rule.clears not in names:
                raise ValueError(f'rule "{rule.name}" clears unknown rule "{rule.clears}"')
        return self

    @property
    def host(self) -> str:
        return listen_host(self.listen)

    @property
    def port(self) -> int:
        return listen_port(self.listen)

    def effective_rules(self) -> list[TrapRule]:
        """The user's rules first, then the shipped ones (the first match wins)."""
        return [*self.rules, *(DEFAULT_RULES if self.default_rules else ())]


@dataclass(frozen=True, slots=True)
class Trap:
    """A received notification, v1 already translated to v2 form by pysnmp (RFC 3584)."""

    source: str  # the sender's IP address
    version: str  # "1", "2c" or "3"
    trap_oid: str
    varbinds: tuple[tuple[str, str], ...]  # (numeric OID, value text), snmpTrapOID excluded
    received_at: float
    enterprise: str = ""  # v1 only


class TrapMapper:
    """Maps traps to alerts with the configured rules; `items_by_address` names the item."""

    def __init__(self, config: SnmpTrapConfig, items_by_address: Mapping[str, str]) -> None:
        self._rules = config.effective_rules()
        self._by_name = {rule.name: rule for rule in self._rules}
        self._unknown_ttl = config.unknown_ttl
        self._items = items_by_address

    def alerts(self, trap: Trap) -> tuple[Alert, ...]:
        """The alert a trap fires or resolves; an info alert when no rule matches."""
        values = _named_values(trap.varbinds)
        rule = next((r for r in self._rules if r.trap_oid == trap.trap_oid), None)
        if rule is None:
            return (self._unknown(trap, values),)
        if rule.clears:
            fired = self._by_name[rule.clears]
            return (
                Alert(
                    labels=self._identity(fired, trap, values),
                    status=AlertStatus.RESOLVED,
                    starts_at=trap.received_at,
                    ends_at=trap.received_at,
                    annotations=self._annotations(rule, trap, values),
                    source="snmptrap",
                ),
            )
        return (
            Alert(
                labels=self._identity(rule, trap, values),
                status=AlertStatus.FIRING,
                starts_at=trap.received_at,
                ends_at=trap.received_at + rule.ttl if rule.ttl is not None else None,
                annotations=self._annotations(rule, trap, values),
                source="snmptrap",
            ),
        )

    def _identity(self, rule: TrapRule, trap: Trap, values: Mapping[str, str]) -> dict[str, str]:
        labels = {
            "alertname": rule.alertname or rule.name,
            "severity": rule.severity,
            "source": trap.source,
            "trap_oid": rule.trap_oid,
            **rule.labels,
            **{name: values.get(name, "") for name in rule.key},
        }
        item = self._items.get(trap.source)
        if item:
            labels["item"] = item
        if trap.enterprise:
            labels["enterprise"] = trap.enterprise
        return labels

    def _annotations(self, rule: TrapRule, trap: Trap, values: Mapping[str, str]) -> dict[str, str]:
        annotations = {f"varbind_{name}": value for name, value in values.items()}
        context = {"source": trap.source, "trap": varbind_name(trap.trap_oid), **values}
        if rule.summary:
            annotations["summary"] = _fill(rule.summary, context)
        annotations["snmp_version"] = trap.version
        return annotations

    def _unknown(self, trap: Trap, values: Mapping[str, str]) -> Alert:
        labels = {
            "alertname": "SnmpTrap",
            "severity": "info",
            "source": trap.source,
            "trap_oid": trap.trap_oid,
            "trap": varbind_name(trap.trap_oid),
        }
        item = self._items.get(trap.source)
        if item:
            labels["item"] = item
        if trap.enterprise:
            labels["enterprise"] = trap.enterprise
        annotations = {f"varbind_{name}": value for name, value in values.items()}
        annotations["summary"] = f"trap {labels['trap']} from {trap.source}"
        annotations["snmp_version"] = trap.version
        return Alert(
            labels=labels,
            status=AlertStatus.FIRING,
            starts_at=trap.received_at,
            ends_at=trap.received_at + self._unknown_ttl,
            annotations=annotations,
            source="snmptrap",
        )


def _named_values(varbinds: Sequence[tuple[str, str]]) -> dict[str, str]:
    return {varbind_name(oid): value for oid, value in varbinds}


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(template: str, values: Mapping[str, str]) -> str:
    try:
        return template.format_map(_Missing(values))
    except (ValueError, IndexError, AttributeError):
        return template  # a malformed template is shown as written, not a crash
