"""Issue 19, finding 9: silences, changes and incident actions answer 503 with Retry-After
(not 500) when the store cannot write, here because its disk is really full."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from tests.hardening.served import served_api
from tests.store.test_full_disk import fill, small_disk

pytestmark = pytest.mark.integration
__all__ = ["small_disk"]  # the fixture, used by name


async def test_writes_on_a_full_disk_get_503_and_work_again_once_space_returns(
    small_disk: Path,
) -> None:
    """On a full disk a silence, a change, an ack and a comment get 503 + Retry-After naming
    what could not be stored, logged once per route; once space is back they succeed."""
    async with (
        served_api(f"sqlite:///{small_disk}/watchd.db") as api,
        aiohttp.ClientSession() as http,
    ):
        incident = f"{api.base}/api/v1/incidents/{api.incident_id}"
        writes = [
            ("silences", {"matchers": ['item="web1"'], "duration": "1h", "comment": "x" * 500}),
            ("changes", {"item": "web1", "summary": "patch", "starts_at": 1.8e9, "ends_at": 1.9e9}),
        ]
        filler = fill(small_disk)
        with capture_logs() as logs:
            for _ in range(3):
                for path, body in writes:
                    async with http.post(f"{api.base}/api/v1/{path}", json=body) as resp:
                        assert resp.status == 503, await resp.text()
                        assert resp.headers["Retry-After"] == "5"
                        assert "retry later" in (await resp.json())["error"]
                async with http.post(f"{incident}/ack", json={"comment": "y" * 500}) as resp:
                    assert resp.status == 503, await resp.text()
        refused = [e for e in logs if e["event"] == "api_store_refused"]
        assert len(refused) == 3  # one per route, not one per request
        filler.unlink()
        for path, body in writes:
            async with http.post(f"{api.base}/api/v1/{path}", json=body) as resp:
                assert resp.status == 201, await resp.text()
        async with http.post(f"{incident}/ack", json={"by": "ana"}) as resp:
            assert resp.status == 200
