"""Config loading: every problem reported with its key path and what was expected."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from watchd.config import load_config, parse_config
from watchd.configbase import ConfigError
from watchd.loading import load_setup

DATA = Path(__file__).parent / "data" / "config"
SHIPPED = Path(__file__).parent.parent / "config.toml"


def problems_of(name: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(DATA / name)
    assert caught.value.file == DATA / name
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("unknown_key.toml", "daemon.state_dri: unknown key (did you mean 'state_dir'?)"),
        ("wrong_type.toml", "daemon.max_concurrent_checks: Input should be a valid integer"),
        ("bad_duration.toml", "check_defaults.interval: Value error, expected a duration like 30s"),
        (
            "unknown_check_kind.toml",
            'items[0]("web").checks[0]("ping").kind: unknown check kind \'telepathy\' (expected one of: ',
        ),
        (
            "check_missing_key.toml",
            'items[0]("db").checks[0]("postgres").port: required key is missing',
        ),
        ("check_unknown_key.toml", 'items[0]("db").checks[0]("postgres").treshold: unknown key'),
        ("duplicate_item.toml", 'items[1]("web").name: item "web" is defined twice'),
        ("duplicate_receiver.toml", 'receivers[1]("ops").name: receiver "ops" is defined twice'),
        (
            "duplicate_check.toml",
            'items[0]("web").checks[1]("port").name: check "port" is defined twice',
        ),
        ("unknown_parent.toml", 'items[0]("server").parents[0]: unknown item "switch-9"'),
        (
            "unknown_host_check.toml",
            'items[0]("router").host_check: unknown check "pnig" (expected one of this item\'s '
            'checks: "ping", "ssh")',
        ),
        ("parent_cycle.toml", 'items[0]("a").parents: dependency cycle: a -> b -> a'),
        ("bad_listen.toml", "api.listen: Value error, expected HOST:PORT"),
        ("token_without_source.toml", "expected exactly one of 'file' or 'env' for the token"),
        (
            "bad_scope.toml",
            "api.tokens[0](\"ops\").scopes[0]: Input should be 'read', 'write' or 'ingest'",
        ),
        ("not_toml.toml", "not valid TOML"),
        (
            "cluster_heartbeat_too_slow.toml",
            "cluster.heartbeat_interval: expected less than half of cluster.dead_after (2s), "
            "got 2s",
        ),
        ("bad_sqlite_sync.toml", "store.sqlite_sync: Input should be 'normal' or 'full'"),
        (
            "maintenance_unknown_item.toml",
            'maintenance[0]("patching").items[1]: unknown item "wbe"',
        ),
        (
            "dns_bad_options.toml",
            'items[0]("web").checks[0]("www").resolver: Value error, expected an IP '
            "address[:port], got 'dns.example.com'",
        ),
        (
            "dns_bad_options.toml",
            "items[0](\"web\").checks[0](\"www\").record_type: Input should be 'A', 'AAAA', ",
        ),
        (
            "heartbeat_bad_cron.toml",
            'items[0]("backup").checks[0]("nightly").cron: Value error, expected a crontab line '
            "of 5 fields like '0 3 * * *', or @daily, @weekly, ... (got '0 3 * *')",
        ),
        (
            "unknown_time_zones.toml",
            'maintenance[0]("patching").timezone: Value error, unknown time zone '
            "'Europe/Pariss' (expected e.g. UTC, Europe/Paris)",
        ),
        (
            "unknown_time_zones.toml",
            'notify.time_intervals[0]("business-hours").location: Value error, unknown time zone '
            "'Mars/Base' (expected e.g. UTC, Europe/Paris)",
        ),
        (
            "daemon_bad_timezone.toml",
            "daemon.timezone: Value error, unknown time zone 'Asia/Shangai' (expected e.g. UTC, "
            "Europe/Paris)",
        ),
        ("daemon_bad_locale.toml", "daemon.locale: Input should be 'en' or 'zh_CN'"),
    ],
)
def test_each_bad_config_gets_a_precise_problem(fixture: str, expected: str) -> None:
    """A bad config file is rejected with the key path and what was expected."""
    problems = problems_of(fixture)
    assert any(expected in p for p in problems), problems


def test_a_key_of_another_receiver_kind_is_unknown_without_suggesting_itself() -> None:
    """`secret` on a WeCom robot (DingTalk and Feishu have one) is an unknown key, with no
    "did you mean 'secret'?" hint that names the very key refused."""
    problems = problems_of("wecom_with_secret.toml")
    assert problems == ['receivers[0]("ops-wecom").secret: unknown key'], problems


def test_a_bad_daemon_timezone_is_one_problem_at_its_own_key() -> None:
    """A misspelt [daemon] timezone is reported once, not again on the windows defaulting to it."""
    problems = problems_of("daemon_bad_timezone.toml")
    assert problems == [
        "daemon.timezone: Value error, unknown time zone 'Asia/Shangai' (expected e.g. UTC, "
        "Europe/Paris) (got 'Asia/Shangai')"
    ], problems


def test_every_problem_is_reported_not_only_the_first() -> None:
    """A file with three problems lists all three."""
    problems = problems_of("many_problems.toml")
    assert len(problems) == 3, problems
    assert any(p.startswith("daemon.log_level:") for p in problems)
    assert any(p.startswith("daemon.bogus: unknown key") for p in problems)
    assert any(p.startswith('items[0]("web").checks[0]("port").port:') for p in problems)


def test_graph_problems_are_reported_beside_type_errors() -> None:
    """A wrong type elsewhere does not hide an unknown parent or a duplicate item name."""
    problems = problems_of("graph_and_type_problems.toml")
    assert any(p.startswith("daemon.max_concurrent_checks:") for p in problems)
    assert any('unknown item "switch-9"' in p for p in problems)
    assert any('item "server" is defined twice' in p for p in problems)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A config path that does not exist says it cannot be read."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_shipped_config_is_valid_and_resolves_defaults() -> None:
    """The config.toml in the repository loads, with defaults filled into every check."""
    config = load_config(SHIPPED)
    checks = list(config.checks())
    assert {c.kind for c in checks} >= {"local", "http"}
    assert all(c.timeout > 0 and c.interval > 0 for c in checks)
    cpu = next(c for c in checks if c.name == "cpu")
    assert cpu.interval == 30.0
    assert cpu.max_attempts == config.check_defaults.max_attempts
    assert config.daemon.state_dir == SHIPPED.parent / "state"
    assert config.store_url().endswith("/state/watchd.db")


def test_relative_token_files_are_taken_from_the_config_directory(tmp_path: Path) -> None:
    """A token file named relative to the config is found next to it, whatever the working directory."""
    path = tmp_path / "c.toml"
    path.write_text('[[api.tokens]]\nname = "ops"\nscopes = ["read"]\nfile = "ops.token"\n')
    config = load_config(path)
    assert config.api.tokens[0].file == tmp_path / "ops.token"


@pytest.mark.parametrize(
    ("checks", "host_check", "expected"),
    [
        ([("http", "http"), ("ssh", "tcp"), ("icmp", "ping")], None, "icmp"),
        ([("disk", "local"), ("site", "http"), ("ssh", "tcp")], None, "site"),
        ([("icmp", "ping", False), ("ssh", "tcp")], None, "ssh"),
        ([("disk", "local")], None, None),
        ([("icmp", "ping"), ("ssh", "tcp")], "ssh", "ssh"),
        ([("icmp", "ping")], "", None),
    ],
)
def test_an_items_host_check_defaults_to_its_ping_else_its_first_tcp_or_http_check(
    checks: list[tuple[str, ...]], host_check: str | None, expected: str | None
) -> None:
    """Topology uses the configured host check, else ping, else the first enabled TCP/HTTP
    check; "" or no such check means the item is never down for topology."""
    settings = {
        "tcp": {"port": 22},
        "http": {"url": "http://router/"},
        "local": {"probe": "disk"},
    }
    item: dict[str, object] = {
        "name": "router",
        "checks": [
            {"name": c[0], "kind": c[1], "enabled": len(c) < 3, **settings.get(c[1], {})}
            for c in checks
        ],
    }
    if host_check is not None:
        item["host_check"] = host_check
    config = parse_config({"items": [item]}, Path("test.toml"))
    assert config.items[0].host_check_name() == expected


def test_a_node_is_named_after_its_host_and_polls_the_default_zone_unless_configured() -> None:
    """Without a [cluster] table a node is named after its host and polls the default zone."""
    config = parse_config({}, Path("/etc/watchd/config.toml"))
    assert config.cluster.node_name == socket.gethostname()
    assert config.cluster.zones == ["default"]
    assert (config.cluster.dead_after, config.cluster.heartbeat_interval) == (10.0, 2.0)


def test_a_heartbeat_secret_that_cannot_be_read_is_a_problem_at_its_key(tmp_path: Path) -> None:
    """A heartbeat check whose secret's environment variable is unset does not load."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[[items]]\nname = "backup"\n  [[items.checks]]\n  name = "nightly"\n'
        '  kind = "heartbeat"\n  period = "1d"\n'
        '  secret = { env = "WATCHD_TEST_NO_SUCH_VARIABLE" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_setup(config)
    assert [str(p) for p in caught.value.problems] == [
        'items("backup").checks("nightly").secret: secret from environment variable '
        "WATCHD_TEST_NO_SUCH_VARIABLE could not be read: it is not set"
    ]


def test_users_and_schedules_without_a_zone_take_the_daemon_time_zone() -> None:
    """With [daemon] timezone Asia/Shanghai, a user and a schedule naming no zone are in
    Shanghai time; one naming its own zone keeps it."""
    raw = {
        "daemon": {"timezone": "Asia/Shanghai"},
        "users": [{"name": "alice"}, {"name": "bob", "timezone": "Europe/Berlin"}],
        "schedules": [
            {
                "name": "primary",
                "layers": [
                    {
                        "name": "weekly",
                        "users": ["alice"],
                        "start": "2026-11-02T09:00",
                        "rotation": "1w",
                    }
                ],
            }
        ],
    }
    config = parse_config(raw, Path("t.toml"))
    assert [u.timezone for u in config.users] == ["Asia/Shanghai", "Europe/Berlin"]
    assert config.schedules[0].timezone == "Asia/Shanghai"


def test_checks_given_the_same_keys_share_one_set_of_given_fields_and_copies_stay_apart() -> None:
    """Thousands of alike checks keep one `model_fields_set` between them (memory at 5,000
    devices, issue 14), and still tell which keys each was given; a copy with changes gets
    a set of its own, leaving the others' as they were."""
    items = [
        {"name": f"sw{n}", "checks": [{"name": "web", "kind": "http", "url": f"http://sw{n}/"}]}
        for n in range(3)
    ]
    items[2]["checks"][0]["interval"] = 30  # type: ignore[index]
    config = parse_config({"items": items}, Path("test.toml"))
    first, second, third = (item.checks[0] for item in config.items)
    assert first.model_fields_set is second.model_fields_set
    assert first.model_fields_set == {"name", "kind", "url"}
    assert third.model_fields_set == {"name", "kind", "url", "interval"}
    changed = first.model_copy(update={"timeout": 2.0})
    assert changed.model_fields_set == {"name", "kind", "url", "timeout"}
    assert second.model_fields_set == {"name", "kind", "url"}
