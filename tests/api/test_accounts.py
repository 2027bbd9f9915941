"""Per-user identity on a served dashboard: password sign-in (throttled), the session naming the
person, personal API tokens, and every action recorded as by that person."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from watchd.api.accounts import WINDOW, PasswordChecks
from watchd.api.dashboard import COOKIE, UNKNOWN_USER
from watchd.people.passwords import Account, hash_password

from .conftest import TOKENS
from .dashboard_world import served_dashboard

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
ALICE = Account("alice", "Alice Li (alice)", hash_password(PASSWORD))
ALICE_TOKEN = "alice-laptop-token-9f3e2a"
WITH_ALICE = {**TOKENS, ALICE_TOKEN: frozenset({"read", "write"})}
SESSION = {"X-Watchd-Session": "1"}


def _jar() -> aiohttp.CookieJar:
    # unsafe=True: aiohttp's jar refuses cookies of IP hosts by default; browsers keep them.
    return aiohttp.CookieJar(unsafe=True)


async def _sign_in(http: aiohttp.ClientSession, base: str, password: str = PASSWORD) -> int:
    async with http.post(
        f"{base}/login",
        data={"user": "alice", "password": password, "next": "/"},
        allow_redirects=False,
    ) as resp:
        return resp.status


async def test_a_user_signs_in_with_a_password_and_acts_as_themselves(tmp_path: Path) -> None:
    """Name and password start a session naming the user; the page's ack is recorded as "Alice Li (alice)", whatever name the body claims."""
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": ALICE}) as dash,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        async with http.get(f"{dash.base}/login") as resp:
            assert 'name="password"' in await resp.text()
        async with http.post(
            f"{dash.base}/login",
            data={"user": "alice", "password": PASSWORD, "next": "/items"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/items"
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert PASSWORD not in cookie and ALICE.password_hash not in cookie
        async with http.get(f"{dash.base}/") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "Signed in as" in page and "Alice Li (alice)" in page
            assert 'id="token"' not in page  # no write token needed: the session acts
        url = f"{dash.base}/api/v1/incidents/{dash.incident_id}/ack"
        async with http.post(url, json={"by": "mallory"}) as resp:
            assert resp.status == 401  # the cookie alone is not taken by the REST API
        async with http.post(url, json={"by": "mallory"}, headers=SESSION) as resp:
            assert resp.status == 200
            assert (await resp.json())["acknowledged_by"] == "Alice Li (alice)"
        async with http.post(
            f"{dash.base}/api/v1/incidents/{dash.incident_id}/comment",
            json={"text": "looking at the load balancer"},
            headers={**SESSION, "Sec-Fetch-Site": "cross-site"},
        ) as resp:
            assert resp.status == 403  # another site's page cannot use the session
        found = await dash.incidents.get_incident(dash.incident_id)
        acks = [e for e in found["timeline"] if e["kind"] == "acknowledged"]
        assert [e["actor"] for e in acks] == ["Alice Li (alice)"]
        async with http.post(f"{dash.base}/logout", allow_redirects=False) as resp:
            assert resp.status == 303
        async with http.get(f"{dash.base}/items") as resp:
            assert resp.status == 401  # signed out


@pytest.mark.parametrize(
    ("keys", "signed_in_there"),
    [
        (("shared-session-key-0123456789", "shared-session-key-0123456789"), True),
        ((None, None), False),
    ],
)
async def test_a_session_key_in_the_config_lets_a_session_work_on_every_node_and_after_a_restart(
    tmp_path: Path, keys: tuple[str | None, str | None], signed_in_there: bool
) -> None:
    """With `[api] session_key` shared, a browser signed in on one daemon is signed in on
    another (a cluster node behind a load balancer, or the same one restarted); without it
    each process signs its own sessions and the other asks to sign in again."""
    async with (
        served_dashboard(
            tmp_path / "a", TOKENS, accounts=lambda: {"alice": ALICE}, session_key=keys[0]
        ) as first,
        served_dashboard(
            tmp_path / "b", TOKENS, accounts=lambda: {"alice": ALICE}, session_key=keys[1]
        ) as second,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        assert await _sign_in(http, first.base) == 303
        (cookie,) = [c for c in http.cookie_jar if c.key == COOKIE]
        async with (
            aiohttp.ClientSession() as other,
            other.get(
                f"{second.base}/items", headers={"Cookie": f"{COOKIE}={cookie.value}"}
            ) as resp,
        ):
            assert (resp.status == 200) is signed_in_there, resp.status


async def test_wrong_passwords_are_refused_and_throttled_per_user(tmp_path: Path) -> None:
    """Five wrong passwords for a name lock its sign-in for a quarter of an hour (429, Retry-After), even with the right password; then it works again."""
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": ALICE}) as dash,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        for _ in range(5):
            assert await _sign_in(http, dash.base, "guess") == 401
        async with http.post(
            f"{dash.base}/login", data={"user": "alice", "password": PASSWORD}
        ) as resp:
            assert resp.status == 429
            assert 0 < int(resp.headers["Retry-After"]) <= WINDOW
            assert "Too many failed sign-ins" in await resp.text()
        await dash.clock.advance(WINDOW + 1)
        assert await _sign_in(http, dash.base) == 303


async def test_failures_from_one_address_are_throttled_across_names(tmp_path: Path) -> None:
    """Twenty failures from one address, spread over many names, stop further tries from it, the unknown names' included."""
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": ALICE}) as dash,
        aiohttp.ClientSession() as http,
    ):
        for n in range(20):
            async with http.post(
                f"{dash.base}/login", data={"user": f"user{n}", "password": "x"}
            ) as resp:
                assert resp.status == 401
        assert await _sign_in(http, dash.base) == 429


async def test_the_sign_in_log_names_a_typed_name_only_when_it_is_a_users(
    tmp_path: Path,
) -> None:
    """A wrong password for alice is logged as alice's; a password typed into the name field is logged as "unknown user", never as typed, also once that address is throttled."""
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": ALICE}) as dash,
        aiohttp.ClientSession() as http,
    ):
        with capture_logs() as logs:
            assert await _sign_in(http, dash.base, "guess") == 401
            for _ in range(20):
                async with http.post(
                    f"{dash.base}/login", data={"user": PASSWORD, "password": ""}
                ) as resp:
                    assert resp.status in (401, 429)
    seen = [(e["event"], e["user"]) for e in logs if str(e["event"]).startswith("sign_in")]
    assert seen[0] == ("sign_in_failed", "alice")
    assert set(seen[1:]) == {("sign_in_failed", UNKNOWN_USER), ("sign_in_throttled", UNKNOWN_USER)}
    assert PASSWORD not in repr(logs)


async def test_a_changed_password_ends_the_session(tmp_path: Path) -> None:
    """After a reload changes the user's password, the old session no longer opens pages."""
    accounts = {"alice": ALICE}
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: accounts) as dash,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        assert await _sign_in(http, dash.base) == 303
        async with http.get(f"{dash.base}/items") as resp:
            assert resp.status == 200
        accounts["alice"] = dataclasses.replace(ALICE, password_hash=hash_password("new one!"))
        async with http.get(f"{dash.base}/items") as resp:
            assert resp.status == 401


async def test_a_personal_token_acts_as_its_user(tmp_path: Path) -> None:
    """A request with a user's token records the person (ack and silence's createdBy), not the name in the body."""
    users = {ALICE_TOKEN: "Alice Li (alice)"}
    names = {ALICE_TOKEN: "laptop"}
    async with (
        served_dashboard(tmp_path, WITH_ALICE, token_users=users, token_names=names) as dash,
        aiohttp.ClientSession() as http,
    ):
        bearer = {"Authorization": f"Bearer {ALICE_TOKEN}"}
        async with http.post(
            f"{dash.base}/api/v1/incidents/{dash.incident_id}/ack",
            json={"by": "bob"},
            headers=bearer,
        ) as resp:
            assert (await resp.json())["acknowledged_by"] == "Alice Li (alice) via token laptop"
        async with http.post(
            f"{dash.base}/api/v1/silences",
            json={"matchers": ["item=web1"], "duration": "1h", "comment": "deploy"},
            headers=bearer,
        ) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["created_by"] == "Alice Li (alice) via token laptop"


async def test_a_token_restricted_to_a_team_acts_only_on_that_teams_incidents(
    tmp_path: Path,
) -> None:
    """A personal token restricted to team ops gets 403 on an incident whose escalation pages no ops member, acknowledges one that does (as the person), and may not create silences."""
    reached: set[str] = set()
    async with (
        served_dashboard(
            tmp_path,
            WITH_ALICE,
            token_users={ALICE_TOKEN: "Alice Li (alice)"},
            token_teams={ALICE_TOKEN: frozenset({"ops"})},
            reach=lambda policy: frozenset(reached),
        ) as dash,
        aiohttp.ClientSession() as http,
    ):
        bearer = {"Authorization": f"Bearer {ALICE_TOKEN}"}
        url = f"{dash.base}/api/v1/incidents/{dash.incident_id}/ack"
        async with http.post(url, json={}, headers=bearer) as resp:
            assert resp.status == 403
            assert "escalation pages none of them" in (await resp.json())["error"]
        reached.add("ops")
        async with http.post(url, json={}, headers=bearer) as resp:
            assert resp.status == 200
            assert (await resp.json())["acknowledged_by"] == "Alice Li (alice)"
        async with http.post(
            f"{dash.base}/api/v1/silences",
            json={"matchers": ["item=web1"], "duration": "1h"},
            headers=bearer,
        ) as resp:
            assert resp.status == 403  # a silence is not one team's incident
        async with http.get(f"{dash.base}/api/v1/incidents", headers=bearer) as resp:
            assert resp.status == 200  # reading is not restricted


async def test_password_checks_run_one_at_a_time_and_turn_away_a_crowd() -> None:
    """With one check running and the queue full, another sign-in is turned away (None) at once instead of taking more CPU; the running check still answers."""
    checks = PasswordChecks(queue=1)
    results = await asyncio.gather(
        checks.verify(ALICE.password_hash, PASSWORD), checks.verify(ALICE.password_hash, PASSWORD)
    )
    assert results == [True, None]
    assert await checks.verify(ALICE.password_hash, "wrong") is False  # the queue is free again
