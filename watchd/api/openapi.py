"""The API's OpenAPI 3.1 document, generated from the live route table at request time.

Every route the app serves is in it with the scope its handler declared (`require_scope`,
`public`) and the first line of its docstring; handlers that take a JSON body declare its
type with `@accepts(Model)`, and the schema comes from that pydantic model. Built from the
routes themselves, the document cannot drift from what the daemon serves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import TypeAdapter

from watchd.api.auth import PUBLIC, public, scope_of
from watchd.api.errors import json_response

H = TypeVar("H", bound=Handler)

PATH = "/api/openapi.json"
_BODY_ATTR = "__watchd_body__"
_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


def accepts(body: Any) -> Callable[[H], H]:
    """Declare the JSON body a handler takes (a pydantic model or a type such as list[Model])."""

    def mark(handler: H) -> H:
        setattr(handler, _BODY_ATTR, body)
        return handler

    return mark


def document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of every route of `app`."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in app.router.routes():
        method = route.method.lower()
        info = route.resource.get_info() if route.resource is not None else {}
        raw_path = info.get("path") or info.get("formatter")
        if method == "head" or not raw_path:
            continue
        path = _PARAM.sub(r"{\1}", raw_path)
        paths.setdefault(path, {})[method] = _operation(route.handler, path, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "watchd", "version": package_version()},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(schemas.items())),
        },
    }


def package_version() -> str:
    """The installed watchd's version, or "unknown" in a checkout never installed."""
    try:
        return metadata.version("watchd")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _operation(handler: Any, path: str, schemas: dict[str, Any]) -> dict[str, Any]:
    scope = scope_of(handler)
    doc = (handler.__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {
        "summary": doc[0] if doc else path,
        "responses": {
            "200": {"description": "done"},
            "default": {
                "description": 'an error: {"error": "<sentence>"}',
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    schemas.setdefault(
        "Error",
        {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
    )
    if scope == PUBLIC:
        op["security"] = []
    else:
        op["security"] = [{"bearer": [scope]}]
        op["description"] = f"Needs a bearer token with the '{scope}' scope once tokens are set."
    params = _PARAM.findall(path)
    if params:
        op["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in params
        ]
    body = getattr(handler, _BODY_ATTR, None)
    if body is not None:
        schema = TypeAdapter(body).json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


@public
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API."""
    return json_response(document(request.app))


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, openapi)
