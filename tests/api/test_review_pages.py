"""The dashboard's review pages over HTTP: a signed-in user's review edits are theirs, and the
pages a review needs are guarded like the rest of the dashboard."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.api.test_accounts import ALICE, SESSION, _jar, _sign_in

from .conftest import TOKENS
from .dashboard_world import served_dashboard

pytestmark = pytest.mark.integration


async def test_a_signed_in_user_starts_and_edits_a_review_as_themselves(tmp_path: Path) -> None:
    """With a password session, the review page's calls (X-Watchd-Session) start and edit the review as that person, whatever name the body claims; without a session the page asks to sign in."""
    async with (
        served_dashboard(tmp_path, TOKENS, accounts=lambda: {"alice": ALICE}) as dash,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        async with http.get(f"{dash.base}/incidents/{dash.incident_id}/review") as resp:
            assert resp.status == 401  # signed out: the sign-in form
        assert await _sign_in(http, dash.base) == 303
        async with http.get(f"{dash.base}/incidents/{dash.incident_id}/review") as resp:
            page = await resp.text()
            assert resp.status == 200 and 'id="start-review"' in page
        async with http.post(
            f"{dash.base}/api/v1/reviews",
            json={"incident": dash.incident_id, "by": "mallory"},
            headers=SESSION,
        ) as resp:
            assert resp.status == 201, await resp.text()
            review = await resp.json()
        assert review["created_by"] == "Alice Li (alice)"
        async with http.patch(
            f"{dash.base}/api/v1/reviews/{review['id']}", json={"cause": "x"}, headers=SESSION
        ) as resp:
            assert resp.status == 200
        async with http.get(
            f"{dash.base}/incidents/{dash.incident_id}/review", allow_redirects=False
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == f"/reviews/{review['id']}"
        async with http.get(f"{dash.base}/reviews/{review['id']}") as resp:
            page = await resp.text()
        assert "Alice Li (alice)" in page and ">x</textarea>" in page
        async with http.get(f"{dash.base}/reviews/999") as resp:
            assert resp.status == 404
