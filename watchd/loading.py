"""Everything the daemon derives from its config file, validated as one piece.

Start-up, SIGHUP reload and `watchd check-config` all call `load_setup`, so what check-config
accepts is exactly what the daemon will run, and a reload either applies all of it (config,
collectors, tokens, rules) or none of it. The stages take their slices of the config from here
(`incident_settings`, `report_catalog`): no stage imports the root Config.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from collectors import REGISTRY
from watchd.check_config import ResolvedCheck
from watchd.config import Config, load_config
from watchd.configbase import ConfigError, ConfigProblem
from watchd.heartbeats import HeartbeatConfig
from watchd.incidents.settings import IncidentSettings
from watchd.inventory import Inventory
from watchd.model import Collector
from watchd.notify.checks import notify_problems
from watchd.notify.handoffs import handoff_warnings
from watchd.notify.router import Router, unset_label_warnings
from watchd.people.oncall import gap_warnings
from watchd.people.passwords import Account, read_password_hash
from watchd.report.catalog import Catalog
from watchd.report.people import Person
from watchd.rules import (
    RuleError,
    RuleProblem,
    RuleSet,
    check_rules,
    known_metrics,
    load_rules,
)
from watchd.runbooks import RunbookError, RunbookLinks, runbook_file
from watchd.secrets import SecretError, SecretRef

MIN_TOKEN_LENGTH = 16

# Labels watchd's own alerts carry: check alerts (alertname, item, check, severity), the check_*
# series rules watch (kind), traps (source, trap_oid, trap, enterprise), notification
# self-alerts (receiver), error-budget burn alerts (service, window).
BUILT_IN_LABELS = frozenset(
    {
        "alertname",
        "item",
        "check",
        "severity",
        "kind",
        "source",
        "trap_oid",
        "trap",
        "enterprise",
        "receiver",
        "service",
        "window",
    }
)


@dataclass(frozen=True, slots=True)
class Setup:
    """A loaded, validated configuration with what is built from it."""

    path: Path
    config: Config
    collectors: list[tuple[ResolvedCheck, Collector]]
    tokens: dict[str, frozenset[str]]
    token_names: dict[str, str]
    rules: RuleSet
    warnings: list[str]
    # Each heartbeat check's key ("item/check") -> its secret (None: none configured).
    heartbeats: dict[str, str | None] = field(default_factory=dict)
    # The Markdown runbooks rules and checks name: name (in /runbooks/<name>) -> file.
    runbooks: dict[str, Path] = field(default_factory=dict)
    # Personal tokens: token value -> how its user is recorded ("Alice Li (alice)").
    token_users: dict[str, str] = field(default_factory=dict)
    # Users who may sign in to the dashboard with a password, by user name.
    accounts: dict[str, Account] = field(default_factory=dict)
    # Personal tokens restricted to teams: token value -> the teams.
    token_teams: dict[str, frozenset[str]] = field(default_factory=dict)
    # [api] session_key as read (None: not configured, a random key per start).
    session_key: str | None = None

    async def close_collectors(self) -> None:
        for _, collector in self.collectors:
            with contextlib.suppress(Exception):
                await collector.aclose()


def load_setup(path: Path) -> Setup:
    """Load the config file and everything it names; raise ConfigError listing every problem."""
    return build_setup(load_config(path), path)


def build_setup(config: Config, path: Path, now: float | None = None) -> Setup:
    """Everything `config` names (collectors, tokens, rules), checked as if it came from
    `path`: relative paths are taken from its directory. Raise ConfigError listing every
    problem. `watchd test-paging` calls it for a scenario's inline config. `now` (default:
    the wall clock) starts the four weeks in which schedules must have someone on call."""
    problems: list[ConfigProblem] = []
    links = runbook_links(config, path)
    runbooks: dict[str, Path] = {}
    collectors = _build_collectors(config, problems, links, runbooks)
    tokens, token_names = _read_tokens(config, problems)
    token_users, token_teams = _read_user_tokens(config, problems, tokens, token_names)
    accounts = _read_accounts(config, problems)
    session_key = None
    if config.api.session_key is not None:
        session_key = _token_value(config.api.session_key, "api.session_key", problems)
    heartbeats = _heartbeat_secrets(config, problems)
    rule_paths = config.rules.paths(path.resolve().parent)
    # The checks that could be built say which of their own metric names rules may name.
    known = known_metrics((check.kind, check.settings) for check, _ in collectors)
    rule_problems = (
        check_rules(rule_paths, known_metrics=known, runbooks=links) if rule_paths else []
    )
    problems += [_rule_problem(p) for p in rule_problems if p.is_error]
    notify_errors, notify_warnings = notify_problems(
        config.receivers,
        config.route,
        config.notify,
        config.incidents.escalation,
        path.parent,
        config.people(),
    )
    problems += notify_errors
    if problems:
        raise ConfigError(path, problems)
    try:
        rules = load_rules(rule_paths, known_metrics=known, runbooks=links)
    except RuleError as exc:  # check_rules found none; keep the daemon's promise all the same
        raise ConfigError(path, [_rule_problem(p) for p in exc.problems if p.is_error]) from exc
    runbooks |= {links.name(r.runbook_file): r.runbook_file for r in rules.rules if r.runbook_file}
    warnings = [str(p) for p in rule_problems if not p.is_error] + notify_warnings
    warnings += [str(w) for w in unset_label_warnings(config.route, alert_labels(config, rules))]
    warnings += config.rules.unmatched_warnings(path.resolve().parent)
    warnings += _api_warnings(config)
    warnings += gap_warnings(config.schedules, time.time() if now is None else now)
    warnings += handoff_warnings(config.people(), config.receivers)
    return Setup(
        path,
        config,
        collectors,
        tokens,
        token_names,
        rules,
        warnings,
        heartbeats,
        runbooks,
        token_users,
        accounts,
        token_teams,
        session_key,
    )


def runbook_links(config: Config, path: Path) -> RunbookLinks:
    """How runbook files next to the config file at `path` are named and linked: from the
    address operators reach watchd by (notify.ack_links.base_url, else the dashboard's)."""
    links = config.notify.ack_links
    base = links.base_url if links is not None else config.api.dashboard_url
    return RunbookLinks(path.resolve().parent, base.rstrip("/"))


def alert_labels(config: Config, rules: RuleSet) -> set[str]:
    """The label names the configured sources can put on an alert (posted alerts aside): item
    and check labels, rule labels and the labels rules match on, trap rule labels and keys,
    and watchd's own."""
    names = set(BUILT_IN_LABELS)
    for item in config.items:
        names.update(item.labels)
        for check in item.checks:
            names.update(check.labels)
    for rule in rules.rules:
        names.update(rule.labels)
        names.update(m.label for m in rule.matchers)
    if config.snmp_traps.enabled:
        for trap in config.snmp_traps.effective_rules():
            names.update(trap.labels)
            names.update(trap.key)
    return names


def notify_router(config: Config) -> Router:
    """The notification route tree of `config`."""
    return Router.from_config(
        config.route, [r.name for r in config.receivers], config.notify.time_intervals
    )


def incident_settings(config: Config, router: Router | None = None) -> IncidentSettings:
    """The incident core's view of `config`; `router` (the one the dispatcher uses, or one
    built from `config`) picks the receivers."""
    router = router if router is not None else notify_router(config)
    return IncidentSettings(
        incidents=config.incidents,
        inhibit_rules=tuple(config.inhibit_rules),
        maintenance=tuple(config.maintenance),
        inventory=item_inventory(config),
        receivers_for=router.incident_receivers,
        people=config.people(),
    )


def item_inventory(config: Config) -> Inventory:
    """The item graph of `config` with each item's host check."""
    host_checks = {item.name: item.host_check_name() for item in config.items}
    return Inventory(config.items, {k: v for k, v in host_checks.items() if v is not None})


def report_catalog(config: Config) -> Catalog:
    """What reports need of `config`: the enabled checks, services, windows and item graph."""
    return Catalog.from_checks(
        config.report,
        config.checks(),
        default_interval=config.check_defaults.interval,
        services=config.services,
        windows=config.maintenance,
        inventory=item_inventory(config),
        timezone=config.daemon.timezone,
        locale=config.daemon.locale,
        people=[
            Person(
                u.name,
                u.label(),
                u.timezone,
                tuple(t.name for t in config.teams if u.name in t.members),
            )
            for u in config.users
        ],
    )


def _build_collectors(
    config: Config, problems: list[ConfigProblem], links: RunbookLinks, runbooks: dict[str, Path]
) -> list[tuple[ResolvedCheck, Collector]]:
    """The enabled checks, each with its collector and its runbook's link; the Markdown
    runbooks they name are added to `runbooks`."""
    built: list[tuple[ResolvedCheck, Collector]] = []
    for check in config.checks():
        if check.settings.runbook is not None:
            try:
                found = runbook_file(check.settings.runbook, links.root)
            except RunbookError as exc:
                where = f'items("{check.item}").checks("{check.name}").runbook'
                problems.append(ConfigProblem(where, exc.reason))
                continue
            url = check.settings.runbook
            if found is not None:
                runbooks[links.name(found)] = found
                url = links.link(found)
            check = replace(check, runbook_url=url)
        try:
            built.append((check, REGISTRY[check.kind](check.settings)))
        except Exception as exc:
            where = f'items("{check.item}").checks("{check.name}")'
            problems.append(ConfigProblem(where, f"cannot be set up: {exc}"))
    return built


def _api_warnings(config: Config) -> list[str]:
    """An API open to the network: a warning at every start and in `watchd check-config`, not a
    refusal (a daemon that stops starting after an upgrade pages nobody)."""
    api = config.api
    if not api.open_without_tokens or api.loopback_only:
        return []
    return [
        f"api.listen: {api.listen} is reachable from other machines and no [[api.tokens]] are "
        "configured, so anyone who can reach it can read everything, inject alerts, silence "
        "them and acknowledge incidents; configure tokens or listen on 127.0.0.1"
    ]


def _read_tokens(
    config: Config, problems: list[ConfigProblem]
) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """Token value -> scopes and token value -> name, read from files or the environment."""
    tokens: dict[str, frozenset[str]] = {}
    names: dict[str, str] = {}
    for i, token in enumerate(config.api.tokens):
        where = f'api.tokens[{i}]("{token.name}")'
        value = _token_value(token.secret(), where, problems)
        if value is not None:
            tokens[value] = frozenset(token.scopes)
            names[value] = token.name
    return tokens, names


def _token_value(secret: SecretRef, where: str, problems: list[ConfigProblem]) -> str | None:
    """The token read from its file or the environment, or None after adding the problem."""
    try:
        value = secret.reveal()
    except SecretError as exc:
        problems.append(ConfigProblem(where, str(exc)))
        return None
    if len(value) < MIN_TOKEN_LENGTH:
        problems.append(
            ConfigProblem(where, f"expected a token of at least {MIN_TOKEN_LENGTH} characters")
        )
        return None
    return value


def _read_user_tokens(
    config: Config,
    problems: list[ConfigProblem],
    tokens: dict[str, frozenset[str]],
    names: dict[str, str],
) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """Add the users' personal tokens to `tokens` and `names`; return token value -> user and
    token value -> teams (of the tokens restricted to teams)."""
    users: dict[str, str] = {}
    teams: dict[str, frozenset[str]] = {}
    for i, user in enumerate(config.users):
        for j, token in enumerate(user.tokens):
            where = f'users[{i}]("{user.name}").tokens[{j}]("{token.name}")'
            value = _token_value(token.secret(), where, problems)
            if value is None:
                continue
            if value in tokens:
                problems.append(ConfigProblem(where, "the same token is configured twice"))
                continue
            tokens[value] = frozenset(token.scopes)
            names[value] = token.name
            users[value] = user.label()
            if token.teams:
                teams[value] = frozenset(token.teams)
    return users, teams


def _read_accounts(config: Config, problems: list[ConfigProblem]) -> dict[str, Account]:
    """The users with a password, their hash read from the config or their password_file."""
    accounts: dict[str, Account] = {}
    for i, user in enumerate(config.users):
        try:
            hashed = read_password_hash(user)
        except SecretError as exc:
            problems.append(ConfigProblem(f'users[{i}]("{user.name}").password_file', str(exc)))
            continue
        if hashed is not None:
            accounts[user.name] = Account(user.name, user.label(), hashed, user.locale)
    return accounts


def _heartbeat_secrets(config: Config, problems: list[ConfigProblem]) -> dict[str, str | None]:
    """Each heartbeat check's key -> its secret, read now from its file or the environment."""
    secrets: dict[str, str | None] = {}
    for check in config.checks():
        if not isinstance(check.settings, HeartbeatConfig):
            continue
        key = f"{check.item}/{check.name}"
        if check.settings.secret is None:
            secrets[key] = None
            continue
        where = f'items("{check.item}").checks("{check.name}").secret'
        try:
            value = check.settings.secret.reveal()
        except SecretError as exc:
            problems.append(ConfigProblem(where, str(exc)))
            continue
        if len(value) < MIN_TOKEN_LENGTH:
            problems.append(
                ConfigProblem(where, f"expected a secret of at least {MIN_TOKEN_LENGTH} characters")
            )
            continue
        secrets[key] = value
    return secrets


def _rule_problem(problem: RuleProblem) -> ConfigProblem:
    source = f"{problem.file}:{problem.line}" if problem.line else str(problem.file)
    path = f'rule "{problem.rule}"' if problem.rule else ""
    return ConfigProblem(path, problem.message, source=source)
