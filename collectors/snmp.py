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

from pydantic import Field, model_validator
from pysnmp.hlapi.v3arch.asyncio import (
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)

from collectors.contract import MetricNames
from collectors.snmp_eval import PollData, evaluate
from collectors.snmp_profile import Profile, load_file, shipped, shipped_names
from collectors.snmp_rates import RateTracker
from collectors.snmp_session import Endpoint, Session, SnmpError, community_auth, usm_auth
from watchd.configbase import Strict
from watchd.model import CheckContext, CheckResult, Sample, Status
from watchd.secrets import SecretError, SecretRef

AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA-224": usmHMAC128SHA224AuthProtocol,
    "SHA-256": usmHMAC192SHA256AuthProtocol,
    "SHA-384": usmHMAC256SHA384AuthProtocol,
    "SHA-512": usmHMAC384SHA512AuthProtocol,
}
# net-snmp's "AES-256" localises keys as Blumenthal's draft does; Cisco's as Reeder's ("-C").
PRIV_PROTOCOLS = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES-128": usmAesCfb128Protocol,
    "AES-192": usmAesBlumenthalCfb192Protocol,
    "AES-256": usmAesBlumenthalCfb256Protocol,
    "AES-256-C": usmAesCfb256Protocol,
}
UPTIME_OID = "1.3.6.1.2.1.1.3.0"


class OidMetric(Strict):
    """A user's own scalar OID and the metric it becomes."""

    oid: str
    metric: str
    scale: float = 1.0


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
        self._session: Session | None = None
        self._host = ""

    @classmethod
    def metric_names(cls, config: SnmpConfig | None) -> MetricNames:
        """Its profiles' metrics and its own OIDs'; without a config, every shipped profile's."""
        if config is None:
            return MetricNames(
                frozenset().union(*(shipped(n).metric_names() for n in shipped_names()))
            )
        names = frozenset(own.metric for own in config.oids)
        return MetricNames(names.union(*(p.metric_names() for p in _profiles(config))))

    def _session_for(self, host: str) -> Session:
        if self._session is None or self._host != host:
            cfg = self.config
            endpoint = Endpoint(host, cfg.port, cfg.request_timeout, cfg.retries)
            if cfg.version == "3":
                auth = usm_auth(
                    cfg.user,
                    auth_key=cfg.auth_key.reveal() if cfg.auth_key else None,
                    auth_protocol=AUTH_PROTOCOLS[cfg.auth_protocol],
                    priv_key=cfg.priv_key.reveal() if cfg.priv_key else None,
                    priv_protocol=PRIV_PROTOCOLS[cfg.priv_protocol],
                )
            else:
                community = cfg.community
                secret = community.reveal() if isinstance(community, SecretRef) else community
                auth = community_auth(secret, cfg.version)
            if self._session is not None:
                self._session.close()
            self._session = Session(endpoint, auth, version=cfg.version, context=cfg.context)
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
        try:
            # Finish a little before the scheduler's deadline, so the answer says what happened.
            async with asyncio.timeout(max(ctx.timeout * 0.95, ctx.timeout - 0.5)):
                data = await self._poll(session)
        except SnmpError as exc:
            return self._failure(where, exc)
        except TimeoutError:
            return CheckResult(
                self._unreachable(), f"{where}: the poll did not finish within {ctx.timeout:g} s"
            )
        now = self._monotonic()
        samples, info = evaluate(self._profiles, data, self._rates, now)
        samples.extend(
            Sample(own.metric, value.number * own.scale)
            for own in cfg.oids
            if (value := data.scalars.get(own.oid.lstrip("."))) is not None
            and value.number is not None
        )
        parts = [f"{key}={value}" for key, value in info.items()]
        message = f"{where}: {len(samples)} samples" + (f"; {', '.join(parts)}" if parts else "")
        return CheckResult(Status.OK, message, tuple(samples))

    async def _poll(self, session: Session) -> PollData:
        cfg = self.config
        scalar_oids = [cfg.uptime_oid.lstrip(".")]
        scalar_oids += [s.oid for p in self._profiles for s in p.scalars]
        scalar_oids += [own.oid.lstrip(".") for own in cfg.oids]
        scalar_oids = list(dict.fromkeys(scalar_oids))
        columns = list(
            dict.fromkeys(
                oid
                for profile in self._profiles
                for table in profile.tables
                for column in table.columns
                for oid in (column.oid, column.multiply_by)
                if oid
            )
        )
        scalars = await session.get(scalar_oids)
        rows = await session.walk(columns, max_repetitions=cfg.max_repetitions) if columns else {}
        uptime = scalars.get(cfg.uptime_oid.lstrip("."))
        return PollData(
            scalars={oid: value for oid, value in scalars.items() if value is not None},
            columns=rows,
            uptime=uptime.number if uptime is not None else None,
        )

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
