"""Every API error is a JSON body `{"error": "<sentence>"}` with a fitting status."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from watchd.logging import get_logger

log = get_logger(__name__)


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
    return web.json_response({"error": message}, status=status, headers=headers)


def error_middleware(max_body_bytes: int) -> Middleware:
    """Turn ApiError, aiohttp's HTTP errors and unexpected exceptions into JSON errors."""

    @web.middleware
    async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except json.JSONDecodeError as exc:
            # From `await request.json()`: the client sent a body that is not JSON.
            return error_response(400, f"The request body is not valid JSON: {exc.msg}.")
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
