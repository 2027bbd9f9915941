"""Loopback servers that behave like the ticketing APIs the example configs target: each
creates tickets with the id in that product's answer shape, finds them by correlation key,
and records comments and state changes per ticket."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Tickets:
    """What a fake ticketing system holds: tickets by id, every state change in order, and
    calls it refused."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    creates: int = 0
    refused: list[str] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)  # (ticket id, new state)

    def create(self, ticket_id: str, text: str) -> None:
        self.creates += 1
        self.items[ticket_id] = {"text": text, "comments": [], "state": "new"}

    def set_state(self, ticket_id: str, state: str) -> None:
        self.items[ticket_id]["state"] = state
        self.history.append((ticket_id, state))

    def find(self, needle: str) -> str | None:
        return next((k for k, v in self.items.items() if needle in v["text"]), None)


def jira(db: Tickets) -> web.Application:
    async def create(request: web.Request) -> web.Response:
        doc = await request.json()
        key = f"OPS-{len(db.items) + 1}"
        db.create(key, json.dumps(doc["fields"]))
        return web.json_response({"id": str(10000 + len(db.items)), "key": key}, status=201)

    async def search(request: web.Request) -> web.Response:
        label = request.query["jql"].split('"')[1]
        found = db.find(label)
        return web.json_response(
            {"issues": [{"key": found}] if found else [], "total": int(bool(found))}
        )

    async def comment(request: web.Request) -> web.Response:
        db.items[request.match_info["key"]]["comments"].append((await request.json())["body"])
        return web.json_response({"id": "1"}, status=201)

    async def transition(request: web.Request) -> web.Response:
        doc = await request.json()
        db.set_state(request.match_info["key"], f"transition {doc['transition']['id']}")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/rest/api/2/issue", create)
    app.router.add_get("/rest/api/2/search", search)
    app.router.add_post("/rest/api/2/issue/{key}/comment", comment)
    app.router.add_post("/rest/api/2/issue/{key}/transitions", transition)
    return app


def servicenow(db: Tickets) -> web.Application:
    async def create(request: web.Request) -> web.Response:
        doc = await request.json()
        sys_id = f"{len(db.items) + 1:032x}"
        db.create(sys_id, doc["correlation_id"] + " " + doc["short_description"])
        return web.json_response({"result": {"sys_id": sys_id, "number": "INC0010001"}}, status=201)

    async def query(request: web.Request) -> web.Response:
        needle = request.query["sysparm_query"].split("=", 1)[1]
        found = db.find(needle)
        return web.json_response({"result": [{"sys_id": found}] if found else []})

    async def patch(request: web.Request) -> web.Response:
        ticket = db.items.get(request.match_info["id"])
        if ticket is None:
            return web.json_response({"error": {"message": "No Record found"}}, status=404)
        if ticket["state"] == "7":  # closed records are read-only
            db.refused.append(request.path)
            message = "ACL Exception Update Failed due to security constraints"
            return web.json_response({"error": {"message": message}}, status=403)
        doc = await request.json()
        if "work_notes" in doc:
            ticket["comments"].append(doc["work_notes"])
        if "state" in doc:
            db.set_state(request.match_info["id"], doc["state"])
        return web.json_response({"result": {"sys_id": request.match_info["id"]}})

    app = web.Application()
    app.router.add_post("/api/now/table/incident", create)
    app.router.add_get("/api/now/table/incident", query)
    app.router.add_patch("/api/now/table/incident/{id}", patch)
    return app


def zammad(db: Tickets) -> web.Application:
    async def create(request: web.Request) -> web.Response:
        doc = await request.json()
        ticket_id = len(db.items) + 1
        db.create(str(ticket_id), doc["title"])
        return web.json_response({"id": ticket_id, "number": f"{31000 + ticket_id}"}, status=201)

    async def search(request: web.Request) -> web.Response:
        found = db.find(request.query["query"].strip('"'))
        return web.json_response(
            {"tickets": [int(found)] if found else [], "tickets_count": int(bool(found))}
        )

    async def article(request: web.Request) -> web.Response:
        doc = await request.json()
        db.items[str(doc["ticket_id"])]["comments"].append(doc["body"])
        return web.json_response({"id": 1}, status=201)

    async def put(request: web.Request) -> web.Response:
        doc = await request.json()
        db.set_state(request.match_info["id"], doc["state"])
        return web.json_response({"id": int(request.match_info["id"])})

    app = web.Application(middlewares=[_require_header("Authorization", "Token token=secret")])
    app.router.add_post("/api/v1/tickets", create)
    app.router.add_get("/api/v1/tickets/search", search)
    app.router.add_post("/api/v1/ticket_articles", article)
    app.router.add_put("/api/v1/tickets/{id}", put)
    return app


def glpi(db: Tickets) -> web.Application:
    sessions: set[str] = set()

    def authorized(request: web.Request) -> bool:
        ok = request.headers.get("Session-Token") in sessions
        if not ok:
            db.refused.append(request.path)
        return ok

    async def init(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "user_token secret":
            return web.json_response(["ERROR_LOGIN_PARAMETERS_MISSING", ""], status=400)
        token = f"session{len(sessions) + 1}"
        sessions.add(token)
        return web.json_response({"session_token": token})

    async def create(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response(["ERROR_SESSION_TOKEN_INVALID", ""], status=401)
        doc = await request.json()
        ticket_id = len(db.items) + 1
        db.create(str(ticket_id), doc["input"]["name"])
        return web.json_response({"id": ticket_id, "message": ""}, status=201)

    async def search(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response(["ERROR_SESSION_TOKEN_INVALID", ""], status=401)
        found = db.find(request.query["criteria[0][value]"])
        rows = [{"2": int(found)}] if found else []
        return web.json_response({"totalcount": len(rows), "data": rows})

    async def followup(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response(["ERROR_SESSION_TOKEN_INVALID", ""], status=401)
        doc = await request.json()
        db.items[request.match_info["id"]]["comments"].append(doc["input"]["content"])
        return web.json_response({"id": 1}, status=201)

    async def put(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response(["ERROR_SESSION_TOKEN_INVALID", ""], status=401)
        doc = await request.json()
        db.set_state(request.match_info["id"], str(doc["input"]["status"]))
        return web.json_response([{request.match_info["id"]: True, "message": ""}])

    app = web.Application(middlewares=[_require_header("App-Token", "app-secret")])
    app.router.add_get("/apirest.php/initSession", init)
    app.router.add_post("/apirest.php/Ticket", create)
    app.router.add_get("/apirest.php/search/Ticket", search)
    app.router.add_post("/apirest.php/Ticket/{id}/ITILFollowup", followup)
    app.router.add_put("/apirest.php/Ticket/{id}", put)
    return app


def _require_header(name: str, value: str) -> Any:
    """A middleware refusing requests without the product's credential header, as it does."""

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get(name) != value:
            return web.json_response({"error": f"{name} missing or wrong"}, status=401)
        return await handler(request)

    return check
