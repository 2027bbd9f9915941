"""Every API error is a JSON body `{"error": "<sentence>"}` with a fitting status; every JSON
response is strict JSON (`json_response`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from watchd.failures import FailureLog
from watchd.logging import get_logger
from watchd.store import StoreError

log = get_logger(__name__)

RETRY_AFTER_SECONDS = 5

# Python writes NaN and Infinity as `NaN`/`Infinity`, which no JSON parser accepts: a value
# like that is a bug to fix where it comes from (see watchd.timestamps), not output to send.
strict_dumps = functools.partial(json.dumps, allow_nan=False)


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response that is strict JSON (ValueError for NaN or Infinity)."""
    return web.json_response(data, status=status, headers=headers, dumps=strict_dumps)


class ApiError(Exception):
    """An error a handler answers with: HTTP `status` and a one-sentence `message`."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON error response."""
    return json_response({"error": message}, status=status, headers=headers)


def error_middleware(max_body_bytes: int) -> Middleware:
    """Turn ApiError, aiohttp's HTTP errors and unexpected exceptions into JSON errors; a store
    that cannot answer (disk full, database down) is 503 with Retry-After, as for ingestion."""

    # One streak per route: a route that failed is logged again once it answers again.
    failures = FailureLog(log, failing="api_store_refused", recovered="api_store_answering_again")

    @web.middleware
    async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route(request)
        try:
            response = await handler(request)
            failures.recovered(route, route=route[1])
            return response
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except json.JSONDecodeError as exc:
            # From `await request.json()`: the client sent a body that is not JSON.
            return error_response(400, f"The request body is not valid JSON: {exc.msg}.")
        except StoreError as exc:
            # Logged when refusals start and when they stop, not per request. The reason may
            # quote SQL parameters (comments, labels): its first line only.
            failures.failed(
                route,
                route=route[1],
                operation=exc.operation,
                reason=exc.reason.strip().split("\n", 1)[0],
                note="clients get 503 and retry",
            )
            return error_response(
                503,
                f"The store could not {exc.operation} just now and nothing was changed; "
                "retry later.",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # redirects and the like are not errors
            return error_response(
                exc.status, _sentence(request, exc, max_body_bytes), _kept_headers(exc)
            )
        except Exception as exc:
            if isinstance(exc, ConnectionError) and _client_gone(request):
                # Reading the body or writing the answer found the client gone (aiohttp raises
                # ConnectionResetError, its ClientConnectionResetError or ConnectionError):
                # routine for a sender that timed out or restarted; nobody reads an answer.
                log.debug("api client went away", method=request.method, path=request.path)
                return error_response(400, "The client closed the connection mid-request.")
            # Never log headers or bodies here: they may carry tokens or secrets.
            log.exception("api handler failed", method=request.method, path=request.path)
            return error_response(500, "The server failed to handle the request; see its log.")

    return json_errors


def _client_gone(request: web.Request) -> bool:
    """Whether the client's connection is closed (not, say, the database's)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _route(request: web.Request) -> tuple[str, str]:
    """The method and route of a request ("/api/v1/incidents/{id}"), for per-route streaks."""
    resource = request.match_info.route.resource
    return request.method, resource.canonical if resource is not None else request.path


def _sentence(request: web.Request, exc: web.HTTPException, max_body_bytes: int) -> str:
    if exc.status == 404:
        return f"There is no endpoint at {request.path}."
    if exc.status == 405:
        return f"The method {request.method} is not allowed on {request.path}."
    if exc.status == 413:
        return f"The request body is larger than the limit of {max_body_bytes} bytes."
    reason = exc.text.split(": ", 1)[-1] if exc.text else exc.reason
    return f"The request failed: {reason}."


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    # Allow (on 405) and similar tell the client what to do; content headers are rebuilt.
    return {
        k: v
        for k, v in exc.headers.items()
        if k.lower() in ("allow", "retry-after", "www-authenticate")
    }
