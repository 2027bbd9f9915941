"""`watchd review` on a config file and its store (SQLite, and PostgreSQL), as an operator runs
it: start a review from an incident, edit it, add and finish actions, read it back as JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.pipeline.conftest import alert, settings_from
from watchd import cli
from watchd.clock import SystemClock
from watchd.pipeline import AlertPipeline
from watchd.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def config(fresh_db_url: str, tmp_path: Path) -> Path:
    """A config whose store (SQLite, or a PostgreSQL database of its own) holds incident 1."""
    url = fresh_db_url
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\nurl = "{url}"\n\n[[items]]\nname = "db1"\n')

    async def seed() -> None:
        store = await Store.open(url, clock=SystemClock())
        pipeline = AlertPipeline(store.engine, clock=SystemClock(), settings=settings_from({}))
        await pipeline.submit((alert("db1"),))
        await store.close()

    asyncio.run(seed())
    return path


def review(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    capsys.readouterr()
    assert cli.main(["review", *argv, "-c", str(config), "--json"]) == 0
    found: dict[str, object] = json.loads(capsys.readouterr().out)
    return found


def test_a_review_round_trip_on_the_command_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`review edit --incident` starts the review with the incident's timeline, `action add`/`done` record owner, due date and who finished it, `show` prints it all."""
    started = review(
        config, capsys, "edit", "--incident", "1", "--impact", "db down 4 min", "--by", "carol"
    )
    assert started["incident_id"] == 1 and started["impact"] == "db down 4 min"
    assert started["updated_by"] == "carol"
    assert any(str(e["text"]).startswith("opened") for e in started["timeline"])  # type: ignore[union-attr, index]
    rid = str(started["id"])
    edited = review(config, capsys, "edit", rid, "--cause", "vacuum stalled")
    assert (edited["impact"], edited["cause"]) == ("db down 4 min", "vacuum stalled")
    added = review(
        config,
        capsys,
        "action", rid, "add",
        "--kind", "corrective",
        "--text", "tune autovacuum",
        "--owner", "bob",
        "--due", "2030-01-31T12:00:00+00:00",
    )  # fmt: skip
    (action,) = added["actions"]  # type: ignore[misc]
    assert (action["owner"], action["due"], action["done"]) == ("bob", 1896091200.0, False)
    done = review(config, capsys, "action", rid, "done", str(action["id"]), "--by", "bob")
    assert done["actions"][0]["done_by"] == "bob"  # type: ignore[index]
    shown = review(config, capsys, "show", "--incident", "1")
    assert shown == done
    capsys.readouterr()
    assert cli.main(["review", "show", rid, "-c", str(config)]) == 0
    text = capsys.readouterr().out
    assert f"review {rid} of incident 1" in text and "cause:  vacuum stalled" in text
    assert "tune autovacuum" in text and "done" in text


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", "9"], 1, "There is no review 9."),
        (["show"], 2, "takes a review id, or --incident or --problem"),
        (["edit", "--incident", "7"], 1, "There is no incident 7."),
        (["action", "1", "add", "--kind", "corrective"], 2, "needs --text, --owner, --due"),
        (["action", "1", "done"], 2, "takes the action's id"),
    ],
)
def test_review_commands_say_what_is_wrong(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    """A missing review or incident exits 1 and a malformed command 2, each with a sentence that says which."""
    assert cli.main(["review", *argv, "-c", str(config)]) == code
    assert message in capsys.readouterr().out
