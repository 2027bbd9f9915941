"""The ticket receiver with the shipped example configs against loopback servers that behave
like Jira, ServiceNow, Zammad and GLPI: one ticket per incident, updated and closed."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.notify import ticket_servers
from tests.notify.conftest import Notify, alert
from tests.notify.ticket_servers import Tickets
from watchd.cli_notify import _send
from watchd.config import parse_config
from watchd.notify.jsonpath import PathError, extract
from watchd.pipeline.actions import IncidentService

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tickets"
HOSTS = {
    "jira": "https://jira.example.com",
    "servicenow": "https://instance.service-now.com",
    "zammad": "https://zammad.example.com",
    "glpi": "https://glpi.example.com",
}
EXPECTED_FINAL = {"jira": "transition 31", "servicenow": "7", "zammad": "closed", "glpi": "6"}
SN1, SN2 = f"{1:032x}", f"{2:032x}"  # the fake ServiceNow's first two sys_ids
# Every state change a ticket takes through open, ack, resolve, reopen and resolve again: the
# resolution closes the ticket (ServiceNow and GLPI resolve, then close), a reopened incident
# reopens it where the product can (Jira, Zammad) and gets a new one where a closed ticket is
# final (ServiceNow, GLPI).
EXPECTED_HISTORY = {
    "jira": [("OPS-1", "transition 31"), ("OPS-1", "transition 11"), ("OPS-1", "transition 31")],
    "servicenow": [(SN1, "2"), (SN1, "6"), (SN1, "7"), (SN2, "6"), (SN2, "7")],
    "zammad": [("1", "closed"), ("1", "open"), ("1", "closed")],
    "glpi": [("1", "5"), ("1", "6"), ("2", "5"), ("2", "6")],
}


@pytest.fixture
async def product() -> AsyncIterator[Callable[[str], Any]]:
    runners: list[web.AppRunner] = []

    async def start(name: str) -> tuple[Tickets, str]:
        db = Tickets()
        runner = web.AppRunner(getattr(ticket_servers, name)(db), handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return db, f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


def example(name: str, base_url: str, tmp_path: Path) -> dict[str, Any]:
    """The example config with the product's address on loopback and secrets in tmp files."""
    text = (EXAMPLES / f"{name}.toml").read_text().replace(HOSTS[name], base_url)
    secrets = {
        "/etc/watchd/jira.token": "secret",
        "/etc/watchd/servicenow.password": "secret",
        "/etc/watchd/zammad.authorization": "Token token=secret",
        "/etc/watchd/glpi.app-token": "app-secret",
        "/etc/watchd/glpi.authorization": "user_token secret",
    }
    for secret, value in secrets.items():
        (tmp_path / Path(secret).name).write_text(value + "\n")
        text = text.replace(secret, str(tmp_path / Path(secret).name))
    return tomllib.loads(text)


def incident_service(notify: Notify) -> IncidentService:
    return IncidentService(
        notify.store.engine, clock=notify.clock, settings=lambda: notify.settings
    )


async def lifecycle(notify: Notify) -> None:
    """Open an incident, acknowledge it, add an alert, resolve it; deliver after each step."""
    service = incident_service(notify)
    await notify.send(alert("db1"))
    await notify.pump(2)
    await service.acknowledge(1, "alice")
    await notify.pump(2)
    await notify.send(alert("db1", firing=False))
    await notify.pump(2)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["jira", "servicenow", "zammad", "glpi"])
async def test_example_config_opens_one_ticket_updates_closes_and_reopens_it(
    name: str, product: Any, make_notify: Any, tmp_path: Path
) -> None:
    """The shipped example opens one ticket for an incident, records the acknowledgement, resolves and closes it, with the ticket id stored; when the incident reopens the ticket is reopened (Jira, Zammad) or, where closed tickets are final (ServiceNow, GLPI), a new one is opened and closed in turn."""
    db, url = await product(name)
    notify: Notify = await make_notify(example(name, url, tmp_path))
    await lifecycle(notify)
    assert db.creates == 1
    ((ticket_id, ticket),) = db.items.items()
    assert ticket["state"] == EXPECTED_FINAL[name]
    if name != "servicenow":
        assert ticket["comments"]  # the acknowledgement (or its note) reached the ticket
    rows = await notify.outbox(name)
    assert {r["state"] for r in rows} == {"delivered"}
    stored = await notify.rows("SELECT ticket_id FROM tickets")
    assert stored == [{"ticket_id": ticket_id}]
    kinds = [
        k
        for k, d in await notify.timeline(1)
        if k == "delivered" and d.get("ticket_id") == ticket_id
    ]
    assert len(kinds) >= 3
    await notify.send(alert("db1"))  # fires again within reopen_window: reopened
    await notify.pump(2)
    await notify.send(alert("db1", firing=False))
    await notify.pump(2)
    assert db.history == EXPECTED_HISTORY[name]
    assert db.creates == len({ticket for ticket, _ in EXPECTED_HISTORY[name]})
    assert db.refused == []
    assert {r["state"] for r in await notify.outbox(name)} == {"delivered"}
    (stored,) = await notify.rows("SELECT ticket_id FROM tickets")
    assert stored["ticket_id"] == EXPECTED_HISTORY[name][-1][0]


@pytest.mark.integration
@pytest.mark.parametrize("name", ["jira", "servicenow", "zammad", "glpi"])
async def test_an_existing_ticket_is_found_by_its_correlation_key_instead_of_created(
    name: str, product: Any, make_notify: Any, tmp_path: Path
) -> None:
    """When the system already has the incident's ticket (created, then the answer was lost), the lookup finds it and no second one is made."""
    db, url = await product(name)
    db.create("7" if name != "jira" else "OPS-7", "earlier watchd-incident-1 ticket")
    db.creates = 0
    notify: Notify = await make_notify(example(name, url, tmp_path))
    await lifecycle(notify)
    assert db.creates == 0
    assert len(db.items) == 1
    assert next(iter(db.items.values()))["state"] == EXPECTED_FINAL[name]


async def test_the_ticket_id_survives_a_new_dispatcher(
    product: Any, make_notify: Any, tmp_path: Path
) -> None:
    """A restarted dispatcher finds the stored ticket id and updates the same ticket (no lookup configured)."""
    db, url = await product("servicenow")
    raw = example("servicenow", url, tmp_path)
    del raw["receivers"][0]["lookup"]
    first: Notify = await make_notify(raw)
    await first.send(alert("db1"))
    await first.pump(2)
    second: Notify = await make_notify(raw)
    await second.send(alert("db1", firing=False))
    await second.pump(2)
    assert db.creates == 1
    assert next(iter(db.items.values()))["state"] == "7"


async def test_on_resolve_comment_keeps_the_ticket_open(
    product: Any, make_notify: Any, tmp_path: Path
) -> None:
    """With on_resolve = "comment" a resolution is a comment and the ticket stays open, a reopening another comment; the close call is made when someone closes the incident."""
    db, url = await product("servicenow")
    raw = example("servicenow", url, tmp_path)
    raw["receivers"][0]["on_resolve"] = "comment"
    notify: Notify = await make_notify(raw)
    await notify.send(alert("db1"))
    await notify.send(alert("db1", firing=False))
    await notify.pump(3)
    ticket = next(iter(db.items.values()))
    assert ticket["state"] == "new"
    assert any("resolved" in c for c in ticket["comments"])
    await notify.send(alert("db1"))
    await notify.send(alert("db1", firing=False))
    await notify.pump(3)
    assert db.creates == 1 and db.history == []
    assert any("reopened" in c for c in ticket["comments"])
    await incident_service(notify).close(1, "alice")
    await notify.pump(2)
    assert db.history == [(SN1, "7")]


def test_paths_extract_ids_in_each_products_shape() -> None:
    """The id path reads dotted keys, list indexes and numeric dict keys, and rejects junk."""
    assert extract({"result": {"sys_id": "abc"}}, "result.sys_id") == "abc"
    assert extract({"issues": [{"key": "OPS-1"}]}, "issues[0].key") == "OPS-1"
    assert extract({"data": [{"2": 5}]}, "data[0].2") == "5"
    assert extract({"tickets": [12]}, "tickets[0]") == "12"
    assert extract({"issues": []}, "issues[0].key") is None
    with pytest.raises(PathError):
        extract({}, "a..b")


@pytest.mark.integration
async def test_a_ticket_template_that_raises_is_retried_until_a_reload_fixes_it(
    product: Any, make_notify: Any, tmp_path: Path
) -> None:
    """A broken open template does not drop the notification: it waits (error in the delivery
    log) and the ticket is opened once the corrected config is applied."""
    db, url = await product("jira")
    good = example("jira", url, tmp_path)
    broken = copy.deepcopy(good)
    broken["receivers"][0]["open"]["body"] = '{"summary": {{ (1 / 0) | tojson }}}'
    notify: Notify = await make_notify(broken)
    await notify.send(alert("db1"))
    await notify.pump(2)
    assert db.creates == 0
    (row,) = await notify.outbox("jira")
    assert row["state"] == "pending"
    (attempt,) = await notify.deliveries("jira")
    assert "ticket template failed" in attempt["error"]
    config = parse_config(good, tmp_path / "config.toml")
    notify.dispatcher.reconfigure(config.receivers, config.notify, notify.router, notify.settings)
    await notify.clock.advance(600)
    await notify.pump(3)
    assert db.creates == 1
    assert [r["state"] for r in await notify.outbox("jira")] == ["delivered"]


async def test_notify_test_closes_the_ticket_it_opened(
    product: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd notify test` on a ticket receiver opens a test ticket, then resolves and closes it and says so; a receiver without a resolve or close call says the ticket is left open and exits 1."""
    db, url = await product("servicenow")
    config = parse_config(example("servicenow", url, tmp_path), tmp_path / "config.toml")
    assert await _send(config, config.receivers[0], tmp_path, as_json=False) == 0
    assert db.history == [(SN1, "6"), (SN1, "7")]
    out = capsys.readouterr().out
    assert out.startswith("servicenow (ticket): delivered (HTTP 201")
    assert f"test ticket {SN1} closed again (resolve, close)" in out
    raw = example("servicenow", url, tmp_path)
    del raw["receivers"][0]["resolve"], raw["receivers"][0]["close"]
    config = parse_config(raw, tmp_path / "config.toml")
    assert await _send(config, config.receivers[0], tmp_path, as_json=False) == 1
    assert f"test ticket {SN2} left open: the receiver has no resolve or close call" in (
        capsys.readouterr().out
    )


async def test_notify_test_json_gives_the_outcome_and_the_test_ticket(
    product: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd notify test --json`: one JSON object with the delivery's outcome and what became
    of the test ticket, for a script that checks its receivers."""
    db, url = await product("servicenow")
    config = parse_config(example("servicenow", url, tmp_path), tmp_path / "config.toml")
    assert await _send(config, config.receivers[0], tmp_path, as_json=True) == 0
    assert db.history == [(SN1, "6"), (SN1, "7")]
    report = json.loads(capsys.readouterr().out)
    assert (report["receiver"], report["kind"], report["ok"], report["status"]) == (
        "servicenow",
        "ticket",
        True,
        201,
    )
    assert report["ticket"] == {
        "id": SN1,
        "closed": True,
        "message": f"test ticket {SN1} closed again (resolve, close)",
    }
