"""Local accounts in config: password hashes (never plain passwords in config.toml), password
files, personal tokens, and `watchd user hash-password`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from watchd.cli import main
from watchd.config import parse_config
from watchd.configbase import ConfigError
from watchd.loading import build_setup
from watchd.people.passwords import hash_password, verify_password

TOKEN = "alice-personal-token-4b1d"


def _setup(tmp_path: Path, **alice: Any) -> Any:
    raw = {"users": [{"name": "alice", "display_name": "Alice Li", **alice}]}
    path = tmp_path / "config.toml"
    return build_setup(parse_config(raw, path), path)


def test_a_password_hash_verifies_only_its_password() -> None:
    """An Argon2id hash accepts its password and refuses others; no hash (an unknown user) refuses everything."""
    hashed = hash_password("s3cret-enough")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "s3cret-enough")
    assert not verify_password(hashed, "s3cret-enougH")
    assert not verify_password(None, "s3cret-enough")
    assert not verify_password("$argon2id$garbled", "s3cret-enough")


def test_a_plain_password_in_the_config_is_refused_at_its_key(tmp_path: Path) -> None:
    """password_hash holding anything but an Argon2 hash is a config error naming the key, so a plain password cannot be configured by mistake."""
    with pytest.raises(ConfigError) as caught:
        _setup(tmp_path, password_hash="hunter2hunter2")
    (problem,) = caught.value.problems
    assert str(problem).startswith('users[0]("alice").password_hash:')
    assert "hunter2" not in str(problem)  # the value is not echoed


def test_a_password_file_may_hold_the_password_or_its_hash(tmp_path: Path) -> None:
    """A password_file with the password itself or with its hash lets the user sign in; a missing file is named by its key."""
    plain = tmp_path / "alice.password"
    plain.write_text("s3cret-enough\n")
    account = _setup(tmp_path, password_file=str(plain)).accounts["alice"]
    assert account.label == "Alice Li (alice)"
    assert verify_password(account.password_hash, "s3cret-enough")
    hashed = tmp_path / "alice.hash"
    hashed.write_text(hash_password("other-secret") + "\n")
    account = _setup(tmp_path, password_file=str(hashed)).accounts["alice"]
    assert verify_password(account.password_hash, "other-secret")
    with pytest.raises(ConfigError) as caught:
        _setup(tmp_path, password_file=str(tmp_path / "gone"))
    (problem,) = caught.value.problems
    assert str(problem).startswith('users[0]("alice").password_file: secret from file')


def test_a_users_dashboard_language_is_kept_with_their_account(tmp_path: Path) -> None:
    """locale = "zh_CN" on a user comes with their account (the dashboard speaks it once they sign in); no locale leaves it to the browser."""
    hashed = hash_password("s3cret-enough")
    assert (
        _setup(tmp_path, password_hash=hashed, locale="zh_CN").accounts["alice"].locale == "zh_CN"
    )
    assert _setup(tmp_path, password_hash=hashed).accounts["alice"].locale is None


def test_a_locale_watchd_does_not_ship_is_refused_at_its_key(tmp_path: Path) -> None:
    """A user's locale that is not one watchd ships is a config error naming the key and the choices."""
    with pytest.raises(ConfigError) as caught:
        _setup(tmp_path, locale="zh_TW")
    (problem,) = caught.value.problems
    assert str(problem).startswith('users[0]("alice").locale:')
    assert "'en'" in str(problem) and "'zh_CN'" in str(problem)


def test_personal_tokens_name_their_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's token is read from the environment with its scopes and acts as the user; a short one is named by its key path."""
    monkeypatch.setenv("ALICE_TOKEN", TOKEN)
    setup = _setup(
        tmp_path,
        tokens=[{"name": "laptop", "scopes": ["read", "write"], "token_env": "ALICE_TOKEN"}],
    )
    assert setup.tokens[TOKEN] == frozenset({"read", "write"})
    assert setup.token_names[TOKEN] == "laptop"
    assert setup.token_users[TOKEN] == "Alice Li (alice)"
    monkeypatch.setenv("ALICE_TOKEN", "short")
    with pytest.raises(ConfigError) as caught:
        _setup(
            tmp_path, tokens=[{"name": "laptop", "scopes": ["read"], "token_env": "ALICE_TOKEN"}]
        )
    assert [str(p) for p in caught.value.problems] == [
        'users[0]("alice").tokens[0]("laptop"): expected a token of at least 16 characters'
    ]


def test_hash_password_prints_a_hash_of_the_password_read_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd user hash-password` prints an Argon2id hash of stdin's first line for password_hash, and refuses a short password."""
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-enough\n"))
    assert main(["user", "hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_password(printed, "s3cret-enough")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "hash-password"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err


def test_a_token_restricted_to_an_unknown_team_is_named_by_its_key_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check-config names a personal token's team that is not in [[teams]], by its key path."""
    monkeypatch.setenv("ALICE_TOKEN", TOKEN)
    token = {"name": "laptop", "scopes": ["write"], "token_env": "ALICE_TOKEN", "teams": ["opz"]}
    with pytest.raises(ConfigError) as caught:
        _setup(tmp_path, tokens=[token])
    assert [str(p) for p in caught.value.problems] == [
        'users[0]("alice").tokens[0]("laptop").teams[0]: unknown team "opz" '
        "(expected the name of a team in [[teams]])"
    ]


def test_a_short_session_key_is_named_by_its_key_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[api] session_key` from the environment is read at load; a key too short to sign
    sessions is a problem at api.session_key."""
    monkeypatch.setenv("WATCHD_SESSION_KEY", "short")
    path = tmp_path / "config.toml"
    raw = {"api": {"session_key": {"env": "WATCHD_SESSION_KEY"}}}
    with pytest.raises(ConfigError) as raised:
        build_setup(parse_config(raw, path), path)
    assert "api.session_key" in str(raised.value)
    monkeypatch.setenv("WATCHD_SESSION_KEY", "long-enough-session-key-42")
    assert build_setup(parse_config(raw, path), path).session_key == "long-enough-session-key-42"
