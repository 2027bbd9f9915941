"""`watchd check-config` warnings (exit 0) and what the daemon's `started` line tells an operator:
where the dashboard is and whether the API is open without tokens."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.test_daemon import free_port, shipped_config_for, start_daemon
from watchd import cli
from watchd.api.config import ApiConfig
from watchd.app import _api_auth

RULES = """
[api]
listen = "{listen}"

[rules]
files = ["rules/*.yaml", "rulez/**/*.yml"]
"""


def _config(tmp_path: Path, listen: str = "127.0.0.1:9797") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(RULES.format(listen=listen))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ok.yaml").write_text("rules: []\n")
    return path


def test_a_rules_glob_that_matches_nothing_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped rules directory loads no rules: check-config says which pattern, exits 0."""
    assert cli.main(["check-config", "-c", str(_config(tmp_path))]) == 0
    out = capsys.readouterr()
    assert out.err.splitlines() == [
        f'rules.files[1]: "rulez/**/*.yml" matches no file (relative to {tmp_path})'
    ]
    assert "OK" in out.out


def test_check_config_json_lists_the_warnings_and_stays_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: ok true, the unmatched glob and the open API among the warnings, exit 0."""
    assert cli.main(["check-config", "--json", "-c", str(_config(tmp_path, "0.0.0.0:9797"))]) == 0
    report = cli.json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["problems"] == []
    assert [w.split(":")[0] for w in report["warnings"]] == ["rules.files[1]", "api.listen"]
    assert "no [[api.tokens]] are configured" in report["warnings"][1]


def test_a_loopback_api_with_every_glob_matching_gives_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    path.write_text(path.read_text().replace(', "rulez/**/*.yml"', ""))
    assert cli.main(["check-config", "-c", str(path)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:9797", "http://127.0.0.1:9797/"),
        ("[::1]:8080", "http://[::1]:8080/"),
        ("0.0.0.0:9797", f"http://{socket.gethostname()}:9797/"),
        ("[::]:9797", f"http://{socket.gethostname()}:9797/"),
    ],
)
def test_the_dashboard_url_is_one_a_browser_can_open(listen: str, url: str) -> None:
    """A wildcard listen address becomes this machine's name; IPv6 keeps its brackets."""
    assert ApiConfig(listen=listen).dashboard_url == url


@pytest.mark.integration
def test_the_started_line_says_where_the_dashboard_is_and_that_the_api_is_open(
    tmp_path: Path,
) -> None:
    """The shipped config has no tokens: the started line gives the dashboard URL and
    api_auth "none" (the key avoids "token": the log redacts such keys)."""
    port = free_port()
    daemon = start_daemon(tmp_path, shipped_config_for(tmp_path, port), port)
    try:
        started = daemon.wait_for_log("started")
    finally:
        daemon.discard()
    assert started["dashboard"] == f"http://127.0.0.1:{port}/"
    assert started["api_auth"] == "none"


def test_the_started_line_tells_an_open_api_from_one_with_tokens_or_none() -> None:
    """api_auth: none without tokens, tokens with them, disabled when the API is off."""
    token = {"name": "ops", "scopes": ["read"], "env": "WATCHD_OPS_TOKEN"}
    assert _api_auth(ApiConfig()) == "none"
    assert _api_auth(ApiConfig.model_validate({"tokens": [token]})) == "tokens"
    assert _api_auth(ApiConfig(enabled=False)) == "disabled"


def test_a_schedule_with_gaps_is_a_warning_and_a_bad_contact_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A business-hours-only schedule passes check-config with a warning naming its gaps (and
    one naming bob, who has no contact for its hand-off notices, while alice's log contact
    can take them); a contact naming no receiver fails it with the key path."""
    path = tmp_path / "config.toml"
    people = """
[[users]]
name = "alice"
[[users.contacts]]
name = "mail"
receiver = "{receiver}"
address = "alice@example.com"

[[users]]
name = "bob"

[[schedules]]
name = "office"
[[schedules.layers]]
name = "days"
users = ["alice", "bob"]
start = "2026-11-02T09:00"
rotation = "1w"
restrictions = [{{ days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "18:00" }}]
"""
    path.write_text(people.format(receiver="log"))
    assert cli.main(["check-config", "-c", str(path)]) == 0
    gaps, handoffs = capsys.readouterr().err.splitlines()
    assert gaps.startswith('schedules[0]("office"): nobody is on call for 492 h of the next')
    assert handoffs == (
        'schedules[0]("office"): bob has no contact that can take a hand-off notice (any '
        "receiver but a ticket): give them one or set notify_handoff = false"
    )
    path.write_text(people.format(receiver="pager"))
    assert cli.main(["check-config", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert 'users[0]("alice").contacts[0]("mail").receiver: unknown receiver "pager"' in err
