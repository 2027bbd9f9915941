"""Bearer-token authentication with scopes, declared per handler.

A handler declares what it needs with `@require_scope("read" | "write" | "ingest")`, or
`@public` for the few endpoints that must answer without a token (health probes). A handler
that declares nothing needs `read`: forgetting the decorator never makes a route public.

Who acts. A user's personal token (`[[users.tokens]]`) makes its requests act as that user;
so does a browser signed in to the dashboard with the user's password, on the requests its
pages send with the `X-Watchd-Session: 1` header (a header no cross-site form can send and no
cross-origin script may send without a CORS permission watchd never grants). A session has the
read and write scopes. Actions record the person ("Alice Li (alice)"), not a claimed name.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from watchd.api.config import Scope
from watchd.api.errors import ApiError

H = TypeVar("H", bound=Handler)

PUBLIC: Final = "public"
DEFAULT_SCOPE: Final[Scope] = "read"
_SCOPE_ATTR = "__watchd_scope__"
_TEAM_ATTR = "__watchd_team_checked__"
_CHALLENGE = 'Bearer realm="watchd"'


def require_scope(scope: Scope) -> Callable[[H], H]:
    """Mark a handler as needing a token that carries `scope` (when tokens are configured)."""

    def mark(handler: H) -> H:
        setattr(handler, _SCOPE_ATTR, scope)
        return handler

    return mark


def team_checked(handler: H) -> H:
    """Mark a write handler as checking a team-restricted token's teams itself; every other
    write handler refuses such a token (it could otherwise silence anything)."""
    setattr(handler, _TEAM_ATTR, True)
    return handler


def public(handler: H) -> H:
    """Mark a handler as answering without a token (liveness and readiness probes)."""
    setattr(handler, _SCOPE_ATTR, PUBLIC)
    return handler


def scope_of(handler: object) -> str:
    """The scope a handler declared, `public`, or `read` when it declared nothing."""
    return str(getattr(handler, _SCOPE_ATTR, DEFAULT_SCOPE))


TOKEN_NAME = web.RequestKey("watchd.token_name", str)
"""The name of the token that authenticated a request (absent when the API is open)."""
TEAMS = web.RequestKey("watchd.teams", frozenset[str])
"""The teams a personal token is restricted to (absent: not restricted)."""
USER = web.RequestKey("watchd.user", str)
"""The person a request acts as, "Alice Li (alice)": by a personal token or a signed-in session."""
SESSION_HEADER = "X-Watchd-Session"
SESSION_SCOPES: Final = frozenset({"read", "write"})
SESSIONS: web.AppKey[Callable[[web.Request], str | None]] = web.AppKey("watchd.sessions")
"""Reads a request's dashboard session cookie: the signed-in person, or None (set by the
dashboard)."""


def actor(request: web.Request, given: str | None = None) -> str:
    """Who does what a request asks: the person of a personal token or a signed-in session
    ("Alice Li (alice)", "Alice Li (alice) via token laptop"), whatever `given` claims; else
    `given` (a `by` field, a claim) alongside the name of the token that proved it ("alice via
    token ops-dashboard"), either alone, else "api"."""
    token = request.get(TOKEN_NAME)
    person = request.get(USER)
    if person is not None:
        return f"{person} via token {token}" if token else person
    # A client writing back what it read (amtool's `silence update` sends the old createdBy)
    # already names the token: it is not named twice.
    if given and token and given != token and not given.endswith(f" via token {token}"):
        return f"{given} via token {token}"
    return given or token or "api"


class TokenTable:
    """The configured tokens, kept only as SHA-256 digests, matched in constant time."""

    def __init__(
        self,
        tokens: Mapping[str, frozenset[str]],
        names: Mapping[str, str] | None = None,
        users: Mapping[str, str] | None = None,
        teams: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._entries = [(_digest(token), scopes) for token, scopes in tokens.items()]
        self._names = {_digest(token): name for token, name in (names or {}).items()}
        self._users = {_digest(token): user for token, user in (users or {}).items()}
        self._teams = {_digest(token): names for token, names in (teams or {}).items()}

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def scopes(self, presented: str) -> frozenset[str] | None:
        """The scopes of the presented token, or None if no configured token matches.

        Every configured token is compared, with equal-length digests, so the time taken says
        nothing about which token (or how much of one) matched.
        """
        wanted = _digest(presented)
        found: frozenset[str] | None = None
        for digest, scopes in self._entries:
            if hmac.compare_digest(wanted, digest):
                found = scopes
        return found

    def sign(self, presented: str, message: str) -> str:
        """An HMAC-SHA256 of `message` keyed by the token `presented` (by its digest, so the
        key is never the token itself), as hex; `presented` must be a configured token."""
        return _mac(_digest(presented), message)

    def signed_by(self, message: str, mac: str) -> frozenset[str] | None:
        """The scopes of the configured token whose `sign` made `mac` for `message`, or None.
        Every token is compared in constant time, as in `scopes`."""
        wanted = mac.encode("utf-8", "replace")
        found: frozenset[str] | None = None
        for digest, scopes in self._entries:
            if hmac.compare_digest(_mac(digest, message).encode(), wanted):
                found = scopes
        return found

    def name(self, presented: str) -> str | None:
        """The configured name of a token already matched by `scopes`."""
        return self._names.get(_digest(presented))

    def user(self, presented: str) -> str | None:
        """The person a personal token (already matched by `scopes`) acts as, else None."""
        return self._users.get(_digest(presented))

    def teams(self, presented: str) -> frozenset[str] | None:
        """The teams a personal token is restricted to, or None when it is not."""
        return self._teams.get(_digest(presented))


TOKENS = web.AppKey("watchd.tokens", TokenTable)
"""The configured tokens, for a public route that may also be called with one."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def bearer(request: web.Request) -> str | None:
    """The token of an 'Authorization: Bearer' header, or None."""
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def auth_middleware(
    table: TokenTable,
) -> Middleware:
    """Refuse requests without a valid token (401) or without the route's scope (403).

    A path no route matches answers 404 (or 405) to everyone: there is nothing to protect.
    """

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        needed = scope_of(request.match_info.handler)
        unrouted = request.match_info.http_exception is not None
        presented = bearer(request)
        person = _session_person(request) if presented is None else None
        if person is not None:
            request[USER] = person
        if not table.enabled or needed == PUBLIC or unrouted:
            return await handler(request)
        if person is not None and needed in SESSION_SCOPES:
            return await handler(request)
        if presented is None:
            raise ApiError(
                401,
                "This endpoint needs an 'Authorization: Bearer <token>' header.",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        scopes = table.scopes(presented)
        if scopes is None:
            raise ApiError(
                401,
                "The bearer token is not valid.",
                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
            )
        if needed not in scopes:
            raise ApiError(
                403, f"The token does not have the '{needed}' scope this endpoint needs."
            )
        name = table.name(presented)
        if name is not None:
            request[TOKEN_NAME] = name
        user = table.user(presented)
        if user is not None:
            request[USER] = user
        teams = table.teams(presented)
        if teams is not None:
            if needed == "write" and not getattr(request.match_info.handler, _TEAM_ATTR, False):
                raise ApiError(
                    403,
                    "The token is restricted to teams "
                    f"({', '.join(sorted(teams))}): it may only act on their incidents.",
                )
            request[TEAMS] = teams
        return await handler(request)

    return authenticate


def _session_person(request: web.Request) -> str | None:
    """The signed-in person of a request its page marked with SESSION_HEADER, else None."""
    read = request.app.get(SESSIONS)
    if read is None or request.headers.get(SESSION_HEADER) != "1":
        return None
    return read(request)
