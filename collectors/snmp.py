"""SNMP polling: scalars by GET, tables by GETBULK walks, samples from shipped or own profiles.

Config (beside the common check options):

    kind = "snmp"
    version = "2c"                      # "1", "2c" or "3"
    community = { file = "/etc/watchd/snmp-community" }   # or { env = "..." }, or "public"
    profiles = ["system", "if-mib"]
    oids = [{ oid = "1.3.6.1.4.1.2021.11.11.0", metric = "cpu_idle_percent" }]

A plain community string is accepted, for the conventional read-only "public" on lab gear;
anything worth hiding goes in a file or the environment. SNMPv3 takes `user`,
`auth_protocol`/`auth_key`, `priv_protocol`/`priv_key` (keys as SecretRef) and `context`.

Requests go through gufo-snmp (collectors/snmp_session.py: one socket per device, kept between
polls). A v3 check with a `context` is polled through pysnmp, and a refused v3 request is
explained through pysnmp (collectors/snmp_pysnmp.py): gufo-snmp can do neither.

Counter rates are computed here, between two polls of the same check: a Counter32 that went
down is a wrap unless the device uptime (`uptime_oid`, sysUpTime by default) went back too,
which means the device restarted; the first poll after a restart gives no rate, like the
first poll ever, so a restart never shows as a spike or a negative rate. A Counter64 that
goes down is taken as a reset (it does not wrap in practice; "clear counters" does that).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    BaseAuthKey,
    BasePrivKey,
    DesKey,
    KeyExpansion,
    Md5Key,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    User,
)
from pydantic import Field, model_validator

from collectors import snmp_pysnmp
from collectors.contract import MetricNames
from collectors.snmp_eval import OwnOid, Plan
from collectors.snmp_profile import Profile, load_file, shipped, shipped_names
from collectors.snmp_rates import RateTracker
from collectors.snmp_rows import RowCache
from collectors.snmp_session import Community, Endpoint, Session, SnmpError
from collectors.snmp_values import Declared
from watchd.configbase import Strict
from watchd.model import CheckContext, CheckResult, Status
from watchd.secrets import SecretError, SecretRef

AUTH_PROTOCOLS: dict[str, type[BaseAuthKey]] = {
    "MD5": Md5Key,
    "SHA": Sha1Key,
    "SHA-224": Sha224Key,
    "SHA-256": Sha256Key,
    "SHA-384": Sha384Key,
    "SHA-512": Sha512Key,
}
# net-snmp's "AES-192"/"AES-256" stretch a short localised key as Blumenthal's draft does;
# Cisco's as Reeder's ("-C"). The stretch only matters when the auth key is shorter.
PRIV_PROTOCOLS: dict[str, tuple[type[BasePrivKey], KeyExpansion]] = {
    "DES": (DesKey, KeyExpansion.Blumenthal),
    "AES": (Aes128Key, KeyExpansion.Blumenthal),
    "AES-128": (Aes128Key, KeyExpansion.Blumenthal),
    "AES-192": (Aes192Key, KeyExpansion.Blumenthal),
    "AES-256": (Aes256Key, KeyExpansion.Blumenthal),
    "AES-256-C": (Aes256Key, KeyExpansion.Cisco),
}
UPTIME_OID = "1.3.6.1.2.1.1.3.0"


class OidMetric(Strict):
    """A user's own scalar OID and the metric it becomes (`type: timeticks` reads seconds)."""

    oid: str
    metric: str
    scale: float = 1.0
    type: Declared = ""


class SnmpConfig(Strict):
    host: str = ""  # empty: the item's address
    port: int = Field(default=161, ge=1, le=65535)
    version: Literal["1", "2c", "3"] = "2c"
    community: SecretRef | str = "public"
    user: str = ""
    auth_protocol: Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA"
    auth_key: SecretRef | None = None
    priv_protocol: Literal["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-256-C"] = "AES"
    priv_key: SecretRef | None = None
    context: str = ""
    request_timeout: float = Field(default=2.0, gt=0)  # seconds per request try
    retries: int = Field(default=1, ge=0, le=10)
    max_repetitions: int = Field(default=25, ge=1, le=200)
    # Seconds between table walks; polls in between GET the rows found (collectors/snmp_rows.py).
    rewalk_interval: float = Field(default=300.0, ge=0)
    profiles: list[str] = []  # shipped profile names
    profile_files: list[Path] = []  # the user's own profiles, same YAML schema
    oids: list[OidMetric] = []
    uptime_oid: str = UPTIME_OID  # whose going back means "the device restarted"
    unreachable_status: Literal["CRITICAL", "UNKNOWN"] = "CRITICAL"

    @model_validator(mode="after")
    def _consistent(self) -> SnmpConfig:
        if self.version == "3" and not self.user:
            raise ValueError("SNMPv3 needs 'user'")
        if self.priv_key is not None and self.auth_key is None:
            raise ValueError("SNMPv3 privacy ('priv_key') needs authentication ('auth_key') too")
        if not (self.profiles or self.profile_files or self.oids):
            raise ValueError("expected at least one of 'profiles', 'profile_files' or 'oids'")
        for name in self.profiles:
            shipped(name)  # raises ProfileError (a ValueError) naming the known ones
        return self


class SnmpCollector:
    kind: ClassVar[str] = "snmp"
    Config: ClassVar[type[SnmpConfig]] = SnmpConfig

    def __init__(
        self, config: SnmpConfig, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._monotonic = monotonic
        self._profiles = _profiles(config)
        self._rates = RateTracker()
        self._session: Session | snmp_pysnmp.PysnmpSession | None = None
        self._host = ""
        self._uptime_oid = config.uptime_oid.lstrip(".")
        own = [OwnOid(o.oid.lstrip("."), o.metric, o.scale, o.type) for o in config.oids]
        self._plan = Plan(self._profiles, own, self._uptime_oid)
        self._rows = RowCache(
            self._plan.columns,
            rewalk_interval=config.rewalk_interval,
            max_repetitions=config.max_repetitions,
        )

    @classmethod
    def metric_names(cls, config: SnmpConfig | None) -> MetricNames:
        """Its profiles' metrics and its own OIDs'; without a config, every shipped profile's."""
        if config is None:
            return MetricNames(
                frozenset().union(*(shipped(n).metric_names() for n in shipped_names()))
            )
        names = frozenset(own.metric for own in config.oids)
        return MetricNames(names.union(*(p.metric_names() for p in _profiles(config))))

    def _session_for(self, host: str) -> Session | snmp_pysnmp.PysnmpSession:
        if self._session is None or self._host != host:
            cfg = self.config
            endpoint = Endpoint(host, cfg.port, cfg.request_timeout, cfg.retries)
            if self._session is not None:
                self._session.close()
            self._session = _session(cfg, endpoint)
            self._host = host
        return self._session

    async def collect(self, ctx: CheckContext) -> CheckResult:
        cfg = self.config
        host = cfg.host or ctx.address or "127.0.0.1"
        where = f"{host}:{cfg.port} (SNMP v{cfg.version})"
        try:
            session = self._session_for(host)
        except SecretError as exc:
            return CheckResult(Status.UNKNOWN, f"{where}: {exc}")
        now = self._monotonic()
        try:
            # Finish a little before the scheduler's deadline, so the answer says what happened.
            async with asyncio.timeout(max(ctx.timeout * 0.95, ctx.timeout - 0.5)):
                scalars, columns = await self._rows.read(
                    session, self._plan.scalar_oids, self._uptime_oid, now
                )
        except SnmpError as exc:
            return self._failure(where, exc)
        except TimeoutError:
            return CheckResult(
                self._unreachable(), f"{where}: the poll did not finish within {ctx.timeout:g} s"
            )
        finally:
            session.release()
        samples, info = self._plan.samples(scalars, columns, ctx.sample_labels, self._rates, now)
        parts = [f"{key}={value}" for key, value in info.items()]
        message = f"{where}: {len(samples)} samples" + (f"; {', '.join(parts)}" if parts else "")
        return CheckResult(Status.OK, message, tuple(samples), in_context=True)

    def _failure(self, where: str, exc: SnmpError) -> CheckResult:
        if exc.kind == "timeout":
            hint = (
                "wrong privacy key or the device is down"
                if self.config.version == "3"
                else "wrong community or the device is down"
            )
            return CheckResult(self._unreachable(), f"{where}: {exc.reason} ({hint})")
        if exc.kind == "auth":
            return CheckResult(
                Status.CRITICAL, f"{where}: SNMPv3 user {self.config.user!r}: {exc.reason}"
            )
        return CheckResult(Status.UNKNOWN, f"{where}: {exc.reason}")

    def _unreachable(self) -> Status:
        return Status[self.config.unreachable_status]

    async def aclose(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _profiles(config: SnmpConfig) -> list[Profile]:
    """The check's shipped profiles, then its own profile files (ProfileError if one is bad)."""
    return [shipped(name) for name in config.profiles] + [
        load_file(path) for path in config.profile_files
    ]


def _session(cfg: SnmpConfig, endpoint: Endpoint) -> Session | snmp_pysnmp.PysnmpSession:
    """The device's session: gufo-snmp, or pysnmp for a v3 context (gufo-snmp sends none)."""
    if cfg.version != "3":
        community = cfg.community
        secret = community.reveal() if isinstance(community, SecretRef) else community
        return Session(endpoint, Community(secret), version=cfg.version)
    auth_key = cfg.auth_key.reveal() if cfg.auth_key else None
    priv_key = cfg.priv_key.reveal() if cfg.priv_key else None

    def pysnmp_auth() -> object:
        return snmp_pysnmp.usm_auth(
            cfg.user,
            auth_key=auth_key,
            auth_protocol=cfg.auth_protocol,
            priv_key=priv_key,
            priv_protocol=cfg.priv_protocol,
        )

    if cfg.context:
        return snmp_pysnmp.PysnmpSession(endpoint, pysnmp_auth(), context=cfg.context)
    priv_class, expansion = PRIV_PROTOCOLS[cfg.priv_protocol]
    user = User(
        cfg.user,
        auth_key=AUTH_PROTOCOLS[cfg.auth_protocol](auth_key.encode()) if auth_key else None,
        priv_key=priv_class(priv_key.encode()) if priv_key and auth_key else None,
        key_expansion=expansion,
    )

    async def diagnose(target: str) -> str:
        return await snmp_pysnmp.diagnose(endpoint, pysnmp_auth())

    return Session(endpoint, user, version="3", diagnose=diagnose)
