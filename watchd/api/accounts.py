"""Dashboard sign-in with a user name and password: throttling of failed attempts and the
signed session cookie that names the user.

Failed attempts are counted per user name and per client address over a quarter of an hour;
past `per_user` (5) failures for a name or `per_address` (20) from an address, further attempts
are refused without checking the password (429) until the oldest failure is a quarter of an
hour old. Guessing is thus slow whichever way it is spread; a success clears its name's count.

A user session cookie is `u~<user>~<expiry>~<mac>`: the HMAC-SHA256, with a key made at
start-up, of the user, the expiry and the user's password hash. It holds no secret, ends at its
expiry whatever the browser does, when the user's password changes or the user is removed
(both by a reload), and when watchd restarts (everyone signs in again).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Mapping

from watchd.people.passwords import Account, verify_password

USER_SESSION_PREFIX = "u~"
WINDOW = 900.0
_TRACKED_LIMIT = 10_000  # names and addresses remembered at most (no memory flood)


class SignInLimiter:
    """Failed sign-ins per user name and per client address within WINDOW seconds."""

    def __init__(self, per_user: int = 5, per_address: int = 20) -> None:
        self._limits = {"user": per_user, "address": per_address}
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def wait(self, user: str, address: str, now: float) -> float:
        """Seconds until `user` may try again from `address` (0: now)."""
        waits = [0.0]
        for kind, key in (("user", user), ("address", address)):
            times = self._recent((kind, key), now)
            if len(times) >= self._limits[kind]:
                waits.append(times[0] + WINDOW - now)
        return max(waits)

    def failed(self, user: str, address: str, now: float) -> None:
        """Count a failed attempt against the name and the address."""
        if len(self._failures) >= _TRACKED_LIMIT:
            self._forget(now)
        for key in (("user", user), ("address", address)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user: str) -> None:
        """The user proved their password: their name's failures are forgotten."""
        self._failures.pop(("user", user), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - WINDOW:
            times.popleft()
        return times

    def _forget(self, now: float) -> None:
        """Drop what has left the window; if still full, the longest-known half."""
        for key in [k for k in self._failures if not self._recent(k, now)]:
            del self._failures[key]
        if len(self._failures) >= _TRACKED_LIMIT:
            for key in list(self._failures)[: _TRACKED_LIMIT // 2]:
                del self._failures[key]


class PasswordChecks:
    """Password checks one at a time, with at most `queue` waiting (more are turned away):
    Argon2 costs about 0.3 CPU-seconds a check on purpose, and sign-in attempts from many
    addresses must not take the CPU that checks and notifications need."""

    def __init__(self, queue: int = 8) -> None:
        self._one = asyncio.Semaphore(1)
        self._waiting = 0
        self._queue = queue

    async def verify(self, hashed: str | None, password: str) -> bool | None:
        """Whether `password` matches `hashed` (checked off the event loop); None when
        `queue` checks are already waiting."""
        if self._waiting >= self._queue:
            return None
        self._waiting += 1
        try:
            async with self._one:
                return await asyncio.to_thread(verify_password, hashed, password)
        finally:
            self._waiting -= 1


class UserSessions:
    """Issues and reads user session cookie values (see the module docstring)."""

    def __init__(self, seconds: int, key: str | None = None) -> None:
        # A configured key (shared by a cluster's nodes, kept across restarts) is used through
        # a hash of its own purpose, never as it is; else a random one per start.
        self._key = (
            hashlib.sha256(f"watchd-user-sessions:{key}".encode()).digest()
            if key is not None
            else secrets.token_bytes(32)
        )
        self._seconds = seconds

    def issue(self, account: Account, now: float) -> str:
        """A cookie value for `account`, running for `seconds` from `now`."""
        expires = int(now) + self._seconds
        return f"{USER_SESSION_PREFIX}{account.user}~{expires}~{self._mac(account, expires)}"

    def read(
        self, cookie: str | None, accounts: Mapping[str, Account], now: float
    ) -> Account | None:
        """The account of a running session, or None (not a user session, expired, forged,
        the user removed or their password changed)."""
        if not cookie or not cookie.startswith(USER_SESSION_PREFIX):
            return None
        user, _, rest = cookie[len(USER_SESSION_PREFIX) :].partition("~")
        expires, _, mac = rest.partition("~")
        account = accounts.get(user)
        if account is None or not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            return None
        if not now < int(expires) <= now + self._seconds:
            return None
        good = hmac.compare_digest(
            self._mac(account, int(expires)).encode(), mac.encode("utf-8", "replace")
        )
        return account if good else None

    def _mac(self, account: Account, expires: int) -> str:
        message = f"watchd-user-session:{account.user}:{expires}:{account.password_hash}"
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()
