"""Typed configuration: load config.toml, validate it whole, report every problem with its key path.

Collector-specific keys sit beside the common check options in one `[[items.checks]]` table;
the model for each check kind is built from the collector registry, so adding a collector adds
its config without touching this module.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from collectors import REGISTRY
from watchd.api.config import ApiConfig
from watchd.api.status_config import StatusPageConfig, status_page_problems
from watchd.check_config import CheckDefaults, CheckOptions, ResolvedCheck
from watchd.cluster.config import ClusterConfig
from watchd.configbase import (
    ConfigError,
    ConfigProblem,
    Strict,
    TimeZone,
    duplicate_names,
    is_zone,
)
from watchd.durations import Duration
from watchd.i18n import Locale
from watchd.incidents.config import IncidentsConfig, InhibitRule
from watchd.ingest.config import IngestConfig, MqttIngestConfig
from watchd.ingest.snmptrap_rules import SnmpTrapConfig
from watchd.inventory import inventory_problems
from watchd.maintenance import MaintenanceWindow
from watchd.notify.config import NotifyConfig, RouteConfig
from watchd.notify.receivers import AnyReceiver
from watchd.notify.receivers.log import LogReceiver
from watchd.people.config import PeopleConfig, ScheduleConfig, TeamConfig, UserConfig
from watchd.report.config import ReportConfig, ServiceConfig
from watchd.rules.config import RulesConfig
from watchd.store.config import StoreConfig


class DaemonConfig(Strict):
    state_dir: Path = Path("state")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "console", "json"] = "auto"
    max_concurrent_checks: int = Field(default=500, ge=1)
    # An event-loop stall this long during a check run means the run measured watchd, not its
    # target: a non-OK result becomes UNKNOWN "poller overloaded" (DESIGN.md §4 Overload).
    overload_lag: Duration = Field(default=0.5, gt=0)
    shutdown_grace: Duration = 10.0
    watchdog_interval: Duration = 0.0  # 0: half of systemd's WATCHDOG_USEC when it is set
    # Report months and days, displayed report times and maintenance windows without a
    # `timezone` of their own are in this zone, and daily rollups are cut at its midnights;
    # the store keeps UTC.
    timezone: TimeZone = "UTC"
    # The language of the default notification templates, and of the dashboard and status pages
    # for readers whose browser asks for none watchd has (watchd/locale has the catalogs).
    locale: Locale = "en"


@cache
def _check_models() -> tuple[type[CheckOptions], ...]:
    """One pydantic model per collector kind: the common options plus the collector's own."""
    models: list[type[CheckOptions]] = []
    for kind, cls in REGISTRY.items():
        model = create_model(
            f"{kind.title().replace('_', '')}Check",
            __base__=(CheckOptions, cls.Config),
            kind=(Literal[kind], ...),  # type: ignore[arg-type]
        )
        models.append(model)  # type: ignore[arg-type]  # create_model with a tuple of bases
    return tuple(models)


def _any_check() -> Any:
    models = _check_models()
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


if TYPE_CHECKING:
    AnyCheck = CheckOptions
else:
    AnyCheck = _any_check()


class ItemConfig(Strict):
    """A configuration item (a host, a device, a service endpoint) and its checks."""

    name: str = Field(min_length=1)
    address: str = ""
    labels: dict[str, str] = {}
    parents: list[str] = []
    checks: list[AnyCheck] = []
    # The check that says whether the item is up (DESIGN.md §4 Reachability): only it being
    # HARD CRITICAL or UNKNOWN makes the item's children UNREACHABLE. None: the default
    # (see host_check_name); "": no host check, the item is never down for topology.
    host_check: str | None = None
    # The nodes whose `[cluster] zones` name this zone poll the item's checks (a remote site's
    # node polls only its site); a zone no live node serves raises ClusterZoneUnserved.
    zone: str = Field(default="default", min_length=1)

    def host_check_name(self) -> str | None:
        """The item's host check: as configured, else its ping check, else its first TCP or
        HTTP check (enabled ones); None when it has none."""
        if self.host_check is not None:
            return self.host_check or None
        enabled = [check for check in self.checks if check.enabled]
        for kinds in (("ping",), ("tcp", "http")):
            found = next((check.name for check in enabled if check.kind in kinds), None)
            if found is not None:
                return found
        return None


# A receiver is a tagged union on `kind` (log when absent); see watchd/notify/receivers.
ReceiverConfig = AnyReceiver


# Arrays of tables whose entries have a `timezone` that defaults to `[daemon] timezone`.
_ZONED_TABLES = ("maintenance", "users", "schedules")


class Config(Strict):
    daemon: DaemonConfig = DaemonConfig()
    store: StoreConfig = StoreConfig()
    api: ApiConfig = ApiConfig()
    cluster: ClusterConfig = ClusterConfig()
    check_defaults: CheckDefaults = CheckDefaults()
    items: list[ItemConfig] = []
    receivers: list[ReceiverConfig] = [LogReceiver(name="log")]
    route: RouteConfig = RouteConfig()
    notify: NotifyConfig = NotifyConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    inhibit_rules: list[InhibitRule] = []
    maintenance: list[MaintenanceWindow] = []
    snmp_traps: SnmpTrapConfig = SnmpTrapConfig()
    ingest: IngestConfig = IngestConfig()
    mqtt_ingest: MqttIngestConfig = MqttIngestConfig()
    rules: RulesConfig = RulesConfig()
    services: list[ServiceConfig] = []
    status_pages: list[StatusPageConfig] = []
    report: ReportConfig = ReportConfig()
    users: list[UserConfig] = []
    teams: list[TeamConfig] = []
    schedules: list[ScheduleConfig] = []

    def people(self) -> PeopleConfig:
        """The users, teams and on-call schedules, for the stages that page people."""
        return PeopleConfig(users=self.users, teams=self.teams, schedules=self.schedules)

    @model_validator(mode="before")
    @classmethod
    def _local_zones(cls, raw: Any) -> Any:
        """Maintenance windows, users and schedules without a `timezone` take `[daemon]
        timezone` (if it is valid: an invalid one is reported once, at its own key)."""
        if not isinstance(raw, dict):
            return raw
        daemon = raw.get("daemon")
        zone = daemon.get("timezone") if isinstance(daemon, dict) else None
        if not isinstance(zone, str) or not is_zone(zone):
            return raw
        local = dict(raw)
        for table in _ZONED_TABLES:
            if isinstance(entries := raw.get(table), list):
                local[table] = [
                    {**e, "timezone": zone} if isinstance(e, dict) and "timezone" not in e else e
                    for e in entries
                ]
        return local

    def store_url(self) -> str:
        """The SQLAlchemy URL of the store; SQLite in the state directory by default."""
        if self.store.url:
            return self.store.url
        return f"sqlite+aiosqlite:///{self.daemon.state_dir / 'watchd.db'}"

    def checks(self) -> Iterator[ResolvedCheck]:
        """Every enabled check with its defaults filled in."""
        defaults = self.check_defaults
        for item in self.items:
            for check in item.checks:
                if not check.enabled:
                    continue
                yield ResolvedCheck(
                    item=item.name,
                    name=check.name,
                    kind=check.kind,
                    address=item.address,
                    labels={**item.labels, **check.labels},
                    interval=_pick(check.interval, defaults.interval),
                    timeout=_pick(check.timeout, defaults.timeout),
                    jitter=_pick(check.jitter, defaults.jitter),
                    retry_interval=_pick(check.retry_interval, defaults.retry_interval),
                    max_attempts=_pick(check.max_attempts, defaults.max_attempts),
                    recover_attempts=_pick(check.recover_attempts, defaults.recover_attempts),
                    settings=check,
                    zone=item.zone,
                )


T = TypeVar("T")


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


def load_config(path: Path) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem found.

    Relative paths in the file (state directory, token files) are taken relative to the
    file's own directory, so the daemon behaves the same from any working directory.
    """
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(path, [ConfigProblem("", f"cannot read: {exc.strerror}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [ConfigProblem("", f"not valid TOML: {exc}")]) from exc
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate already-parsed TOML data as if it came from `path`."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(raw, err) for err in exc.errors()]
        # The items' graph is checked too, so one run of check-config shows every problem.
        problems += _item_problems(_raw_items(raw))
        raise ConfigError(path, problems) from exc
    problems = list(_semantic_problems(config))
    if problems:
        raise ConfigError(path, problems)
    return _anchor_paths(config, path.resolve().parent)


def _problem(raw: Any, error: Any) -> ConfigProblem:
    key_path = _key_path(raw, error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key" + _did_you_mean(str(error["loc"][-1]))
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "union_tag_invalid":
        key_path += ".kind"
        kinds = ", ".join(sorted(REGISTRY))
        message = f"unknown check kind {error['input'].get('kind')!r} (expected one of: {kinds})"
    elif "input" in error and not (error["loc"] and error["loc"][-1] in _NOT_ECHOED):
        message = f"{message} (got {error['input']!r})"
    return ConfigProblem(key_path, message)


# Keys whose wrong value is not repeated in the problem: it may be a password pasted by mistake.
_NOT_ECHOED = frozenset({"password_hash"})


@cache
def _known_keys() -> frozenset[str]:
    """Every key any config table accepts, for did-you-mean hints on unknown keys."""
    keys: set[str] = set()
    stack: list[type[BaseModel]] = [Config, *_check_models()]
    seen: set[type[BaseModel]] = set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        keys.update(model.model_fields)
        for info in model.model_fields.values():
            for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    stack.append(arg)
    return frozenset(keys)


def _did_you_mean(key: str) -> str:
    # The key itself may be known in another table (another receiver kind's): no hint then.
    close = difflib.get_close_matches(key, _known_keys() - {key}, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _key_path(raw: Any, loc: Sequence[Any]) -> str:
    """Turn a pydantic error location into a TOML key path, naming items and checks."""
    parts: list[str] = []
    node = raw
    for segment in loc:
        if isinstance(node, list) and isinstance(segment, int):
            label = ""
            if 0 <= segment < len(node) and isinstance(node[segment], dict):
                name = node[segment].get("name")
                label = f'("{name}")' if isinstance(name, str) else ""
            parts.append(f"[{segment}]{label}")
            node = node[segment] if 0 <= segment < len(node) else None
        elif isinstance(node, dict) and segment in node:
            parts.append(f".{segment}")
            node = node[segment]
        elif isinstance(segment, str) and isinstance(node, dict) and node.get("kind") == segment:
            continue  # the discriminator tag pydantic adds for a check of this kind
        else:
            parts.append(f".{segment}")
            node = None
    return "".join(parts).lstrip(".")


@dataclass(frozen=True, slots=True)
class _RawItem:
    name: str
    parents: list[str]


def _raw_items(raw: dict[str, Any]) -> list[_RawItem]:
    """Names and parents of the items as written, for graph checks on a file that did not
    validate; what is not a name or a list of names is left to the structural errors."""
    items = raw.get("items")
    if not isinstance(items, list):
        return []
    found = []
    for i, item in enumerate(items):
        item = item if isinstance(item, dict) else {}
        name = item.get("name")
        parents = item.get("parents", [])
        found.append(
            _RawItem(
                name if isinstance(name, str) else f"<item {i}>",
                [p for p in parents if isinstance(p, str)] if isinstance(parents, list) else [],
            )
        )
    return found


def _item_problems(items: Sequence[Any]) -> list[ConfigProblem]:
    """Duplicate item names, unknown parents and dependency cycles."""
    return [*duplicate_names("items", "item", items), *inventory_problems(items)]


def _semantic_problems(config: Config) -> Iterator[ConfigProblem]:
    """Problems no single key shows: duplicate names, unknown items named, dependency cycles."""
    yield from _item_problems(config.items)
    yield from config.cluster.problems()
    for i, item in enumerate(config.items):
        where = f'items[{i}]("{item.name}")'
        seen_checks: set[str] = set()
        for j, check in enumerate(item.checks):
            if check.name in seen_checks:
                yield ConfigProblem(
                    f'{where}.checks[{j}]("{check.name}").name',
                    f'check "{check.name}" is defined twice in this item',
                )
            seen_checks.add(check.name)
        if item.host_check and item.host_check not in seen_checks:
            names = ", ".join(f'"{check.name}"' for check in item.checks) or "none"
            yield ConfigProblem(
                f"{where}.host_check",
                f'unknown check "{item.host_check}" (expected one of this item\'s checks: {names})',
            )
    # A window naming an item that does not exist would silently mute nothing.
    item_names = {item.name for item in config.items}
    for i, window in enumerate(config.maintenance):
        for j, name in enumerate(window.items):
            if name not in item_names:
                yield ConfigProblem(
                    f'maintenance[{i}]("{window.name}").items[{j}]',
                    f'unknown item "{name}" (expected the name of an item in [[items]])',
                )
    yield from duplicate_names("receivers", "receiver", config.receivers)
    yield from config.people().problems({receiver.name for receiver in config.receivers})
    yield from status_page_problems(config.status_pages, (s.name for s in config.services))
    seen_tokens: set[str] = set()
    for i, token in enumerate(config.api.tokens):
        where = f'api.tokens[{i}]("{token.name}")'
        if (token.file is None) == (token.env is None):
            yield ConfigProblem(where, "expected exactly one of 'file' or 'env' for the token")
        if token.name in seen_tokens:
            yield ConfigProblem(f"{where}.name", f'token "{token.name}" is defined twice')
        seen_tokens.add(token.name)


def _anchor_paths(config: Config, base: Path) -> Config:
    state_dir = config.daemon.state_dir
    if not state_dir.is_absolute():
        state_dir = base / state_dir
    tokens = [
        token.model_copy(update={"file": base / token.file})
        if token.file is not None and not token.file.is_absolute()
        else token
        for token in config.api.tokens
    ]
    return config.model_copy(
        update={
            "daemon": config.daemon.model_copy(update={"state_dir": state_dir}),
            "api": config.api.model_copy(update={"tokens": tokens}),
        }
    )
